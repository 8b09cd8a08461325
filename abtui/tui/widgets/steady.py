"""Widgets that cost nothing on a screen update they did not change.

Textual renders every visible widget whose clip meets the update's bounding box, and each
such render re-derives the widget's background colours, line filters and styled lines
from its caches: about 0.25 ms a widget. On the console every top-level widget's clip is
the screen, so each of the chart's 2-3 repaints a second rendered the title, the arms
table, the caption, the verdict, the logs and the footer again, unchanged: more than the
chart's own repaint (measured under bench/leet.py's load: 9 ms/s against 3.3 ms/s).

- ``Steady`` (a mixin before the widget class) keeps the lines of its last render and
  hands them back while nothing that shapes them changed: no refresh (Textual marks a
  widget dirty in one method, ``_set_dirty``, for every refresh, resize and style reset),
  no style update (theme, focus, hover: ``notify_style_update``), and the same crop, size,
  line filters and hover style.
- ``Blank`` containers paint only their background (Textual's ``BLANK`` hook): their
  children cover them, and they have no border or content of their own.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar

from textual.containers import Horizontal, Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Footer, Static


class Steady(Widget):
    """Reuse the last rendered lines until the widget changes (see the module docstring).

    Textual has no public hook for "this widget's lines went stale"; ``_set_dirty`` is the
    one method its refresh, resize and style reset all go through (textual 8), and
    tests/test_tui_steady.py fails if a change stops reaching the screen."""

    _frame: tuple[Hashable, list[Strip]] | None = None

    def _set_dirty(self, *regions: Region) -> None:
        self._frame = None
        super()._set_dirty(*regions)

    def notify_style_update(self) -> None:
        self._frame = None
        super().notify_style_update()

    def render_lines(self, crop: Region) -> list[Strip]:
        key = (crop, self.outer_size, tuple(map(id, self.get_line_filters())),
               self.hover_style)
        frame = self._frame
        if frame is not None and frame[0] == key:
            return list(frame[1])
        strips = super().render_lines(crop)
        self._frame = (key, strips)
        return list(strips)


class SteadyStatic(Steady, Static):
    """A ``Static`` that is rendered again only when its text or style changed."""


class Blank:
    """Mixed into a container with no border, padding or content: its children cover it."""

    BLANK: ClassVar[bool] = True


class Row(Blank, Horizontal):
    """A horizontal container that paints nothing of its own."""


class Column(Blank, Vertical):
    """A vertical container that paints nothing of its own."""


class SteadyColumn(Steady, Vertical):
    """A vertical container with a border of its own, drawn again only when it changes."""


class Keys(Blank, Footer):
    """The footer's bar: its keys paint it; the bar itself is its background."""
