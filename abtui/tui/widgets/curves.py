"""Overlaid curves of one metric for every run, drawn in braille cells (braille.py).

The chart is only ever handed what ``Series.view`` returns for the plot's width: a frame
costs the same at a thousand points as at ten million. It is rebuilt only when its settings
change or new points of the shown metric arrived, and data-driven rebuilds are rate-limited
(a few times a second, on one of the console's ticks, so that its repaint shares a screen
update with the other widgets). A rebuild draws the rows into strips once; every other
repaint of the screen (a table cell, the clock) reads those strips back unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.geometry import Region
from textual.reactive import var
from textual.strip import Strip
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

from abtui.store import Store
from abtui.tui.widgets.braille import Chart, Line, Row, draw
from abtui.tui.widgets.steady import Column, SteadyStatic

SMOOTHING_STEPS = (0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99)
# New points redraw the chart so that its paint (views to strips, measured) takes at most
# this share of a core...
CHART_SHARE = 0.02
# ...but every 0.3 to 0.4 s while data arrives: on the console's 0.2 s ticks about 2.2 to
# 2.5 times a second, as often as W&B's LEET refreshes (bench/leet.py). A faster paint
# does not mean more repaints: at a 0.2 s floor the chart followed the local backend's
# batches at 3.6 a second, and the console's CPU with it (docs/benchmarks.md)
REDRAW_MIN_S, REDRAW_MAX_S = 0.3, 0.4
# A chart of more than DENSE_RUNS runs paints slower (its cost grows with the lines it
# draws); it then redraws less often, so that its paints stay within this share of a core,
# up to every SLOW_REDRAW_MAX_S
MANY_SHARE, SLOW_REDRAW_MAX_S = 0.04, 4.0
# points per run: two a cell for up to this many runs, fewer beyond (a cell holds 2x4 dots)
DENSE_RUNS = 8
LATE_S = 0.3  # the fallback timer waits this much past due: a tick normally draws first


@dataclass(frozen=True)
class ChartSettings:
    """What the chart shows and how."""

    metric: str = "loss"
    smoothed: bool = True
    smoothing: float = 0.6  # EMA weight of the past per raw point
    by_time: bool = False
    log_y: bool = False  # this chart's (the focus chart's: its metric's entry of log_metrics)
    log_metrics: frozenset[str] = frozenset()  # the metrics drawn on a log y axis, per chart
    cursor: float | None = None  # the step the cursor reads, or None (no cursor)

    def caption(self) -> str:
        smooth = f"EMA {self.smoothing:.2f}" if self.smoothed else "raw"
        axis = "wall time" if self.by_time else "step"
        scale = "log y" if self.log_y else "linear y"
        return f"{self.metric}  ·  {smooth}  ·  x: {axis}  ·  {scale}"

    def with_metric(self, metric: str) -> ChartSettings:
        """Show ``metric``, on the y scale chosen for it."""
        return replace(self, metric=metric, log_y=metric in self.log_metrics)

    def toggle_log(self, metric: str | None = None) -> ChartSettings:
        """Log y on or off for ``metric`` (default: this chart's)."""
        metric = metric or self.metric
        logs = self.log_metrics ^ {metric}
        return replace(self, log_metrics=logs,
                       log_y=self.metric in logs)

    def smoother(self, direction: int) -> ChartSettings:
        """One step more (+1) or less (-1) smoothing; smoothing is switched on."""
        steps = SMOOTHING_STEPS
        i = min(range(len(steps)), key=lambda k: abs(steps[k] - self.smoothing))
        i = max(0, min(len(steps) - 1, i + direction))
        return replace(self, smoothing=steps[i], smoothed=True)


class CurvesPlot(Widget):
    """The chart (braille.py); ``rebuild`` takes the runs' views, a paint reuses its rows.

    A paint happens only when the views or the size changed: the rows are drawn once into
    strips, and Textual's repaints of the screen read those strips back (the Line API)."""

    DEFAULT_CSS = """
    CurvesPlot { height: 1fr; }
    """

    def __init__(self, store: Store, colours: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.colours = colours
        self.builds = 0  # how many times the data was handed over (tests, benchmarks)
        self.drawn = 0  # runs on the chart at the last build
        self.legend = True  # a legend in the chart (grid cells have one line for all)
        self.paints = 0  # how many times the chart was drawn into strips
        self.lines_sent = 0  # lines the last rebuild sent to the screen (those that changed)
        self.first_points_at: float | None = None  # when a rebuild first had points
        self.paint_s = 0.003  # what the last paint cost (views to strips)
        self.chart = Chart()
        self._strips: list[Strip] = []
        self._rows: list[Row] = []  # what each strip was drawn from
        self._painted: tuple[int, int, int] = (-1, 0, 0)  # the build and size drawn

    def notify_style_update(self) -> None:
        """A new theme or style: the strips are drawn again with it."""
        super().notify_style_update()
        self._painted = (-1, 0, 0)
        self._rows = []

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._painted != (self.builds, width, height):
            self._paint(width, height)
        return self._strips[y] if y < len(self._strips) else Strip.blank(width, self.rich_style)

    def _paint(self, width: int, height: int) -> list[int]:
        """Draw the chart into strips; returns the rows that differ from the last paint
        (every row when the size changed), so a rebuild repaints only those lines."""
        t0 = time.perf_counter()
        self.paints += 1
        base = self.rich_style
        styles: dict[str | None, Style] = {None: base}
        same_size = self._painted[1:] == (width, height) and len(self._rows) == height
        strips, rows, changed = [], draw(self.chart, width, height), []
        for y, row in enumerate(rows):
            if same_size and row == self._rows[y]:
                strips.append(self._strips[y])  # this line of the screen stays as it is
                continue
            changed.append(y)
            segments = []
            for text, colour in row:
                if colour not in styles:
                    styles[colour] = base + Style(color=colour)
                segments.append(Segment(text, styles[colour]))
            strips.append(Strip(segments).adjust_cell_length(width, base))
        self._strips, self._rows = strips, rows
        self._painted = (self.builds, width, height)
        self.paint_s = time.perf_counter() - t0
        return changed

    @property
    def redraw_interval(self) -> float:
        """Seconds between redraws for new data: the chart's paint cost stays a small share."""
        interval = max(REDRAW_MIN_S, min(REDRAW_MAX_S, self.paint_s / CHART_SHARE))
        if self.drawn > DENSE_RUNS:
            interval = max(interval, min(SLOW_REDRAW_MAX_S, self.paint_s / MANY_SHARE))
        return interval

    def rebuild(self, settings: ChartSettings) -> None:
        """Take the current views of every run and schedule a repaint."""
        arms = list(self.store.runs.values())
        # two points per cell, fewer per run when many runs share the chart
        width = max(16, (self.size.width - 10) * 2 // max(1, -(-len(arms) // DENSE_RUNS)))
        t0 = min((a.first_time for a in arms if a.first_time is not None), default=0.0)
        minutes = False
        if settings.by_time:
            last = max((a.last_time for a in arms if a.last_time is not None), default=t0)
            minutes = last - t0 > 900
        lines = []
        for state in arms:
            series = state.series.get(settings.metric)
            if series is None or not len(series):
                continue
            view = series.view(width, by_time=settings.by_time,
                               smoothing=settings.smoothing if settings.smoothed else 0.0, t0=t0)
            xs = np.asarray(view.x, dtype=np.float64)
            ys = np.asarray(view.y, dtype=np.float64)
            if minutes:
                xs = xs / 60
            if settings.log_y:
                keep = ys > 0
                xs, ys = xs[keep], ys[keep]
            if not len(xs):
                continue
            lines.append(Line(xs, ys, self.colours.get(state.arm, "#ffffff"),
                              state.run_id if self.legend else None))
        drawn = len(lines)
        xlabel = ("minutes" if minutes else "seconds") if settings.by_time else "step"
        self.chart = Chart(
            tuple(lines), log_y=settings.log_y and bool(drawn),
            cursor=settings.cursor if drawn and not settings.by_time else None, xlabel=xlabel,
            title="" if drawn else f"no '{settings.metric}' records yet")
        self.drawn = drawn  # runs on the chart (tests)
        if drawn and self.first_points_at is None:
            self.first_points_at = time.time()  # wall clock, as the store's receive times
        self.builds += 1
        width, height = self.size
        if not (width and height and self._painted[1:] == (width, height)):
            self.refresh()  # not drawn at this size yet: every line, when it is shown
            return
        # drawn now, and only the lines that changed go to the screen: the frame, the axis
        # and the legend mostly stay, and the compositor styles each line it repaints
        changed = self._paint(width, height)
        self.lines_sent = len(changed)
        if changed:
            self.refresh(*(Region(0, y, width, 1) for y in changed))


class CurvesPanel(Column):
    """A caption with the chart's settings above the chart itself."""

    settings: var[ChartSettings] = var(ChartSettings, init=False)
    data_version: var[int] = var(-1, init=False)
    readout: var[Any] = var(None, init=False)  # a Text: every arm's value at the cursor

    def __init__(self, store: Store, colours: dict[str, str], clock: Any = time.monotonic,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.colours = colours
        self.clock = clock
        self._points_key: tuple[Any, ...] = ()
        self._last_build = -1e9
        self._pending = False
        self._late: Timer | None = None  # draws pending points if no tick comes to do it

    def compose(self) -> ComposeResult:
        yield SteadyStatic(self.settings.caption(), id="curves-caption", markup=False)
        yield CurvesPlot(self.store, self.colours, id="curves-plot")

    def on_mount(self) -> None:
        self.call_after_refresh(self._draw)

    def on_resize(self) -> None:
        self.call_after_refresh(self._draw)

    def watch_settings(self, settings: ChartSettings) -> None:
        self._caption()
        self._draw()

    def watch_readout(self) -> None:
        self._caption()

    def _caption(self) -> None:
        text = Text(self.settings.caption())
        if self.readout is not None and self.settings.cursor is not None:
            text.append(f"  │  step {self.settings.cursor:g}: ", style="bold")
            text.append_text(self.readout)
        self.query_one("#curves-caption", Static).update(text, layout=False)

    def watch_data_version(self) -> None:
        key = self._key()
        if key == self._points_key and not self._pending:
            return  # log lines or other metrics: nothing on this chart changed
        if not any(self._points_key):  # the first points: on screen now, not after a wait
            self._draw()
            return
        plots = self.query(CurvesPlot)
        if not plots:  # the app is closing: its children are gone, nothing to draw on
            return
        # a small tolerance: the tick that arrives about on time draws (timers jitter)
        wait = plots.first().redraw_interval - (self.clock() - self._last_build)
        if wait > 0.05:
            if not self._pending:
                self._pending = True
                self._late = self.set_timer(wait + LATE_S, self._draw_pending)
            return
        self._draw()

    def _draw_pending(self) -> None:
        self._late = None
        if self._pending:
            self._draw()

    def _key(self) -> tuple[Any, ...]:
        m = self.settings.metric
        return tuple(len(s.series[m]) if m in s.series else 0 for s in self.store.runs.values())

    def _draw(self) -> None:
        if self._late is not None:
            self._late.stop()
            self._late = None
        self._points_key = self._key()
        self._last_build = self.clock()
        self._pending = False
        for plot in self.query(CurvesPlot):  # none while the app closes
            plot.rebuild(self.settings)
