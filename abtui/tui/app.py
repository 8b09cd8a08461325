"""The console app: a timer that hands store changes down, workers for slow work, leaving.

The app is thin. The experiment (orchestrator) owns the threads that ingest logs and sample
GPUs; the app only reads its store on a timer (``TICK_S``) and hands the new version down
to the widgets, which redraw only what changed. Slow calls — finding differences (git),
detaching, stopping, concluding — run in thread workers and answer with messages.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from abtui.report.schema import Report
from abtui.store import ArmStatus
from abtui.tui.commands import (
    Concluder,
    conclude_run,
    console_commands,
    install_hangup_handler,
    leave_now,
    remove_hangup_handler,
    terminal_alive,
)
from abtui.tui.differences import Differences, load_findings
from abtui.tui.palette import arm_colours
from abtui.tui.screens.console import ConsoleScreen
from abtui.tui.screens.diff import DiffScreen
from abtui.tui.screens.gpus import GpuScreen
from abtui.tui.screens.quit import DETACH, STOP, QuitScreen
from abtui.tui.screens.results import ResultsScreen
from abtui.tui.view import ExperimentView
from abtui.tui.widgets.diff_pane import DiffPane
from abtui.tui.widgets.verdict import VerdictStrip

log = logging.getLogger(__name__)

TICK_S = 0.2  # how often the store is looked at (it is only read when it changed)
FINDINGS_EVERY_S = 30.0  # telemetry confounds are re-derived at most this often
EXIT_ARM_FAILED = 3


class ConsoleApp(App[int]):
    """The live console of one experiment."""

    TITLE = "abtui"
    CSS_PATH = ["console.tcss", "screens.tcss"]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit", show=False),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    class FindingsReady(Message):
        """A worker finished finding the differences between the arms."""

        def __init__(self, differences: Differences) -> None:
            super().__init__()
            self.differences = differences

    class Concluded(Message):
        """Every arm has ended and the report is written (or could not be)."""

        def __init__(self, report: Report | None, code: int, error: str | None) -> None:
            super().__init__()
            self.report = report
            self.code = code
            self.error = error

    def __init__(self, exp: ExperimentView, gates: Iterable[str] = (), keep: bool = False, *,
                 findings: Callable[[Any], Differences] = load_findings,
                 concluder: Concluder = conclude_run, clock: Callable[[], float] = time.time,
                 cursor_blink: bool = True, tick_s: float = TICK_S,
                 signals: bool = True, hard_exit: Callable[[int], Any] = leave_now,
                 banner: Text | None = None, close_when_concluded: bool = False) -> None:
        super().__init__()
        self.exp = exp
        self.gates = list(gates)
        self.keep = keep
        self.findings_loader = findings
        self.concluder = concluder
        self.clock = clock
        self.cursor_blink = cursor_blink
        self.tick_s = tick_s
        self.signals = signals
        self.hard_exit = hard_exit
        self.close_when_concluded = close_when_concluded  # one step of several (a bisect)
        arms = list(getattr(exp.spec, "arms", {})) + [a.arm for a in exp.store.runs.values()]
        self.colours = arm_colours(arms)
        self.console_screen = ConsoleScreen(exp, self.colours, clock, cursor_blink, banner)
        self.differences: Differences | None = None
        self.outcome: str | None = None  # "detached", "stopped", "concluded"
        self.report: Report | None = None
        self.report_error: str | None = None
        self.exit_code: int | None = None
        self._version = -1
        self._notices = 0
        self._concluding = False
        self._quit_when_concluded = False
        self._findings_busy = False
        self._findings_key: tuple[Any, ...] = ()
        self._findings_at = -1e9

    def get_default_screen(self) -> Screen:
        return self.console_screen

    # ---- the timer ------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.signals:
            install_hangup_handler(self.hang_up)
        self.set_interval(self.tick_s, self.tick)
        self.call_after_refresh(self.tick)

    def on_unmount(self) -> None:
        if self.signals:
            remove_hangup_handler()

    def tick(self) -> None:
        """Look at the store; if it changed, hand the version down. Start slow work."""
        exp = self.exp
        ended = False
        if not self._concluding:
            ended = exp.wait(timeout=0)  # also marks stalled arms
        version = exp.store.version
        if version != self._version and self.console_screen.is_mounted:
            self._version = version
            self.console_screen.sync(version)
            if isinstance(self.screen, GpuScreen):
                self.screen.sync(version)
        notices = exp.store.notices
        for notice in notices[self._notices:]:
            serious = any(w in notice for w in ("stall", "could not", "lost", "error", "stopped"))
            self.notify(notice, severity="warning" if serious else "information", timeout=10)
        self._notices = len(notices)
        self._maybe_find_differences()
        if ended and not self._concluding:
            self._concluding = True
            self.run_conclusion()

    # ---- differences ----------------------------------------------------------------
    def _maybe_find_differences(self) -> None:
        if self._findings_busy:
            return
        arms = self.exp.store.runs.values()
        key = tuple((a.run_id, a.env is not None) for a in arms)
        now = time.monotonic()
        stale = now - self._findings_at > FINDINGS_EVERY_S and self.exp.store.telemetry
        if key != self._findings_key or (stale and not self._concluding):
            self._findings_key = key
            self._findings_at = now
            self._findings_busy = True
            self.find_differences()

    @work(thread=True, exit_on_error=False, group="findings")
    def find_differences(self) -> None:
        try:
            diffs = self.findings_loader(self.exp)
        except Exception as exc:  # never let a diff bug take the console down
            log.exception("finding differences failed")
            diffs = Differences(available=False, error=f"{type(exc).__name__}: {exc}")
        self.post_message(self.FindingsReady(diffs))

    def on_console_app_findings_ready(self, message: FindingsReady) -> None:
        self._findings_busy = False
        self.differences = message.differences
        self.console_screen.query_one(DiffPane).differences = message.differences
        self.console_screen.query_one(VerdictStrip).confounds = tuple(message.differences.sentences())

    # ---- the end --------------------------------------------------------------------
    @work(thread=True, exit_on_error=False, group="conclude")
    def run_conclusion(self) -> None:
        exp = self.exp
        try:
            exp.finish(keep=self.keep)
        except Exception:
            log.exception("finishing the run failed")
        report, error = None, None
        try:
            report, code = self.concluder(exp, self.gates)
        except Exception as exc:  # the report is not there or failed: say so, keep going
            log.exception("concluding failed")
            error = f"{type(exc).__name__}: {exc}"
            ok = all(a.status == ArmStatus.DONE for a in exp.store.runs.values())
            code = 0 if ok else EXIT_ARM_FAILED
        self.post_message(self.Concluded(report, code, error))

    def on_console_app_concluded(self, message: Concluded) -> None:
        self.report, self.exit_code, self.report_error = message.report, message.code, message.error
        if self.outcome is None:
            self.outcome = "concluded"
        self.console_screen.query_one(VerdictStrip).conclude(message.report, message.code, message.error)
        if self._quit_when_concluded or self.close_when_concluded:
            self.exit(message.code)
            return
        self.action_results()

    # ---- actions --------------------------------------------------------------------
    def action_results(self) -> None:
        """Show the conclusion (once every arm has ended)."""
        if self.exit_code is None:
            self.notify("the results come when every arm has ended")
            return
        if not isinstance(self.screen, ResultsScreen):
            report_md = getattr(self.exp.rundir, "report_md", "")
            self.push_screen(ResultsScreen(self.report, self.exit_code, self.report_error,
                                           str(report_md)))

    def action_diff(self, category: str | None = None) -> None:
        """Open the full diff view (optionally at one category)."""
        screen = DiffScreen(self.differences)
        self.push_screen(screen)
        if category:
            self.call_after_refresh(screen.show_category, category)

    def action_gpus(self) -> None:
        """Open the full GPU view."""
        screen = GpuScreen(self.exp.store, self.colours)
        self.push_screen(screen)
        self.call_after_refresh(screen.sync, self.exp.store.version)

    async def action_quit(self) -> None:
        """Quit: straight away once concluded; otherwise ask whether to detach or stop."""
        if self.exit_code is not None:
            self.exit(self.exit_code)
            return
        if self.outcome is not None or self._concluding:
            self._quit_when_concluded = True
            self.notify("finishing: the console closes when the report is written")
            return
        if isinstance(self.screen, QuitScreen):
            return
        can_stop = not getattr(self.exp, "read_only", False)
        self.push_screen(QuitScreen(can_stop, str(self.exp.rundir.root)), self._quit_chosen)

    def _quit_chosen(self, choice: str | None) -> None:
        if self.exit_code is not None and choice in (DETACH, STOP):
            self.exit(self.exit_code)  # every arm ended while the question was open
        elif choice == DETACH:
            self.detach()
        elif choice == STOP:
            self.stop_arms()

    def detach(self) -> None:
        """Leave the arms running and close the console (also on SIGHUP / SIGTERM)."""
        if self.exit_code is not None:
            self.exit(self.exit_code)
            return
        if self.outcome is not None:
            return
        self.outcome = "detached"
        self.notify("detaching…")
        self._detach_worker()

    def hang_up(self) -> None:
        """SIGHUP / SIGTERM: detach. Without a terminal any more, leave at once after it."""
        if terminal_alive():
            self.detach()
        elif self.exit_code is not None:
            self.hard_exit(self.exit_code)
        elif self.outcome is None:
            self.outcome = "detached"
            self._detach_worker(hard=True)

    @work(thread=True, exit_on_error=False, group="leave")
    def _detach_worker(self, hard: bool = False) -> None:
        try:
            self.exp.detach()
        finally:
            if hard:  # nothing to restore on a terminal that is gone
                self.hard_exit(0)
            else:
                self.call_from_thread(self.exit, 0)

    def stop_arms(self) -> None:
        """Stop every arm, conclude, then close the console with the exit code."""
        if self.outcome is not None:
            return
        self.outcome = "stopped"
        self._quit_when_concluded = True
        self.notify("stopping the arms…")
        self._stop_worker()

    @work(thread=True, exit_on_error=False, group="leave")
    def _stop_worker(self) -> None:
        self.exp.stop_arms()

    # ---- command palette ------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield from console_commands(self.exp.store, screen)


def make_app(exp: ExperimentView, gates: Iterable[str] = (), keep: bool = False, **options: Any) -> ConsoleApp:
    """The console for ``exp``; the CLI, the tests and the screenshots all build it here.

    ``options`` go to :class:`ConsoleApp` (``findings``, ``concluder``, ``clock``,
    ``cursor_blink``, ``tick_s``, ``signals``) so that fixtures can replace slow or
    non-deterministic parts; ``banner`` and ``close_when_concluded`` make it one step of
    several (``abtui bisect``).
    """
    return ConsoleApp(exp, gates, keep, **options)


def detach_after_crash(exp: ExperimentView) -> None:
    """The console died (its traceback is above): never leave the watchers holding the
    run's lock; the arms run on, and the user is told so."""
    with contextlib.suppress(Exception):
        exp.detach()
    with contextlib.suppress(OSError):
        print("abtui: the console stopped unexpectedly; the arms keep running",
              file=sys.stderr, flush=True)


