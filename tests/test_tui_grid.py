"""Every metric at a glance (Pilot, on the fixture experiment): the grid of small charts, the
step cursor's readout, per-chart log y, and the layout at 80×24, 120×40 and 200×60."""

from __future__ import annotations

import pytest

from abtui.tui import units
from abtui.tui.fixtures import fixture_app, settle
from abtui.tui.widgets.curves import CurvesPanel, CurvesPlot
from abtui.tui.widgets.grid import GridCell, MetricGrid, layout


def _cells(app) -> dict[str, GridCell]:
    return {c.metric: c for c in app.screen.query(GridCell)}


def _title(cell: GridCell) -> str:
    return str(cell.query_one(".grid-title").render())


def _value_at(app, run_id: str, metric: str, step: float) -> float:
    at = app.screen.exp.store.run(run_id).series[metric].at_step(step)
    assert at is not None
    return at[1]


@pytest.mark.asyncio
async def test_the_grid_shows_every_metric_with_every_arm_overlaid() -> None:
    app = fixture_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.screen.query_one(MetricGrid)
        assert not grid.display and not _cells(app)  # the focus view first; no grid work
        await pilot.press("v")
        await settle(pilot)
        assert grid.display and not app.screen.query_one(CurvesPanel).display
        names = app.screen.exp.store.metric_names()
        cells = _cells(app)
        assert list(cells) == names  # one chart per metric, all on one page here
        legend = str(grid.query_one("#grid-legend").render())
        assert "fp32" in legend and "amp" in legend
        for cell in cells.values():
            plot = cell.query_one(CurvesPlot)
            assert plot.builds >= 1 and plot.first_points_at is not None
            assert plot.drawn == 2  # both arms' curves, overlaid
        assert "▸ loss" in _title(cells["loss"])  # the selection is the focus chart's metric
        await pilot.press("v")
        await settle(pilot)
        assert app.screen.query_one(CurvesPanel).display and not grid.display


@pytest.mark.asyncio
async def test_the_cursor_reads_every_arm_at_a_step_in_both_views() -> None:
    app = fixture_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        curves = app.screen.query_one(CurvesPanel)
        store = app.screen.exp.store
        lasts = {r: store.run(r).series["loss"].steps[-1] for r in ("fp32", "amp")}
        common, last = min(lasts.values()), max(lasts.values())
        assert curves.settings.cursor == common  # the last step every arm reached
        caption = str(app.screen.query_one("#curves-caption").render())
        for run_id in ("fp32", "amp"):
            assert f"{run_id} {units.num(_value_at(app, run_id, 'loss', common))} @{common:g}" in caption, caption
        await pilot.press("right_square_bracket", "right_square_bracket")
        await settle(pilot)
        at = common + 2 * max(1.0, round(last / 40))  # a fortieth of the x range, twice
        assert curves.settings.cursor == at
        caption = str(app.screen.query_one("#curves-caption").render())
        behind = min(lasts, key=lasts.get)  # past its last step it reads its last value
        assert f"{behind} {units.num(_value_at(app, behind, 'loss', at))} @{lasts[behind]:g}" in caption
        ahead = max(lasts, key=lasts.get)
        assert f"{ahead} {units.num(_value_at(app, ahead, 'loss', at))} @{at - at % 5:g}" in caption
        await pilot.press("v")
        await settle(pilot)
        acc = _title(_cells(app)["accuracy"])
        assert f"■{units.num(_value_at(app, ahead, 'accuracy', at))}" in acc and f"@{at:g}" in acc, acc
        await pilot.press("c")  # off again
        await settle(pilot)
        assert curves.settings.cursor is None


@pytest.mark.asyncio
async def test_log_y_is_per_chart() -> None:
    app = fixture_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("v", "l")
        await settle(pilot)
        cells = _cells(app)
        assert "(log y)" in _title(cells["loss"])
        assert all("(log y)" not in _title(c) for m, c in cells.items() if m != "loss")
        await pilot.press("m", "l")  # the next chart, on its own log axis
        await settle(pilot)
        cells = _cells(app)
        assert "▸ accuracy" in _title(cells["accuracy"]) and "(log y)" in _title(cells["accuracy"])
        assert "(log y)" in _title(cells["loss"])
        await pilot.press("m", "v")  # the focus view of the selected metric, its own scale
        await settle(pilot)
        settings = app.screen.query_one(CurvesPanel).settings
        assert settings.metric == "throughput_samples_per_sec" and not settings.log_y
        await pilot.press("m", "m", "m")  # round to loss again: log, as set in the grid
        await settle(pilot)
        settings = app.screen.query_one(CurvesPanel).settings
        assert settings.metric == "loss" and settings.log_y


@pytest.mark.parametrize("size,cols", [((80, 24), 2), ((120, 40), 3), ((200, 60), 4)])
@pytest.mark.asyncio
async def test_the_grid_fits_small_terminals_and_uses_big_ones(size, cols) -> None:
    app = fixture_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("v")
        await settle(pilot)
        grid = app.screen.query_one(MetricGrid)
        assert grid.query_one("#grid-cells").styles.grid_size_columns == cols
        cells = list(app.screen.query(GridCell))
        names = app.screen.exp.store.metric_names()
        assert cells and all(c.size.width >= 20 and c.size.height >= 3 for c in cells)
        if len(cells) < len(names):  # paged: the legend says so
            assert f"{len(cells)} of {len(names)} metrics" in str(grid.query_one("#grid-legend").render())


def test_layout_columns_and_rows() -> None:
    assert layout(80, 20, 5) == (2, 2)
    assert layout(200, 50, 5) == (4, 2)
    assert layout(30, 10, 5) == (1, 1)
    assert layout(200, 60, 1) == (1, 1)


@pytest.mark.asyncio
async def test_the_arms_table_pages_and_orders_many_runs() -> None:
    """Twelve runs in a table of nine lines: the page that holds the cursor, a line saying
    which rows these are and the best run so far by loss, and ``o`` ordering by loss (the
    cursor stays on its run)."""
    from textual.app import App, ComposeResult

    from abtui.store import Store
    from abtui.tui.widgets.arms_table import ArmsTable

    store = Store()
    for i in range(12):
        state = store.add_run(f"lr-{i}", f"lr-{i}")
        state.last["loss"] = 1.0 + ((i * 7) % 12) / 10  # lr-0 1.0 is best, then lr-7 1.1

    class Table(App[None]):
        CSS = "ArmsTable { height: 9; }"

        def compose(self) -> ComposeResult:
            yield ArmsTable(store, {}, {}, id="arms")

    app = Table()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ArmsTable)
        table.focus()
        await pilot.pause()
        text = str(table.render())
        lines = text.splitlines()
        assert len(lines) == 9 and lines[1].startswith("■ lr-0")
        assert "rows 1-7 of 12" in lines[-1] and "best so far by loss: lr-0 1" in lines[-1]
        await pilot.press("end")
        text = str(table.render())
        assert "lr-11" in text and "rows 8-12 of 12" in text and "lr-0 " not in text.splitlines()[1]
        await pilot.press("o")  # by loss, lowest first; the cursor stays on lr-11
        assert table.run_ids[:2] == ["lr-0", "lr-7"]
        assert table.run_ids[table.cursor] == "lr-11"
        assert "o: order (loss)" in str(table.render())
