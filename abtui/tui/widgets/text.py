"""Updating a ``Static`` without needless work: nothing if the text is the same, and a
layout pass (which costs the whole screen a reflow) only when its number of lines changed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

_SHOWN = "_abtui_shown_text"


def set_text(widget: Static, text: Text) -> bool:
    """Show ``text`` in ``widget``; returns whether anything changed."""
    old: Text | None = getattr(widget, _SHOWN, None)
    if old is not None and old == text:
        return False
    lines = text.plain.count("\n")
    widget.update(text, layout=old is None or old.plain.count("\n") != lines)
    setattr(widget, _SHOWN, text)
    return True
