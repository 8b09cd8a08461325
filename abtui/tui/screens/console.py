"""The main screen: title, arms table, curves, GPUs, differences, verdict strip and logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from abtui.store import ArmStatus
from abtui.tui import units
from abtui.tui.view import ExperimentView
from abtui.tui.widgets.arms_table import ArmsTable
from abtui.tui.widgets.curves import ChartSettings, CurvesPanel
from abtui.tui.widgets.diff_pane import DiffPane
from abtui.tui.widgets.gpus import GpuPanel
from abtui.tui.widgets.grid import MetricGrid, readout
from abtui.tui.widgets.logs import LogPane
from abtui.tui.widgets.steady import Keys, Row, SteadyColumn, SteadyStatic
from abtui.tui.widgets.text import set_text
from abtui.tui.widgets.verdict import VerdictStrip

TITLE_REPAINT_S = 2.0  # seconds in the first minute; with the arms table: one update per 2 s
SLACK_S = 0.15  # a tick this much early still counts as on time (timers jitter)


def title_text(exp: ExperimentView, now: float) -> Text:
    """``abtui  quickstart  runs/quickstart-…  2 running · 1 done  1m23s``."""
    arms = list(exp.store.runs.values())
    counts: dict[str, int] = {}
    for a in arms:
        counts[a.status] = counts.get(a.status, 0) + 1
    t = Text()
    t.append(" abtui ", style="bold reverse")
    t.append(f"  {exp.spec.name}", style="bold")
    t.append(f"  {exp.rundir.root}", style="dim")
    t.append("  " + " · ".join(f"{n} {s}" for s, n in counts.items()))
    started = exp.manifest.get("created_at")
    if started:  # whole minutes past the first: the line is repainted once a minute
        elapsed = now - started
        t.append(f"  {units.duration(elapsed if elapsed < 60 else elapsed // 60 * 60)}",
                 style="dim")
    if getattr(exp, "read_only", False):
        t.append("  read-only", style="bold yellow")
    return t


class ConsoleScreen(Screen):
    """Chart and log actions live here; quitting, diff and GPU views on the app."""

    BLANK = True  # its widgets cover it: only its background is painted (steady.py)

    BINDINGS = [
        Binding("q", "app.quit", "Quit"),
        Binding("d", "app.diff", "Diff"),
        Binding("g", "app.gpus", "GPUs"),
        Binding("m", "next_metric", "Metric"),
        Binding("s", "toggle_smoothing", "Smooth"),
        Binding("plus,equals_sign", "smoothing(1)", "EMA", key_display="+/-"),
        Binding("minus", "smoothing(-1)", "Less EMA", show=False),
        Binding("x", "toggle_axis", "Step/time"),
        Binding("l", "toggle_log", "Log y"),
        Binding("v", "toggle_grid", "Grid"),
        Binding("c", "toggle_cursor", "Cursor"),
        Binding("left_square_bracket", "cursor(-1)", "Cursor left", key_display="[/]", show=False),
        Binding("right_square_bracket", "cursor(1)", "Cursor right", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("a", "next_run", "Next run", show=False),
        Binding("r", "app.results", "Results", show=False),
    ]

    def __init__(self, exp: ExperimentView, colours: dict[str, str], clock: Callable[[], float] = time.time,
                 cursor_blink: bool = True, banner: Text | None = None) -> None:
        super().__init__()
        self.exp = exp
        self.banner = banner  # a line under the title (a bisect's commits), or none
        self.colours = colours
        self.clock = clock
        self.cursor_blink = cursor_blink
        self._synced: dict[str, float] = {}
        self._followers: tuple[Any, ...] = ()  # the widgets that follow the store
        self._title_counts: tuple[str, ...] = ()

    def compose(self) -> ComposeResult:
        store = self.exp.store
        yield SteadyStatic(id="title", markup=False)
        if self.banner is not None:
            yield SteadyStatic(self.banner, id="banner", markup=False)
        yield ArmsTable(store, self.exp.manifest, self.colours, id="arms")
        with Row(id="middle"):
            yield CurvesPanel(store, self.colours, id="curves")
            yield MetricGrid(store, self.colours, id="grid")
            with SteadyColumn(id="side"):
                yield GpuPanel(store, self.colours, id="gpus")
                yield DiffPane(id="diff")
        yield VerdictStrip(store, self.exp.spec.baseline_arm, self.colours, id="verdict")
        yield LogPane(store, self.colours, cursor_blink=self.cursor_blink, id="logs")
        yield Keys(compact=True)

    def on_mount(self) -> None:
        names = self.exp.store.metric_names()
        if names and "loss" not in names:
            self.curves.settings = replace(self.curves.settings, metric=names[0])
        self.query_one(MetricGrid).settings = self.curves.settings
        first = next(iter(self.exp.store.runs), None)
        self.query_one(LogPane).run_id = first
        self.query_one(ArmsTable).focus()
        self.sync(self.exp.store.version)

    @property
    def curves(self) -> CurvesPanel:
        return self.query_one(CurvesPanel)

    def sync(self, version: int) -> None:
        """The store changed: hand the new version down; each widget decides what to redraw.

        Figures that change every tick are repainted at their own, slower pace; the paces
        are multiples of one another and tolerate a late tick, so that the widgets due
        repaint on the same tick and share one screen update (each costs a compositor pass).
        """
        now = time.monotonic()
        # the run counts change rarely and matter (a run ended, a sequential design dropped
        # the runs it no longer needs): repainted at once, whatever the pace
        counts = tuple(sorted(str(a.status) for a in self.exp.store.runs.values()))
        if self._due("title", TITLE_REPAINT_S, now) or counts != self._title_counts:
            self._title_counts = counts
            set_text(self.query_one("#title", Static), title_text(self.exp, self.clock()))
        if not self._followers:  # looked up once: the tick comes every second
            self._followers = (self.query_one(ArmsTable), self.curves, self.query_one(MetricGrid),
                               self.query_one(GpuPanel), self.query_one(VerdictStrip),
                               self.query_one(LogPane))
        grid = self.has_class("-grid")
        for widget in self._followers:
            if (widget.id == "grid") != grid and widget.id in ("grid", "curves"):
                continue  # the hidden view of the curves does no work
            if self._due(widget.id or "", getattr(widget, "REPAINT_S", 0.0), now):
                widget.data_version = version

    def _due(self, name: str, every: float, now: float) -> bool:
        if now - self._synced.get(name, -1e9) < every - SLACK_S:
            return False
        self._synced[name] = now
        return True

    # ---- chart ----------------------------------------------------------------------
    def apply(self, settings: ChartSettings) -> None:
        """New chart settings for both views of the curves (the grid's selection is the
        focus chart's metric), and the cursor's readout in the caption."""
        self.curves.settings = settings
        grid = self.query_one(MetricGrid)
        grid.settings = settings
        grid.selected = settings.metric
        self.curves.readout = (readout(self.exp.store, settings.metric, settings.cursor,
                                       self.colours) if settings.cursor is not None else None)

    def set_metric(self, name: str) -> None:
        """Plot ``name`` (any metric the runs logged)."""
        self.apply(self.curves.settings.with_metric(name))

    def action_next_metric(self) -> None:
        names = self.exp.store.metric_names()
        if not names:
            self.notify("no metrics logged yet")
            return
        current = self.curves.settings.metric
        i = names.index(current) + 1 if current in names else 0
        self.set_metric(names[i % len(names)])

    def action_toggle_smoothing(self) -> None:
        s = self.curves.settings
        self.apply(replace(s, smoothed=not s.smoothed))

    def action_smoothing(self, direction: int) -> None:
        self.apply(self.curves.settings.smoother(direction))

    def action_toggle_axis(self) -> None:
        s = self.curves.settings
        self.apply(replace(s, by_time=not s.by_time))

    def action_toggle_log(self) -> None:
        """Log y for the chart in view: the focus chart, or the grid's selected chart."""
        self.apply(self.curves.settings.toggle_log())

    def action_toggle_grid(self) -> None:
        """The grid of every metric, or the focus chart of the selected one."""
        self.toggle_class("-grid")
        self._synced.pop("grid", None)
        self._synced.pop("curves", None)
        self.apply(self.curves.settings)
        self.sync(self.exp.store.version)
        grid = self.query_one(MetricGrid)
        self.call_after_refresh(grid.redraw)  # once the class has shown it

    def _steps(self) -> tuple[float, float]:
        """The last step every run reached, and the last any run reached (the cursor's
        start and its right end), for the shown metric."""
        m = self.curves.settings.metric
        lasts = [float(a.series[m].steps[len(a.series[m]) - 1])
                 for a in self.exp.store.runs.values() if m in a.series and len(a.series[m])]
        return (min(lasts), max(lasts)) if lasts else (0.0, 0.0)

    def action_toggle_cursor(self) -> None:
        """A cursor at the last step every run reached (press again: no cursor)."""
        s = self.curves.settings
        common, _ = self._steps()
        self.apply(replace(s, cursor=None if s.cursor is not None else common))

    def action_cursor(self, direction: int) -> None:
        """Move the cursor a fortieth of the x range left or right."""
        s = self.curves.settings
        common, last = self._steps()
        at = common if s.cursor is None else s.cursor
        step = max(1.0, round(last / 40))
        self.apply(replace(s, cursor=min(last, max(0.0, at + direction * step))))

    @property
    def chart_settings(self) -> ChartSettings:
        return self.curves.settings

    # ---- logs -----------------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one(LogPane).open_search()

    def action_next_run(self) -> None:
        runs = list(self.exp.store.runs)
        if not runs:
            return
        logs = self.query_one(LogPane)
        i = runs.index(logs.run_id) + 1 if logs.run_id in runs else 0
        self.select_run(runs[i % len(runs)])

    def select_run(self, run_id: str) -> None:
        """Show ``run_id``'s logs (and move the table's cursor to it)."""
        self.query_one(LogPane).run_id = run_id
        self.query_one(ArmsTable).move_to(run_id)

    def on_arms_table_run_selected(self, event: ArmsTable.RunSelected) -> None:
        self.query_one(LogPane).run_id = event.run_id

    def active_runs(self) -> int:
        return sum(a.status not in ArmStatus.ENDED for a in self.exp.store.runs.values())
