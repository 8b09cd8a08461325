"""The console on real runs: real processes through the local backend, the real orchestrator,
diff engine and report."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from abtui.experiment import Experiment
from abtui.spec import parse_spec
from abtui.store import ArmStatus
from abtui.tui.app import make_app
from abtui.tui.screens.results import ResultsScreen
from abtui.tui.widgets.arms_table import ArmsTable
from abtui.tui.widgets.curves import CurvesPlot
from abtui.tui.widgets.diff_pane import DiffPane

SPEC = """
name: tui-real
command: [{python}, {runner}]
steps: {steps}
treatment: [rate]
config: {{sleep: {sleep}}}
arms:
  A: {{config: {{rate: 1.0}}}}
  B: {{config: {{rate: 3.0, tput: 130}}}}
"""


def _start(tmp_path: Path, runner: Path, steps: int, sleep: float) -> Experiment:
    p = tmp_path / "spec.yaml"
    p.write_text(SPEC.format(python=sys.executable, runner=runner, steps=steps, sleep=sleep))
    return Experiment.start(parse_spec(p.read_text()), p, tmp_path / "runs")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


async def _until(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_a_real_run_is_watched_concluded_and_reported(tmp_path, fake_runner) -> None:
    exp = _start(tmp_path, fake_runner, steps=60, sleep=0.02)
    app = make_app(exp, [], signals=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(lambda: app.exit_code is not None)
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        assert "verdict:" in str(app.screen.query_one("#results-text").render())
        await pilot.press("escape")
        table = app.screen.query_one(ArmsTable)
        table.sync()
        assert [str(r[1]) for r in table.rows.values()] == ["done", "done"]
        assert [str(r[2]) for r in table.rows.values()] == ["60/60", "60/60"]
        assert app.screen.query_one(CurvesPlot).builds >= 1
        await _until(lambda: app.differences is not None)
        assert "computing" not in str(app.screen.query_one(DiffPane).render())
        await pilot.press("q")  # concluded: no question
    assert app.return_value == 0
    assert exp.rundir.report_md.is_file() and exp.rundir.report_json.is_file()


@pytest.mark.asyncio
async def test_detach_leaves_the_real_arms_running(tmp_path, fake_runner) -> None:
    exp = _start(tmp_path, fake_runner, steps=3000, sleep=0.02)
    app = make_app(exp, [], signals=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _until(lambda: all((s.step or 0) > 5 for s in exp.store.runs.values()))
        await pilot.press("q", "enter")  # Enter: the default, detach
        await _until(lambda: app.return_value is not None, timeout=30)
    assert app.outcome == "detached" and app.return_value == 0
    pids = [r["ref"]["pid"] for r in exp.manifest["runs"].values()]
    try:
        assert all(_alive(p) for p in pids), "detaching must not stop the arms"
        assert all(s.status == ArmStatus.DETACHED for s in exp.store.runs.values())
        again = Experiment.attach(exp.rundir.root)  # a second monitor finds them
        try:
            deadline = time.time() + 10  # its watchers pick the arms up again
            while time.time() < deadline and not all(
                    s.status == ArmStatus.RUNNING for s in again.store.runs.values()):
                time.sleep(0.05)
            assert all(s.status == ArmStatus.RUNNING for s in again.store.runs.values())
        finally:
            again.detach()
    finally:
        subprocess.run([sys.executable, "-m", "abtui", "stop", str(exp.rundir.root),
                        "--grace", "5"], capture_output=True, timeout=60)
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids)
