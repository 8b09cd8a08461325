"""Snapshot tests of the console from the fixed fixtures (frozen clock, no cursor blink).

Update after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the SVGs in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

import time

import pytest

from abtui.tui.fixtures import NOW, fixture_app, settle


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wall time stands still: elapsed times and ETAs read the same on every run."""
    monkeypatch.setattr(time, "time", lambda: NOW)


def _then(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)
    return run_before


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_console(snap_compare, size) -> None:
    assert snap_compare(fixture_app(), terminal_size=size, run_before=_then())


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_diff_view(snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await _then("d")(pilot)
        pilot.app.screen.show_category("code")
        await settle(pilot)

    assert snap_compare(fixture_app(), terminal_size=size, run_before=run_before)


def test_gpu_view(snap_compare) -> None:
    assert snap_compare(fixture_app(), terminal_size=(120, 40), run_before=_then("g"))


def test_quit_dialog(snap_compare) -> None:
    assert snap_compare(fixture_app(), terminal_size=(80, 24), run_before=_then("q"))


def test_search_and_raw_log_scale(snap_compare) -> None:
    keys = ("s", "l", "a", "slash", *"checkpoint", "enter")
    assert snap_compare(fixture_app(), terminal_size=(120, 40), run_before=_then(*keys))


def test_no_gpu_at_80x24(snap_compare) -> None:
    assert snap_compare(fixture_app("nogpu"), terminal_size=(80, 24), run_before=_then())


def test_concluded(snap_compare) -> None:
    assert snap_compare(fixture_app("done"), terminal_size=(120, 40), run_before=_then("escape"))
