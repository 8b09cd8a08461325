"""Overlaid curves of one metric for every run, drawn with plotext.

plotext is slow for many points (a build of two 10k-point series takes ~150 ms), so it is
only ever handed what ``Series.view`` returns for the plot's width: a frame costs the same
at a thousand points as at ten million. The chart is rebuilt only when its settings change
or new points of the shown metric arrived, and data-driven rebuilds are rate-limited: a
curve that gained a few points is redrawn every few seconds (it visibly grows), on one of
the console's ticks so that its repaint shares a screen update with the other widgets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import Static
from textual_plotext import PlotextPlot

from abtui.store import Store
from abtui.tui.palette import rgb
from abtui.tui.widgets.ansi import ansi_text

SMOOTHING_STEPS = (0.3, 0.6, 0.8, 0.9, 0.95, 0.98, 0.99)
# New points redraw the chart so that its paint (plotext build, ANSI parsing and Textual's
# conversion to strips, measured) takes at most this share of a core...
CHART_SHARE = 0.02
# ...but at most 5 and at least 2.5 times a second while data arrives (a paint of 2 arms at
# 120x30 is ~10 ms: 2.5 % of a core at 2.5 Hz)
REDRAW_MIN_S, REDRAW_MAX_S = 0.2, 0.4
# A chart of more than DENSE_RUNS runs paints slower (plotext's cost grows with the lines it
# draws: 32 runs took about 13 times 2 runs'); it then redraws less often, so that its
# paints stay within this share of a core, up to every SLOW_REDRAW_MAX_S
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


class CurvesPlot(PlotextPlot):
    """The plotext chart; ``rebuild`` hands it downsampled views and asks for a repaint."""

    def __init__(self, store: Store, colours: dict[str, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store
        self.colours = colours
        self.builds = 0  # how many times the data was handed over (tests, benchmarks)
        self.drawn = 0  # runs on the chart at the last build
        self.legend = True  # a legend in the chart (grid cells have one line for all)
        self.paints = 0  # how many times plotext drew it (render)
        self.first_points_at: float | None = None  # when a rebuild first had points
        self.marker = "braille"  # 2x4 dots a cell: the finest lines a terminal can draw
        self.paint_s = 0.03  # what the last paint cost (plotext build to Textual's strips)

    def render(self) -> Any:
        """Draw: plotext builds here (as ``PlotextPlot.render``, with a faster ANSI reader)."""
        self.paints += 1
        plot, (width, height) = self.plt, self.size
        plot.plotsize(width, height)
        # textual-plotext's private resize, as PlotextPlot.render calls it (its public
        # render is what this method replaces); tests/test_private_apis.py guards it
        plot._set_size(width, height)
        plot.theme(self._get_plotext_theme_name(self.app.theme))
        return ansi_text(plot.build())

    def render_lines(self, crop: Any) -> Any:
        """Textual's lines; a paint's whole cost (build, ANSI, strips) sets the redraw interval."""
        paints, t0 = self.paints, time.perf_counter()
        lines = super().render_lines(crop)
        if self.paints != paints:
            self.paint_s = time.perf_counter() - t0
        return lines

    @property
    def redraw_interval(self) -> float:
        """Seconds between redraws for new data: the chart's paint cost stays a small share."""
        interval = max(REDRAW_MIN_S, min(REDRAW_MAX_S, self.paint_s / CHART_SHARE))
        if self.drawn > DENSE_RUNS:
            interval = max(interval, min(SLOW_REDRAW_MAX_S, self.paint_s / MANY_SHARE))
        return interval

    def rebuild(self, settings: ChartSettings) -> None:
        """Load the current views of every run into plotext and schedule a repaint."""
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        arms = list(self.store.runs.values())
        # two points per cell, fewer per run when many runs share the chart
        width = max(16, (self.size.width - 10) * 2 // max(1, -(-len(arms) // DENSE_RUNS)))
        t0 = min((a.first_time for a in arms if a.first_time is not None), default=0.0)
        minutes = False
        if settings.by_time:
            last = max((a.last_time for a in arms if a.last_time is not None), default=t0)
            minutes = last - t0 > 900
        drawn = 0
        for state in arms:
            series = state.series.get(settings.metric)
            if series is None or not len(series):
                continue
            view = series.view(width, by_time=settings.by_time,
                               smoothing=settings.smoothing if settings.smoothed else 0.0, t0=t0)
            xs, ys = view.x, view.y
            if minutes:
                xs = [x / 60 for x in xs]
            if settings.log_y:
                pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
            if not xs:
                continue
            plt.plot(xs, ys, marker=self.marker, label=state.run_id if self.legend else None,
                     color=rgb(self.colours.get(state.arm, "#ffffff")))
            drawn += 1
        if settings.log_y and drawn:  # plotext fails on a log axis without data
            plt.yscale("log")
        if settings.cursor is not None and drawn and not settings.by_time:
            plt.vline(settings.cursor, "white")
        if settings.by_time:
            plt.xlabel("minutes" if minutes else "seconds")
        else:
            plt.xlabel("step")
        self.drawn = drawn  # runs on the chart (tests)
        if drawn and self.first_points_at is None:
            self.first_points_at = time.time()  # wall clock, as the store's receive times
        if not drawn:
            plt.title(f"no '{settings.metric}' records yet")
        self.builds += 1
        self.refresh()


class CurvesPanel(Vertical):
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
        yield Static(self.settings.caption(), id="curves-caption", markup=False)
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
