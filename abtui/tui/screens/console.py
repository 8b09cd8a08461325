"""The main screen: title, arms table, curves, GPUs, differences, verdict strip and logs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from abtui.store import ArmStatus
from abtui.tui import units
from abtui.tui.widgets.arms_table import ArmsTable
from abtui.tui.widgets.curves import ChartSettings, CurvesPanel
from abtui.tui.widgets.diff_pane import DiffPane
from abtui.tui.widgets.gpus import GpuPanel
from abtui.tui.widgets.logs import LogPane
from abtui.tui.widgets.text import set_text
from abtui.tui.widgets.verdict import VerdictStrip

TITLE_REPAINT_S = 2.0  # seconds in the first minute; with the arms table: one update per 2 s
SLACK_S = 0.15  # a tick this much early still counts as on time (timers jitter)


def title_text(exp: Any, now: float) -> Text:
    """``abtui  quickstart  runs/quickstart-…  2 running · 1 done  1m23s``."""
    arms = list(exp.store.arms.values())
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
        Binding("slash", "search", "Search", key_display="/"),
        Binding("a", "next_run", "Next run", show=False),
        Binding("r", "app.results", "Results", show=False),
    ]

    def __init__(self, exp: Any, colours: dict[str, str], clock: Callable[[], float] = time.time,
                 cursor_blink: bool = True) -> None:
        super().__init__()
        self.exp = exp
        self.colours = colours
        self.clock = clock
        self.cursor_blink = cursor_blink
        self._synced: dict[str, float] = {}
        self._followers: tuple[Any, ...] = ()  # the widgets that follow the store

    def compose(self) -> ComposeResult:
        store = self.exp.store
        yield Static(id="title", markup=False)
        yield ArmsTable(store, self.exp.manifest, self.colours, id="arms")
        with Horizontal(id="middle"):
            yield CurvesPanel(store, self.colours, id="curves")
            with Vertical(id="side"):
                yield GpuPanel(store, self.colours, id="gpus")
                yield DiffPane(id="diff")
        yield VerdictStrip(store, self.exp.spec.baseline_arm, self.colours, id="verdict")
        yield LogPane(store, self.colours, cursor_blink=self.cursor_blink, id="logs")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        names = self.exp.store.metric_names()
        if names and "loss" not in names:
            self.curves.settings = replace(self.curves.settings, metric=names[0])
        first = next(iter(self.exp.store.arms), None)
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
        if self._due("title", TITLE_REPAINT_S, now):
            set_text(self.query_one("#title", Static), title_text(self.exp, self.clock()))
        if not self._followers:  # looked up once: the tick comes every second
            self._followers = (self.query_one(ArmsTable), self.curves, self.query_one(GpuPanel),
                               self.query_one(VerdictStrip), self.query_one(LogPane))
        for widget in self._followers:
            if self._due(widget.id or "", getattr(widget, "REPAINT_S", 0.0), now):
                widget.data_version = version

    def _due(self, name: str, every: float, now: float) -> bool:
        if now - self._synced.get(name, -1e9) < every - SLACK_S:
            return False
        self._synced[name] = now
        return True

    # ---- chart ----------------------------------------------------------------------
    def set_metric(self, name: str) -> None:
        """Plot ``name`` (any metric the runs logged)."""
        self.curves.settings = replace(self.curves.settings, metric=name)

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
        self.curves.settings = replace(s, smoothed=not s.smoothed)

    def action_smoothing(self, direction: int) -> None:
        self.curves.settings = self.curves.settings.smoother(direction)

    def action_toggle_axis(self) -> None:
        s = self.curves.settings
        self.curves.settings = replace(s, by_time=not s.by_time)

    def action_toggle_log(self) -> None:
        s = self.curves.settings
        self.curves.settings = replace(s, log_y=not s.log_y)

    @property
    def chart_settings(self) -> ChartSettings:
        return self.curves.settings

    # ---- logs -----------------------------------------------------------------------
    def action_search(self) -> None:
        self.query_one(LogPane).open_search()

    def action_next_run(self) -> None:
        runs = list(self.exp.store.arms)
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
        return sum(a.status not in ArmStatus.ENDED for a in self.exp.store.arms.values())