def run_console(exp: ExperimentView, gates: Iterable[str] = (), keep: bool = False) -> int:
    """Run the console until the user leaves; returns the exit code.

    Detached: 0, and the arms keep running. Stopped or concluded: the report's exit code
    (3 an arm failed, 1 a gate failed, 0 otherwise).
    """
    app = make_app(exp, gates, keep)
    code = app.run()
    root = exp.rundir.root
    crashed = app.outcome is None
    if crashed:
        detach_after_crash(exp)
        app.outcome = "detached"
    with contextlib.suppress(OSError):
        if app.outcome == "detached":
            print(f"detached; abtui attach {root} to watch again", flush=True)
        elif app.report_error:
            print(f"abtui: no report: {app.report_error}", file=sys.stderr, flush=True)
        else:
            print(f"abtui: report written to {exp.rundir.report_md}", flush=True)
    if crashed:
        return app.return_code or 1
    if app.outcome == "detached":
        return 0
    return int(code if code is not None else (app.exit_code or 0))


def watch_step(exp: ExperimentView, banner: Text) -> tuple[Report | None, str]:
    """One step of several (a bisect's A/B) in the console, ``banner`` under the title; the
    console closes by itself once the step is concluded and its report written.

    Returns the report (None without one) and how the step ended: ``concluded``, or
    ``stopped`` / ``detached`` when the user left it (the console crashing detaches too,
    so no watcher is left holding the run's lock; the arms run on).
    """
    app = make_app(exp, banner=banner, close_when_concluded=True)
    app.run()
    if app.outcome is None:
        detach_after_crash(exp)
        return None, "detached"
    return app.report, app.outcome
