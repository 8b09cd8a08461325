"""Textual's Sparkline on a fixed scale, one or more rows high."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import var
from textual.widgets import Sparkline


class ScaledSparkline(Sparkline):
    """A sparkline on a fixed scale (``span``), so that a steady 1380 MHz reads as 70 %
    of 1980 MHz rather than as wild swings between the data's own min and max. Each
    column summarises its share of the samples (``summary_function``); several rows
    give eight levels each."""

    BARS = "▁▂▃▄▅▆▇█"
    span: var[tuple[float, float] | None] = var(None)

    def render(self) -> Any:
        data, span = list(self.data or []), self.span
        width, height = self.size.width, max(1, self.size.height)
        if span is None or not data or width <= 0:
            return super().render()
        lo, hi = span
        extent = (hi - lo) or 1.0
        step = len(data) / width
        if step < 1:  # fewer samples than columns: the newest at the right edge
            pad, buckets = width - len(data), [[v] for v in data]
        else:
            pad = 0
            buckets = [data[int(i * step):max(int(i * step) + 1, int((i + 1) * step))]
                       for i in range(width)]
        levels = [min(1.0, max(0.0, (self.summary_function(b) - lo) / extent)) * height * 8
                  for b in buckets]
        style = self.get_component_rich_style("sparkline--max-color")
        t = Text(no_wrap=True, end="")
        for row in range(height):
            base = (height - 1 - row) * 8
            if row:
                t.append("\n")
            t.append(" " * pad)
            line = "".join(self._cell(level - base, bottom=row == height - 1) for level in levels)
            t.append(line, style=style)
        return t

    def _cell(self, filled: float, bottom: bool) -> str:
        n = round(filled)
        if n <= 0:
            return self.BARS[0] if bottom else " "  # the floor line stays visible
        return self.BARS[min(8, n) - 1]
