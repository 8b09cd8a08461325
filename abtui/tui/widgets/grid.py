"""Every metric at a glance: a grid of small charts, one per metric, every arm overlaid.

The grid is the console's second view of the curves (``v`` switches; the focus view is
``CurvesPanel``). Each cell is a ``CurvesPlot`` of one metric with the same settings as
the focus chart (smoothing, x axis, the step cursor), its own log-y flag, and a title that
reads every arm's value at the cursor. The layout fits the space it gets: one column per
~34 cells of width (2 at 80 columns, 3 at 120, 4 at 200; the GPU and diff panes
make room while the grid shows), rows of at least 7 lines;
metrics beyond one page are paged with the selection (``m`` moves it).

Cost: a cell paints like the focus chart (views to braille rows to strips: about a
millisecond at this size), so the grid redraws for new data at most every ``redraw_interval`` seconds, chosen
so that its paints stay within ``CHART_SHARE`` of a core (0.5 s at least, 2 s at most).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.reactive import var
from textual.widgets import Static

from abtui.store import Store
from abtui.tui import units
from abtui.tui.widgets.curves import CHART_SHARE, ChartSettings, CurvesPlot
from abtui.tui.widgets.text import set_text

CELL_WIDTH = 34  # columns per chart (a readable braille chart with its axis labels)
CELL_HEIGHT = 7  # rows per chart, its title included
GRID_REDRAW_MIN_S, GRID_REDRAW_MAX_S = 0.5, 2.0


def readout(store: Store, metric: str, step: float | None,
            colours: dict[str, str], compact: bool = False) -> Text:
    """Every run's value of ``metric`` at the cursor's step (its last point at or before
    it), with the step and the time since the run's first record: what a cursor reads.
    ``compact`` (a grid cell's title): the arm's colour and the value only."""
    t = Text()
    for state in store.runs.values():
        series = state.series.get(metric)
        if series is None or not len(series):
            continue
        at = series.at_step(step) if step is not None else series.at_step(float("inf"))
        if at is None:
            continue
        s, value, when = at
        if len(t):
            t.append(" " if compact else "  ")
        t.append("■ " if not compact else "■", style=colours.get(state.arm, ""))
        if compact:
            t.append(units.num(value))
            continue
        t.append(f"{state.run_id} {units.num(value)}")
        since = when - state.first_time if state.first_time is not None else None
        t.append(f" @{s:g}" + (f" {units.duration(since)}" if since is not None else ""),
                 style="dim")
    return t


def layout(width: int, height: int, metrics: int) -> tuple[int, int]:
    """Columns and rows of the grid for this many metrics in this space."""
    cols = max(1, min(4, width // CELL_WIDTH, metrics or 1))
    rows = max(1, min(height // CELL_HEIGHT, -(-(metrics or 1) // cols)))
    return cols, rows


class GridCell(Vertical):
    """One metric: a title with the cursor's readout above a small chart."""

    def __init__(self, store: Store, colours: dict[str, str], metric: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store, self.colours, self.metric = store, colours, metric
        self._pending: tuple[ChartSettings, bool] | None = None

    def compose(self) -> ComposeResult:
        yield Static(classes="grid-title", markup=False)
        plot = CurvesPlot(self.store, self.colours, classes="grid-plot")
        plot.legend = False  # the grid's legend line names the arms once, for every cell
        yield plot

    def on_mount(self) -> None:
        if self._pending is not None:  # asked to draw before its children were there
            self.call_after_refresh(self.draw, *self._pending)

    def draw(self, settings: ChartSettings, selected: bool) -> None:
        if not self.query(".grid-title"):
            self._pending = (settings, selected)
            return
        self._pending = None
        log = self.metric in settings.log_metrics
        title = Text(("▸ " if selected else "  ") + self.metric, style="bold" if selected else "")
        if log:
            title.append(" (log y)", style="dim")
        title.append("  ")
        title.append_text(readout(self.store, self.metric, settings.cursor, self.colours,
                                  compact=True))
        if settings.cursor is not None:
            title.append(f" @{settings.cursor:g}", style="dim")
        set_text(self.query_one(".grid-title", Static), title)
        self.set_class(selected, "-selected")
        self.query_one(CurvesPlot).rebuild(replace(settings, metric=self.metric, log_y=log))


class MetricGrid(Vertical):
    """The grid of small multiples; ``data_version`` and ``settings`` drive its redraws."""

    settings: var[ChartSettings] = var(ChartSettings, init=False)
    data_version: var[int] = var(-1, init=False)
    selected: var[str | None] = var(None, init=False)

    def __init__(self, store: Store, colours: dict[str, str], clock: Any = time.monotonic,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store, self.colours, self.clock = store, colours, clock
        self._shown: tuple[str, ...] = ()
        self._key: tuple[Any, ...] = ()
        self._last = -1e9

    def compose(self) -> ComposeResult:
        yield Static(id="grid-legend", markup=False)
        yield Grid(id="grid-cells")

    def on_mount(self) -> None:
        self.call_after_refresh(self.redraw)

    def on_resize(self) -> None:
        self.call_after_refresh(self.redraw)

    def watch_settings(self) -> None:
        self.redraw()

    def watch_selected(self) -> None:
        self.redraw()

    @property
    def redraw_interval(self) -> float:
        """Seconds between redraws for new data: all cells' paints stay a small share."""
        paint = sum(p.paint_s for p in self.query(CurvesPlot))
        return min(GRID_REDRAW_MAX_S, max(GRID_REDRAW_MIN_S, paint / CHART_SHARE))

    def watch_data_version(self) -> None:
        key = tuple((n, len(s)) for a in self.store.runs.values() for n, s in a.series.items())
        if key == self._key:
            return
        if self.clock() - self._last < self.redraw_interval and self._shown:
            return  # the next tick after the interval draws what arrived meanwhile
        self.redraw()

    def page(self) -> tuple[list[str], int, int]:
        """The metrics on the selection's page, the columns and the rows."""
        names = self.store.metric_names()
        size = self.query_one("#grid-cells", Grid).size
        cols, rows = layout(size.width or self.size.width, size.height or self.size.height - 1,
                            len(names))
        per = cols * rows
        at = names.index(self.selected) if self.selected in names else 0
        start = at // per * per
        return names[start:start + per], cols, rows

    def redraw(self) -> None:
        """Lay out the page's cells (new ones only when the metrics on it change), draw them."""
        if not self.is_mounted or not self.display:
            return  # hidden (the focus view): the grid does no work
        self._last = self.clock()
        self._key = tuple((n, len(s)) for a in self.store.runs.values() for n, s in a.series.items())
        names, cols, rows = self.page()
        total = len(self.store.metric_names())
        legend = Text()
        for arm in dict.fromkeys(a.arm for a in self.store.runs.values()):
            legend.append("■ ", style=self.colours.get(arm, ""))
            legend.append(f"{arm}  ")
        if total > len(names):
            legend.append(f"  {len(names)} of {total} metrics (m: next)", style="dim")
        if not names:
            legend.append("no metric records yet", style="dim")
        set_text(self.query_one("#grid-legend", Static), legend)
        grid = self.query_one("#grid-cells", Grid)
        grid.styles.grid_size_columns = cols
        grid.styles.grid_size_rows = rows
        if tuple(names) != self._shown:
            self._shown = tuple(names)
            grid.remove_children()
            grid.mount_all([GridCell(self.store, self.colours, n) for n in names])
            self.call_after_refresh(self._draw_cells)
            return
        self._draw_cells()

    def _draw_cells(self) -> None:
        selected = self.selected or (self._shown[0] if self._shown else None)
        for cell in self.query(GridCell):
            cell.draw(self.settings, cell.metric == selected)
