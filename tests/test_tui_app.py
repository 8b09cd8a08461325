"""Pilot tests: the console's main interactions, on the fixture experiment."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from abtui.store import ArmStatus
from abtui.tui.app import run_console
from abtui.tui.fixtures import fixture_app, fixture_experiment, settle
from abtui.tui.screens.console import ConsoleScreen
from abtui.tui.screens.diff import DiffScreen
from abtui.tui.screens.gpus import GpuScreen
from abtui.tui.screens.quit import QuitScreen
from abtui.tui.screens.results import ResultsScreen
from abtui.tui.widgets.curves import CurvesPanel, CurvesPlot
from abtui.tui.widgets.diff_pane import DiffPane
from abtui.tui.widgets.gpus import GpuPanel
from abtui.tui.widgets.logs import LogLines, LogPane
from abtui.tui.widgets.verdict import VerdictStrip

SIZE = (120, 40)


def _text(widget) -> str:
    return str(widget.render())


def _log_lines(app) -> list[str]:
    return list(app.screen.query_one(LogLines).lines)


@pytest.mark.asyncio
async def test_main_screen_shows_every_pane() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ConsoleScreen)
        table = screen.query_one("#arms")
        assert table.row_count == 2
        row = [str(c) for c in table.rows["amp"]]
        assert row[1] == "running" and row[2] == "400/500" and row[7] == "1"
        assert row[9] == "sha256:5f1e0c9a4b7d"
        assert "■ amp vs fp32" in _text(screen.query_one(VerdictStrip))
        assert "throughput ×1.79" in _text(screen.query_one(VerdictStrip))  # time-weighted
        diff = _text(screen.query_one(DiffPane))
        assert "2 treatments" in diff and "1 confound" in diff
        assert screen.query_one(CurvesPlot).builds >= 1


@pytest.mark.asyncio
async def test_switch_metric_with_m_and_the_command_palette() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        curves = app.screen.query_one(CurvesPanel)
        plot = app.screen.query_one(CurvesPlot)
        assert curves.settings.metric == "loss"
        builds = plot.builds
        await pilot.press("m")
        assert curves.settings.metric == "accuracy"
        assert plot.builds == builds + 1
        assert "accuracy" in _text(app.screen.query_one("#curves-caption"))
        commands = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Metric: loss", "Metric: lr", "Diff", "Quit"} <= set(commands)
        commands["Metric: lr"].callback()
        await pilot.pause()
        assert curves.settings.metric == "lr"


@pytest.mark.asyncio
async def test_smoothing_axis_and_log_scale_toggles() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        curves = app.screen.query_one(CurvesPanel)
        assert curves.settings.smoothed and curves.settings.smoothing == 0.6
        await pilot.press("s")
        assert not curves.settings.smoothed
        assert "raw" in _text(app.screen.query_one("#curves-caption"))
        await pilot.press("plus", "plus")
        assert curves.settings.smoothed and curves.settings.smoothing == 0.9
        await pilot.press("minus")
        assert curves.settings.smoothing == 0.8
        await pilot.press("x", "l")
        assert curves.settings.by_time and curves.settings.log_y
        caption = _text(app.screen.query_one("#curves-caption"))
        assert "wall time" in caption and "log y" in caption


@pytest.mark.asyncio
async def test_diff_view_opens_on_d_with_the_code_diff() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("d")
        screen = app.screen
        assert isinstance(screen, DiffScreen)
        tabs = [p.id for p in screen.query("TabPane")]
        assert tabs == ["tab-summary", "tab-config", "tab-environment", "tab-code",
                        "tab-hardware", "tab-envvars"]
        screen.show_category("code")
        await pilot.pause()
        code = screen.query_one("#tab-code Static").render()
        plain = str(code)
        assert "+    torch.backends.cudnn.benchmark = True" in plain
        styles = {str(s.style) for s in code.spans}
        assert any("green" in s for s in styles) and any("red" in s for s in styles)
        await pilot.press("escape")
        assert isinstance(app.screen, ConsoleScreen)


@pytest.mark.asyncio
async def test_search_filters_the_logs_and_escape_clears() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert len(_log_lines(app)) == 6
        await pilot.press("slash", *"checkpoint")
        await pilot.pause()
        lines = _log_lines(app)
        assert len(lines) == 3 and all("checkpoint" in line for line in lines)
        assert "filter “checkpoint”" in _text(app.screen.query_one("#log-header"))
        await pilot.press("enter")  # keep the filter, leave the box
        await pilot.press("m")  # keys act on the console again
        assert app.screen.query_one(CurvesPanel).settings.metric == "accuracy"
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert len(_log_lines(app)) == 6


@pytest.mark.asyncio
async def test_log_lines_are_plain_text() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        lines = _log_lines(app)
        assert "WARNING cudnn benchmark is off" in lines  # colours and OSC 0 removed
        assert "[bold red]this stays literal[/] — not markup" in lines


@pytest.mark.asyncio
async def test_next_run_and_table_cursor_select_the_logs() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        logs = app.screen.query_one(LogPane)
        assert logs.run_id == "fp32"
        await pilot.press("a")
        assert logs.run_id == "amp"
        assert _log_lines(app)[0].startswith("[amp]")
        await pilot.press("up")  # the arms table has the focus: its cursor selects too
        await pilot.pause()
        assert logs.run_id == "fp32"


@pytest.mark.asyncio
async def test_gpu_view_shows_the_power_cap_in_words() -> None:
    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await pilot.pause()
        assert isinstance(app.screen, GpuScreen)
        texts = [_text(s) for s in app.screen.query(".gpu-text")]
        assert len(texts) == 2
        assert "699 W of 700 W limit (100 %)" in texts[1] and "⚠ SW power cap" in texts[1]
        assert "1380 MHz of 1980 MHz (70 %)" in texts[1]
        assert "none (full clocks)" in texts[0]
        power = app.screen.query(".spark-power")
        assert [s.has_class("-warn") for s in power] == [False, True]
        await pilot.press("g")
        assert isinstance(app.screen, ConsoleScreen)


@pytest.mark.asyncio
async def test_no_gpu_is_one_calm_line() -> None:
    app = fixture_app("nogpu")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        panel = app.screen.query_one(GpuPanel)
        assert not panel.query(".gpu-card")
        assert _text(panel.query_one(".gpu-none")) == (
            "No GPU telemetry: NVML Shared Library Not Found")


@pytest.mark.asyncio
async def test_quit_then_detach_leaves_the_arms_running() -> None:
    exp = fixture_experiment()
    app = fixture_app(exp=exp)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        assert isinstance(app.screen, QuitScreen)
        assert app.screen.focused.id == "detach"  # Enter detaches: the default
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert exp.calls == ["detach"]
    assert app.outcome == "detached" and app.return_value == 0
    assert all(s.status == ArmStatus.RUNNING for s in exp.store.runs.values())


@pytest.mark.asyncio
async def test_quit_cancel_keeps_the_console() -> None:
    exp = fixture_experiment()
    app = fixture_app(exp=exp)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q", "escape")
        assert isinstance(app.screen, ConsoleScreen)
        assert exp.calls == [] and app.outcome is None


@pytest.mark.asyncio
async def test_quit_then_stop_stops_concludes_and_exits_with_the_code() -> None:
    exp = fixture_experiment()
    app = fixture_app(exp=exp)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q", "s")
        for _ in range(50):
            await pilot.pause(0.05)
            if app.return_value is not None:
                break
    assert exp.calls == ["stop_arms", "finish(keep=False)"]
    assert all(s.status == ArmStatus.STOPPED for s in exp.store.runs.values())
    assert app.return_value == 0 and app.outcome == "stopped"


@pytest.mark.asyncio
async def test_when_every_arm_ended_the_results_show_and_q_exits_with_the_code() -> None:
    exp = fixture_experiment("done")
    app = fixture_app(exp=exp, concluder=lambda e, g: ({"verdict": {"summary": "gate failed"}}, 1))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        assert "exit code 1" in _text(app.screen.query_one("#results-title"))
        await pilot.press("escape")
        strip = _text(app.screen.query_one(VerdictStrip))
        assert "gate failed" in strip and "exit code 1" in strip
        await pilot.press("q")  # no question once concluded
        await pilot.pause()
    assert exp.calls == ["finish(keep=False)"]
    assert app.return_value == 1


@pytest.mark.asyncio
async def test_a_failing_report_still_concludes_with_the_arms_exit_code() -> None:
    exp = fixture_experiment("done")
    exp.store.run("amp").status = ArmStatus.FAILED

    def broken(e, g):
        raise RuntimeError("report module exploded")

    app = fixture_app(exp=exp, concluder=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.exit_code == 3
        assert "report module exploded" in (app.report_error or "")


@pytest.mark.asyncio
async def test_sighup_detaches() -> None:
    exp = fixture_experiment()
    app = fixture_app(exp=exp, signals=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(50):
            await asyncio.sleep(0.05)
            if app.return_value is not None:
                break
    assert exp.calls == ["detach"] and app.outcome == "detached" and app.return_value == 0
    assert signal.getsignal(signal.SIGHUP) in (signal.SIG_DFL, None)


@pytest.mark.asyncio
async def test_hangup_with_the_terminal_gone_detaches_and_leaves_at_once(monkeypatch) -> None:
    """Textual's shutdown would block writing to a hung-up terminal: leave without it."""
    exits: list[int] = []
    monkeypatch.setattr("abtui.tui.app.terminal_alive", lambda: False)
    exp = fixture_experiment()
    app = fixture_app(exp=exp, hard_exit=exits.append)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.hang_up()  # what the SIGHUP handler calls
        await app.workers.wait_for_complete()
        assert exp.calls == ["detach"] and exits == [0] and app.outcome == "detached"


