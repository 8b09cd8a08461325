"""End to end with real PyTorch training on the CPU through the local backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def _abtui(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "abtui", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _spec(tmp_path: Path, steps: int, replicates: int) -> Path:
    text = (REPO / "configs" / "quickstart.yaml").read_text()
    text = text.replace("steps: 2500", f"steps: {steps}").replace("replicates: 1", f"replicates: {replicates}")
    text = text.replace("workdir: ..", f"workdir: {REPO}").replace("hidden: 512", "hidden: 128")
    p = tmp_path / "quick.yaml"
    p.write_text(text)
    return p


def test_demo_headless_writes_a_report_with_both_arms(tmp_path) -> None:
    """The README's demo command, in a non-interactive shell: real training, a real report."""
    out = _abtui("demo", "--headless", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    assert set(report["arms"]) == {"sgd", "adam"}
    for arm in ("sgd", "adam"):
        [r] = report["arms"][arm]["runs"]
        assert r["status"] == "done"
        assert r["accuracy_final"] > 0.85, r  # real learning on digits
        assert r["throughput_median"] > 0
    assert (run / "report.md").read_text().count("adam") >= 2
    env = [json.loads(line) for line in (run / "arms" / "adam" / "events.jsonl").read_text().splitlines()]
    first = json.loads(env[0]["l"])
    assert first["event"] == "env" and first["torch"].startswith("2.")


def test_replicated_quickstart_gives_intervals_and_gates_decide_the_exit_code(tmp_path) -> None:
    spec = _spec(tmp_path, steps=300, replicates=3)
    out = _abtui("run", str(spec), "--headless", "--runs-dir", str(tmp_path / "runs"),
                 "--gate", "accuracy_delta >= -0.5", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    assert [len(report["arms"][a]["runs"]) for a in ("sgd", "adam")] == [3, 3]
    [cmp] = report["comparisons"]
    tput = cmp["metrics"]["throughput_ratio"]
    assert tput["n"] == {"baseline": 3, "arm": 3}, tput
    lo, hi = tput["ci"]
    assert lo <= tput["value"] <= hi
    acc = cmp["metrics"]["accuracy_delta"]
    assert acc["ci"] is not None and acc["p_value"] is not None
    # the same finished run, gated again without re-running: one gate fails -> exit 1
    again = _abtui("report", str(run), "--gate", "accuracy_delta >= 0.5", cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "FAIL accuracy_delta >= 0.5" in again.stdout
    bad = _abtui("report", str(run), "--gate", "speed >= 1", cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
