"""The docker backend through the whole product: `abtui run` / kill / attach / report / diff."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abtui.diff import find_differences
from abtui.diff.runs import diff_runs
from abtui.experiment import Experiment
from abtui.ingest.events import read_events

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parent.parent

SPEC = """
name: dock
backend: docker
image: {image}
command: [python3, -u, runners/train.py]
steps: {steps}
treatment: [optimizer, lr]
config: {{model: mlp, hidden: 64, dataset: digits, batch_size: 64, device: cpu, threads: 1,
          log_interval: 10, eval_interval: 100}}
arms:
  sgd: {{config: {{optimizer: sgd, lr: 0.05}}}}
  adam: {{config: {{optimizer: adam, lr: 0.003}}}}
resources: {{cpus: 1, memory: 2g}}
"""


def _spec(tmp_path: Path, image: str, steps: int) -> Path:
    p = tmp_path / "dock.yaml"
    p.write_text(SPEC.format(image=image, steps=steps))
    return p


def _run_dir(base: Path) -> Path:
    for _ in range(600):
        dirs = sorted(base.glob("dock-*"))
        if dirs and (dirs[-1] / "manifest.json").exists():
            m = json.loads((dirs[-1] / "manifest.json").read_text())
            if m["runs"] and all("ref" in r for r in m["runs"].values()):
                return dirs[-1]
        time.sleep(0.1)
    raise AssertionError("no run directory with launched arms appeared")


def _until_both_arms_printed_a_step(root: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            m = json.loads((root / "manifest.json").read_text())
        except (OSError, ValueError):
            m = {}
        runs = m.get("runs") or {}
        if runs and all((r.get("ref") or {}).get("container_id") for r in runs.values()) and all(
                b'\\"step\\"' in _read(root / "arms" / rid / "events.jsonl") for rid in runs):
            return
        time.sleep(0.05)
    raise AssertionError("the arms did not start printing steps")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def test_docker_run_survives_a_killed_monitor_and_reports_image_identity(
        docker_client, docker_images, tmp_path) -> None:
    spec = _spec(tmp_path, "abtui-test/runner", steps=1500)
    runs = tmp_path / "runs"
    mon = subprocess.Popen([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                            "--runs-dir", str(runs)], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    root = _run_dir(runs)
    try:
        # killed on an event, not after a fixed sleep: once both arms have run and printed a
        # step (a sleep let short arms end and be cleaned up before the kill, then: 404)
        _until_both_arms_printed_a_step(root)
        mon.send_signal(signal.SIGKILL)
        mon.wait(timeout=30)
        m = json.loads((root / "manifest.json").read_text())
        image_id = m["backend_facts"]["image"]["id"]
        assert image_id == docker_images["abtui-test/runner"]
        for run in m["runs"].values():  # launched by ID, never by tag
            c = docker_client.containers.get(run["ref"]["container_id"])
            assert c.attrs["Image"] == image_id
            assert c.status in ("running", "exited")
        exp = Experiment.attach(root)
        assert exp.wait(timeout=400)
        exp.finish()
        for run_id in ("sgd", "adam"):
            stored = [json.loads(e.raw) for e in read_events(exp.rundir.events_path(run_id))
                      if e.raw.startswith(b'{"step"')]
            steps = [r["step"] for r in stored]
            assert steps == list(range(10, 1501, 10)), f"{run_id}: lost or duplicated lines"
            assert exp.store.run(run_id).status == "done"
        assert not docker_client.containers.list(all=True, filters={"label": f"abtui.run_dir={root.resolve()}"})
        out = subprocess.run([sys.executable, "-m", "abtui", "report", str(root)], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        report = json.loads((root / "report.json").read_text())
        assert image_id[:19] in json.dumps(report) or image_id in (root / "report.md").read_text()
    finally:
        if mon.poll() is None:
            mon.kill()


def test_same_tag_different_digest_between_runs_is_flagged(docker_client, docker_images, tmp_path) -> None:
    """Two real images under one tag: the tag moved between two runs, and abtui says so."""
    tag = "abtui-test/moving:latest"
    ids = []
    for version in ("1", "2"):
        df = f"FROM abtui-test/busybox\nLABEL abtui.test.version={version}\n".encode()
        img, _ = docker_client.images.build(fileobj=io.BytesIO(df), tag=tag, rm=True)
        ids.append(img.id)
        spec = tmp_path / f"moving{version}.yaml"
        spec.write_text(
            "name: moving\nbackend: docker\nimage: abtui-test/moving:latest\n"
            "command: [sh, -c, 'echo {\\\"step\\\": 1, \\\"loss\\\": 1.0}', sh]\nsteps: 1\n"
            "treatment: [x]\narms:\n  A: {config: {x: 1}}\n  B: {config: {x: 2}}\n")
        out = subprocess.run([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                              "--runs-dir", str(tmp_path / f"runs{version}")],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "pin" in out.stdout  # the bare-tag warning says how to pin it
    assert ids[0] != ids[1]
    [run1] = list((tmp_path / "runs1").iterdir())
    [run2] = list((tmp_path / "runs2").iterdir())
    findings = diff_runs(run1, run2)
    image = [f for f in findings if f.category == "image" and f.is_confound]
    assert image, [f.message for f in findings]
    assert any("moving" in f.message and ("moved" in f.message or "different" in f.message)
               for f in image), [f.message for f in image]
    out = subprocess.run([sys.executable, "-m", "abtui", "diff", str(run1), str(run2)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "image" in out.stdout
    # within one run the tag is resolved once: both arms share one image, no finding
    m = json.loads((run2 / "manifest.json").read_text())
    assert len(set(m["backend_facts"]["images"].values())) == 1
    from abtui.spec import ExperimentSpec

    same = find_differences(m, {"A": None, "B": None}, ExperimentSpec.model_validate(m["spec"]))
    assert not [f for f in same if f.category == "image"]
    docker_client.images.remove(tag, force=True)
