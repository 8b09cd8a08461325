"""The GPU check (bench/gpu_check.py) run as on the GPU machine, on the CPU: ``--dry-run``
with the fake NVML behind abtui's real NVML code, the wheels it carries installed offline
from a wheelhouse made here, every step to the end. So the one lease of a GPU machine
cannot fail for a reason a CPU could have caught. Also: every recorded telemetry fixture,
present and to come, goes through the summary and the confound sentences."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from abtui.telemetry.samples import read_samples
from abtui.telemetry.summary import confounds, summarize

REPO = Path(__file__).resolve().parent.parent
CHECK = [sys.executable, str(REPO / "bench" / "gpu_check.py")]
FIXTURES = sorted((REPO / "tests" / "fixtures" / "telemetry").glob("*.jsonl"))


def _check(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHECK, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, cwd=REPO)


def _ours_alive(marker: str) -> list[str]:
    """Processes still running whose command line names this test's folder."""
    alive = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmd:
                alive.append(cmd)
    return alive


@pytest.mark.slow
def test_the_dry_run_passes_every_step_with_the_wheels_installed_offline(tmp_path) -> None:
    house = tmp_path / "wheelhouse"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    made = _check("--prepare-wheelhouse", str(house), "--python-version", version, timeout=600)
    assert made.returncode == 0, made.stdout + made.stderr
    assert json.loads((house / "versions.json").read_text())["textual"]
    out = tmp_path / "out"
    run = _check("--dry-run", "--out", str(out), "--wheelhouse", str(house), "--install-all")
    summary = json.loads((out / "summary.json").read_text())
    steps = {s["name"]: s for s in summary["steps"]}
    assert run.returncode == 0, (run.stdout[-4000:], run.stderr[-2000:])
    assert list(steps) == ["wheels", "doctor", "verify", "trace", "ab", "console", "bench"]
    assert all(s["ok"] for s in steps.values()), steps
    # the wheels came from the wheelhouse, offline, and the later steps imported them
    assert steps["wheels"]["note"].startswith("installed textual, docker")
    site = tmp_path / ".out-site"
    assert (site / "textual").is_dir() and (site / "msgspec").is_dir()
    assert str(site) in (out / "console" / "console.sh").read_text()
    # the verifier's table went through abtui's NVML code against the fake nvidia-smi
    assert "| verify | passed |" in (out / "summary.md").read_text()
    assert " sw_power_cap" not in steps["verify"]["note"]
    assert "power_limit_w" in steps["verify"]["report"]
    # the trace is a fixture named for the GPU, marked as the dry run's
    [trace] = (out / "repo" / "tests" / "fixtures" / "telemetry").glob("*.jsonl")
    assert trace.name == "dryrun-h100-80gb-hbm3-recorded-resnet50-then-matmul.jsonl"
    samples = list(read_samples(trace))
    assert len(samples) >= 10 and any(g.get("run") == "train" for s in samples for g in s["gpus"])
    # the A/B: abtui's ratio beside the plain loop's, both measured
    ab = summary["facts"]["ab"]
    assert ab["abtui"]["throughput"] > 0 and ab["independent"]["throughput"] > 0
    # the console: both arms on screen, the GPU view with its owner, an SVG of the real run
    screen = (out / "console" / "console.txt").read_text()
    assert "fp32" in screen and "amp" in screen
    assert "GPU 0" in (out / "console" / "gpus.txt").read_text()
    assert (out / "repo" / "screenshots" / "real-console.svg").read_text().startswith("<svg")
    assert json.loads((out / "bench.json").read_text())["gpus"] == 1
    assert not _ours_alive(str(tmp_path)), "the check left processes running"
    # a Python without pip: the same wheels unpacked, and they import from there
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from gpu_steps import unpack_wheels
    finally:
        sys.path.remove(str(REPO / "bench"))
    assert unpack_wheels(house, tmp_path / "unpacked") >= len(json.loads(
        (house / "versions.json").read_text()))
    probe = subprocess.run([sys.executable, "-c", "import textual, msgspec, pydantic_core; "
                            "print(textual.__file__, msgspec.__file__)"],
                           env=dict(os.environ, PYTHONPATH=str(tmp_path / "unpacked")),
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert probe.returncode == 0 and probe.stdout.count(str(tmp_path / "unpacked")) == 2, probe


def test_a_failed_step_is_said_and_the_others_still_run(tmp_path) -> None:
    out = tmp_path / "out"
    run = _check("--dry-run", "--out", str(out), "--steps", "wheels,verify", "--install-all",
                 "--wheelhouse", str(tmp_path / "none"), timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    steps = {s["name"]: s for s in json.loads((out / "summary.json").read_text())["steps"]}
    assert steps["wheels"]["ok"] is False and "--prepare-wheelhouse" in steps["wheels"]["note"]
    assert steps["verify"]["ok"] is True
    assert "| wheels | FAILED |" in (out / "summary.md").read_text()
    bad = _check("--out", str(out), "--steps", "verify,warp", timeout=60)
    assert bad.returncode == 2 and "unknown step(s): warp" in bad.stderr


def test_resnet50_written_out_is_torchvision_s_network() -> None:
    """The GPU machine has torch but no torchvision: runners/resnet.py stands in, with
    torchvision's parameter count for ResNet-50 (25,557,032 for 1,000 classes)."""
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(REPO / "runners"))
    try:
        from resnet import ResNet50
    finally:
        sys.path.remove(str(REPO / "runners"))
    model = ResNet50()
    assert sum(p.numel() for p in model.parameters()) == 25_557_032
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_every_telemetry_fixture_summarises_and_names_its_arms(fixture: Path) -> None:
    """Synthesised or recorded on a GPU machine: each fixture reads, every arm it labels
    gets a summary, and a power-capped arm is said as a confound in words."""
    samples = list(read_samples(fixture))
    assert samples
    summary = summarize(samples)
    labelled = {g["run"] for s in samples for g in s.get("gpus", []) if g.get("run")}
    assert labelled and labelled <= set(summary), (labelled, list(summary))
    for arm in labelled:
        assert summary[arm]["busy_samples"] > 0 and summary[arm]["power_mean_w"] > 0, arm
    capped = {arm for arm, a in summary.items() if a["power_capped_share"] > 0.5}
    said = " ".join(confounds(summary))
    assert all(f"arm {arm}" in said for arm in capped), said
