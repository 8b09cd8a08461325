"""A real full disk: the run directory on an 8 MB tmpfs, two arms printing fast.

The monitor's disk must never kill training: the arms' output goes through the local
wrapper's relay, which keeps draining when a write fails and records the gap; abtui says
what it could not keep, exits with the environment code at worst, and the run directory
is complete again (report, exits) once there is room. Needs root to mount a tmpfs: CI is
root (a failure there, a skip elsewhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FAKE = REPO / "tests" / "fixtures" / "fake_runner.py"


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the full-disk test needs root to mount a tmpfs")
        pytest.skip("needs root to mount a tmpfs")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def test_a_full_disk_never_kills_training_and_the_gap_is_reported(small_disk: Path,
                                                                   tmp_path: Path) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (5 * 1024 * 1024))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"""name: full
command: [python, {FAKE}]
steps: 12000
treatment: [rate]
config: {{sleep: 0.0005}}
arms:
  a: {{config: {{rate: 1.0}}}}
  b: {{config: {{rate: 2.0}}}}
""")
    mon = subprocess.Popen([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                            "--runs-dir", str(small_disk / "runs")], cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           stdin=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and _free(small_disk) > 32 * 1024:
        time.sleep(0.05)
    assert _free(small_disk) <= 32 * 1024, "the disk never filled"
    time.sleep(1.0)  # writes fail for a while
    filler.unlink()  # room again while the arms still print
    out, _ = mon.communicate(timeout=120)
    assert "Traceback" not in out, out[-3000:]
    assert mon.returncode in (0, 4), (mon.returncode, out[-3000:])  # never 2: not a usage error
    assert "No space left on device" in out or "ENOSPC" in out, out[-3000:]
    [run] = list((small_disk / "runs").iterdir())
    for arm in ("a", "b"):  # both trained to the end: never killed by the full disk
        assert (run / "arms" / arm / "exit_code").read_text().strip() == "0"
    rep = subprocess.run([sys.executable, "-m", "abtui", "report", str(run)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert rep.returncode == 0, rep.stdout[-2000:] + rep.stderr[-2000:]
    report = json.loads((run / "report.json").read_text())
    assert all(r["status"] == "done" for a in report["arms"].values() for r in a["runs"])
    gaps = [n for n in report["notes"] if "lost to a full disk" in n]
    assert gaps and "training went on" in gaps[0], report["notes"]
    lost = [json.loads(line) for arm in ("a", "b")
            for p in [run / "arms" / arm / "output.log.gaps.jsonl"] if p.exists()
            for line in p.read_text().splitlines()]
    assert lost and all(g["lost_bytes"] > 0 and g["error"] == "ENOSPC" for g in lost)
