"""The local backend end to end: real processes, real files, real signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from abtui.experiment import Experiment
from abtui.ingest.events import read_events
from abtui.spec import parse_spec
from abtui.store import ArmStatus

SPEC = """
name: plumb
command: [python, {runner}]
steps: {steps}
treatment: [rate]
config: {{sleep: {sleep}}}
arms:
  A: {{config: {{rate: 1.0 {a_extra}}}}}
  B: {{config: {{rate: 3.0 {b_extra}}}}}
"""


def make_spec(tmp_path: Path, runner: Path, steps: int = 30, sleep: float = 0.0,
              a_extra: str = "", b_extra: str = "") -> Path:
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC.format(runner=runner, steps=steps, sleep=sleep, a_extra=a_extra,
                             b_extra=b_extra))
    return p


def start(tmp_path: Path, spec_path: Path) -> Experiment:
    spec = parse_spec(spec_path.read_text())
    return Experiment.start(spec, spec_path, tmp_path / "runs")


def output_lines(exp: Experiment, run_id: str) -> list[bytes]:
    return exp.rundir.output_path(run_id).read_bytes().splitlines()


def test_two_arms_run_and_every_line_is_persisted_once(tmp_path, fake_runner) -> None:
    exp = start(tmp_path, make_spec(tmp_path, fake_runner, steps=40, a_extra=", garbage: true"))
    assert exp.wait(timeout=60)
    exp.finish()
    for run_id in ("A", "B"):
        state = exp.store.run(run_id)
        assert state.status == ArmStatus.DONE, state.exit
        assert state.step == 40 and state.env["torch"] == "fake" and state.final["steps"] == 40
        stored = [e.raw for e in read_events(exp.rundir.events_path(run_id))]
        assert stored == output_lines(exp, run_id)
        assert json.loads(exp.rundir.exit_path(run_id).read_text())["exit_code"] == 0
    odd = exp.store.run("A").oddities
    assert odd["invalid_utf8"] >= 8 and odd["malformed_json"] >= 8 and odd["non_finite"] >= 8
    assert exp.store.run("B").decoder.oddities.total() == 0
    # the curves differ: B's loss falls faster
    assert exp.store.run("B").last["loss"] < exp.store.run("A").last["loss"]
    assert oct(exp.rundir.root.stat().st_mode & 0o777) == "0o700"


def test_a_crashing_arm_never_stops_the_other(tmp_path, fake_runner) -> None:
    exp = start(tmp_path, make_spec(tmp_path, fake_runner, steps=30, sleep=0.02,
                                    a_extra=", crash_at: 5"))
    assert exp.wait(timeout=60)
    exp.finish()
    a, b = exp.store.run("A"), exp.store.run("B")
    assert a.status == ArmStatus.FAILED and a.exit.exit_code == 7
    assert any("planted crash" in text for _, text in a.recent_logs())
    assert b.status == ArmStatus.DONE and b.step == 30


def test_missing_runner_is_a_clear_failure_and_the_run_dir_is_kept(tmp_path) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text("name: x\ncommand: [no-such-trainer-binary]\nsteps: 3\ntreatment: [a]\n"
                 "arms:\n  A: {config: {a: 1}}\n  B: {config: {a: 2}}\n")
    exp = start(tmp_path, p)
    assert exp.wait(timeout=10)
    exp.finish()
    assert all(s.status == ArmStatus.FAILED for s in exp.store.runs.values())
    assert any("command not found" in n for n in exp.store.notices)
    assert exp.rundir.manifest_path.is_file()


def _monitor(tmp_path: Path, spec: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                             "--runs-dir", str(tmp_path / "runs"), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _run_dir(tmp_path: Path) -> Path:
    for _ in range(100):
        dirs = list((tmp_path / "runs").glob("plumb-*"))
        if dirs and (dirs[0] / "manifest.json").exists():
            m = json.loads((dirs[0] / "manifest.json").read_text())
            if all("ref" in r for r in m["runs"].values()):
                return dirs[0]
        time.sleep(0.1)
    raise AssertionError("no run directory appeared")


def test_sigkilled_monitor_then_attach_loses_and_duplicates_nothing(tmp_path, fake_runner) -> None:
    spec = make_spec(tmp_path, fake_runner, steps=120, sleep=0.02)
    mon = _monitor(tmp_path, spec)
    root = _run_dir(tmp_path)
    time.sleep(1.0)
    mon.send_signal(signal.SIGKILL)  # the monitor dies; the arms must not
    mon.wait()
    m = json.loads((root / "manifest.json").read_text())
    pids = [r["ref"]["pid"] for r in m["runs"].values()]
    assert all(_alive(p) for p in pids), "arms died with the monitor"
    exp = Experiment.attach(root)
    assert exp.wait(timeout=60)
    exp.finish()
    for run_id in ("A", "B"):
        stored = [e.raw for e in read_events(exp.rundir.events_path(run_id))]
        assert stored == output_lines(exp, run_id)  # exactly once, in order
        assert exp.store.run(run_id).status == ArmStatus.DONE
        assert exp.store.run(run_id).step == 120


def test_sighup_detaches_and_stop_stops(tmp_path, fake_runner) -> None:
    spec = make_spec(tmp_path, fake_runner, steps=2000, sleep=0.02)
    mon = _monitor(tmp_path, spec)
    root = _run_dir(tmp_path)
    time.sleep(0.5)
    mon.send_signal(signal.SIGHUP)  # the SSH session drops
    out, _ = mon.communicate(timeout=30)
    assert mon.returncode == 0 and "detached" in out and "abtui attach" in out
    m = json.loads((root / "manifest.json").read_text())
    pids = [r["ref"]["pid"] for r in m["runs"].values()]
    assert all(_alive(p) for p in pids)
    ls = subprocess.run([sys.executable, "-m", "abtui", "ls", "--runs-dir", str(tmp_path / "runs")],
                        capture_output=True, text=True, timeout=30)
    assert root.name in ls.stdout and "running" in ls.stdout
    stop = subprocess.run([sys.executable, "-m", "abtui", "stop", str(root), "--grace", "5"],
                          capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "arms still running after abtui stop"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_relative_runs_dir_with_arms_working_elsewhere(tmp_path, fake_runner, monkeypatch) -> None:
    """`abtui run spec --runs-dir runs` from one directory, arms with another workdir."""
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "cfg").mkdir()
    spec_path = tmp_path / "cfg" / "spec.yaml"
    spec_path.write_text(SPEC.format(runner=fake_runner, steps=5, sleep=0, a_extra="", b_extra="")
                         + "workdir: ../work\n")
    monkeypatch.chdir(tmp_path)
    exp = Experiment.start(parse_spec(spec_path.read_text()), Path("cfg/spec.yaml"), "runs")
    assert exp.wait(timeout=60)
    exp.finish()
    for state in exp.store.runs.values():
        assert state.status == ArmStatus.DONE and state.exit.exit_code == 0, state.exit
        assert any(str(work) in text for _, text in state.recent_logs())  # ran in its workdir