@pytest.mark.asyncio
async def test_diff_pane_says_not_available_when_the_engine_fails() -> None:
    def broken(exp):
        raise ImportError("No module named 'abtui.diff.engine'")

    app = fixture_app(findings=broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "not available" in _text(app.screen.query_one(DiffPane))


def test_run_console_prints_how_to_attach_after_detach(monkeypatch, capsys) -> None:
    from abtui.tui.app import ConsoleApp

    def fake_run(self, *a, **k):
        self.outcome = "detached"
        return 0

    monkeypatch.setattr(ConsoleApp, "run", fake_run)
    exp = fixture_experiment()
    assert run_console(exp, []) == 0
    out = capsys.readouterr().out
    assert out.strip() == f"detached; abtui attach {exp.rundir.root} to watch again"


def test_run_console_detaches_if_the_console_dies(monkeypatch, capsys) -> None:
    from abtui.tui.app import ConsoleApp

    monkeypatch.setattr(ConsoleApp, "run", lambda self, *a, **k: None)
    exp = fixture_experiment()
    assert run_console(exp, []) == 1
    assert exp.calls == ["detach"]
    out = capsys.readouterr()
    assert "detached; abtui attach" in out.out and "stopped unexpectedly" in out.err


@pytest.mark.asyncio
async def test_one_step_of_a_bisect_shows_its_line_and_closes_itself_once_concluded() -> None:
    """A bisect step's console: the commits' line under the title; when every arm has ended
    and the report is written it closes with the code (no results screen to dismiss), so
    the bisect goes on to the next step."""
    from abtui.tui.bisect_line import BisectProgress, bisect_text

    exp = fixture_experiment("done")
    banner = bisect_text(BisectProgress(["+", ".", "x"], 1, "c0ffee" * 4, "drop the scaling",
                                        2, 2, "accuracy_delta worse by 0.05"))
    app = fixture_app(exp=exp, banner=banner, close_when_concluded=True,
                      concluder=lambda e, g: ({"verdict": {"summary": "amp is worse"}}, 0))
    async with app.run_test(size=SIZE) as pilot:
        line = _text(app.screen.query_one("#banner"))
        assert "step 2 of ~2" in line and "[.]" in line and "drop the scaling" in line
        for _ in range(50):
            await pilot.pause(0.05)
            if app.return_value is not None:
                break
    assert app.return_value == 0 and app.outcome == "concluded"
    assert app.report == {"verdict": {"summary": "amp is worse"}}
    assert not any(isinstance(s, ResultsScreen) for s in app.screen_stack)


@pytest.mark.asyncio
async def test_new_points_repaint_only_the_chart_lines_that_changed() -> None:
    """A rebuild for new data sends the screen only the lines whose cells changed (the
    frame, the axis and the legend stay), and what is on screen is the chart as a full
    paint would draw it."""
    from abtui.tui.fixtures import T0, ingest
    from abtui.tui.widgets.braille import draw

    app = fixture_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        curves = app.screen.query_one(CurvesPanel)
        plot = app.screen.query_one(CurvesPlot)
        width, height = plot.size
        # a few more points of the run behind (fp32 at step 300 of amp's 400), inside the
        # chart's ranges: the axes stay, only the lines its curve's tail crosses change
        for k in range(1, 4):
            ingest(app.exp.store, "fp32", T0 + 600 + k, {"step": 300 + 5 * k, "loss": 1.65})
        curves._draw()
        await pilot.pause()
        assert 0 < plot.lines_sent < height
        shown = [plot.render_line(y).text for y in range(height)]
        assert shown == ["".join(text for text, _ in row) for row in draw(plot.chart, width, height)]
        assert "".join(shown).count("\u2800") < width * height  # a chart, not blank cells
