"""Fault suite (local backend): stalls, a full disk, two monitors, bad specs, hygiene."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abtui.cli import main
from abtui.experiment import Experiment
from abtui.ingest.events import read_events
from abtui.spec import parse_spec
from abtui.store import ArmStatus

pytestmark = pytest.mark.fault

SPEC = """
name: faults
command: [python, {runner}]
steps: {steps}
treatment: [rate]
config: {{sleep: {sleep}}}
{extra}
arms:
  A: {{config: {{rate: 1.0 {a}}}}}
  B: {{config: {{rate: 3.0}}}}
"""


def start(tmp_path: Path, runner: Path, steps: int = 40, sleep: float = 0.01, a: str = "",
          extra: str = "", pre=None) -> Experiment:
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC.format(runner=runner, steps=steps, sleep=sleep, a=a, extra=extra))
    spec = parse_spec(p.read_text())
    return Experiment.start(spec, p, tmp_path / "runs")


def test_a_silent_arm_is_marked_stalled_and_the_other_goes_on(tmp_path, fake_runner) -> None:
    exp = start(tmp_path, fake_runner, steps=30, a=", hang_at: 3", extra="stall_timeout_s: 1.0")
    deadline = time.time() + 30
    while time.time() < deadline and exp.store.run("A").status != ArmStatus.STALLED:
        exp.check_stalls()
        time.sleep(0.1)
    assert exp.store.run("A").status == ArmStatus.STALLED
    assert any("stalled" in n for n in exp.store.notices)
    exp.wait(timeout=0.1)
    deadline = time.time() + 30
    while time.time() < deadline and exp.store.run("B").status != ArmStatus.DONE:
        time.sleep(0.1)
    assert exp.store.run("B").status == ArmStatus.DONE
    exp.stop_arms(grace_s=2)
    exp.finish()
    assert exp.store.run("A").status == ArmStatus.STOPPED
    pid = exp.handles["A"].ref["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_full_disk_is_reported_and_attach_catches_up_without_loss(tmp_path, fake_runner) -> None:
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC.format(runner=fake_runner, steps=60, sleep=0.01, a="", extra=""))
    spec = parse_spec(p.read_text())
    from abtui.ingest.events import EventWriter

    # arm A's events.jsonl cannot be written (ENOSPC, as on a full disk; a real full tmpfs is
    # tests/test_disk_full.py): a link to /dev/full would be refused as planted
    real_write = EventWriter.write_many

    def full_for_a(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.path.parent.name == "A":
            raise OSError(28, "No space left on device")
        return real_write(self, *args, **kwargs)

    EventWriter.write_many = full_for_a  # type: ignore[method-assign]
    try:
        exp = Experiment.start(spec, p, tmp_path / "runs")
        assert exp.wait(timeout=60)
    finally:
        EventWriter.write_many = real_write  # type: ignore[method-assign]
    assert exp.wait(timeout=60)
    exp.finish()
    a = exp.store.run("A")
    assert a.status == ArmStatus.DONE and a.step == 60  # watched in memory all along
    assert any("No space left on device" in n for n in exp.store.notices)
    assert exp.store.run("B").status == ArmStatus.DONE
    # room again: the next attach re-reads the arm's own output, exactly once
    exp.rundir.events_path("A").unlink()
    again = Experiment.attach(exp.rundir.root)
    assert again.wait(timeout=30)
    again.finish()
    stored = [e.raw for e in read_events(exp.rundir.events_path("A"))]
    assert stored == exp.rundir.output_path("A").read_bytes().splitlines()
    assert again.store.run("A").step == 60


def test_a_second_monitor_is_read_only_and_never_double_writes(tmp_path, fake_runner) -> None:
    first = start(tmp_path, fake_runner, steps=80, sleep=0.02)
    time.sleep(0.5)
    second = Experiment.attach(first.rundir.root)
    assert second.read_only and not first.read_only
    assert any("read-only" in n for n in second.store.notices)
    assert first.wait(timeout=60) and second.wait(timeout=60)
    first.finish()
    second.finish()
    for run_id in ("A", "B"):
        stored = [e.raw for e in read_events(first.rundir.events_path(run_id))]
        assert stored == first.rundir.output_path(run_id).read_bytes().splitlines()
        assert second.store.run(run_id).step == 80  # it saw everything too


_KEYS = ["name", "steps", "arms", "treatment", "config", "backend", "image", "replicates",
         "seed", "resources", "volumes", "gates", "telemetry", "command", "nonsense", "baseline"]
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.lists(st.integers(), max_size=3),
                    st.dictionaries(st.sampled_from(["A", "B", "config", "gpus", "x"]),
                                    st.one_of(st.integers(), st.text(max_size=4),
                                              st.dictionaries(st.text(max_size=3), st.integers(),
                                                              max_size=2)), max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8), st.sampled_from(["", "\t", ":", "- [", "{"]))
def test_malformed_specs_always_exit_2_without_traceback(tmp_path, capsys, data, junk) -> None:
    import yaml

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data) + junk)
    rc = main(["validate", str(path)])
    err = capsys.readouterr().err
    if rc == 0:
        return  # a random dict can be a valid spec; that is fine
    assert rc == 2, err
    assert "Traceback" not in err and str(path) in err


def test_no_shell_strings_anywhere() -> None:
    root = Path(__file__).resolve().parent.parent / "abtui"
    offenders = [str(p) for p in root.rglob("*.py")
                 if "shell=True" in p.read_text() or "os.system(" in p.read_text()]
    assert offenders == []


def test_the_core_never_imports_textual() -> None:
    code = ("import sys, abtui.cli, abtui.spec, abtui.ingest, abtui.store, abtui.backends.local, "
            "abtui.experiment.orchestrator, abtui.telemetry, abtui.diff, abtui.compare, abtui.report, "
            "abtui.cli.headless, abtui.conclude; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_secrets_never_reach_the_manifest_or_report(tmp_path, fake_runner) -> None:
    secret = "hunter2-s3cr3t-value"
    exp = start(tmp_path, fake_runner, steps=10,
                extra=f"env: {{WANDB_API_KEY: {secret}, PLAIN_SETTING: visible}}")
    assert exp.wait(timeout=60)
    exp.finish()
    from abtui.conclude import conclude

    conclude(exp)
    for path in exp.rundir.root.rglob("*"):
        if path.is_file() and path.name not in ("output.log", "events.jsonl"):
            assert secret not in path.read_text(errors="replace"), path
    assert "visible" in exp.rundir.manifest_path.read_text()
