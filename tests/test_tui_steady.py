"""Steady widgets (abtui/tui/widgets/steady.py) hand back their last lines on a screen update
they did not change, and every change still reaches the screen: new text, a resize, a new
theme, focus moving away (the arms table's cursor changes style)."""

from __future__ import annotations

import re

import pytest
from rich.text import Text
from textual.geometry import Region
from textual.widgets import Static

from abtui.tui.fixtures import fixture_app, settle
from abtui.tui.widgets.arms_table import ArmsTable
from abtui.tui.widgets.steady import Steady, SteadyStatic
from abtui.tui.widgets.text import set_text


def _screen(app) -> str:
    """The screen's text as a user sees it (the SVG export renders every widget)."""
    svg = app.export_screenshot()
    return re.sub(r"&#160;", " ", " ".join(re.findall(r">([^<>]+)</text>", svg)))


@pytest.mark.asyncio
async def test_an_unchanged_steady_widget_is_not_rendered_again() -> None:
    app = fixture_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        title = app.screen.query_one("#title", Static)
        assert isinstance(title, Steady)
        crop = Region(0, 0, title.outer_size.width, 1)
        first, again = title.render_lines(crop), title.render_lines(crop)
        assert again[0] is first[0]  # handed back, not styled again
        set_text(title, Text("a new title"))
        assert title.render_lines(crop)[0] is not first[0]
        await settle(pilot)
        assert "a new title" in _screen(app)


@pytest.mark.asyncio
async def test_changes_to_steady_widgets_reach_the_screen() -> None:
    app = fixture_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(ArmsTable)
        caption = app.screen.query_one("#curves-caption", SteadyStatic)
        crop = Region(0, 0, table.outer_size.width, table.outer_size.height)
        focused = [s.text for s in table.render_lines(crop)]
        styled = table.render_lines(crop)
        # focus moves away: the cursor row's style changes (blurred)
        app.screen.query_one("#log-lines").focus()
        await settle(pilot)
        blurred = table.render_lines(crop)
        assert [s.text for s in blurred] == focused
        assert [list(s) for s in blurred] != [list(s) for s in styled]
        # a new theme: every steady widget is styled again
        before = app.export_screenshot()
        fills = set(re.findall(r'fill="(#[0-9a-f]{6})"', before))
        app.theme = "textual-light"
        await settle(pilot)
        after = app.export_screenshot()
        assert set(re.findall(r'fill="(#[0-9a-f]{6})"', after)) != fills
        # a resize: the caption is drawn at its new width
        width = caption.outer_size.width
        assert caption.render_lines(Region(0, 0, width, 1))[0].cell_length == width
        await pilot.resize_terminal(90, 30)
        await settle(pilot)
        now = caption.outer_size.width
        assert now != width and caption.render_lines(Region(0, 0, now, 1))[0].cell_length == now
        assert "loss" in _screen(app)
