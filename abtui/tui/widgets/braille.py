"""A line chart in braille cells, drawn with numpy: the console's curves.

Written here rather than taken from plotext, which the console used before: plotext builds a
chart cell by cell in Python and prints it as ANSI that then has to be parsed back into
styled text, about 10 ms a paint for two runs at 120x30 (80 % of the console's CPU while
data arrives, profiled with py-spy). Here the lines are rasterised into a pixel grid (2x4
dots a cell) with array operations and every row comes back as a few runs of text of one
colour, ready for Textual's strips: a paint of two runs costs well under a millisecond.
The look follows plotext's, which users know: a framed plot, y ticks on the left (``┤``),
x ticks below (``┬``) with their values, a legend of coloured dots in the top left corner,
the x axis' name under the values and, without data, a title saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import groupby

import numpy as np

# one character per 8-dot pattern; the empty pattern is a plain space, as a blank cell
GLYPHS = np.array([" "] + [chr(0x2800 + i) for i in range(1, 256)])
# the bit of each dot of a cell: rows top to bottom, columns left and right (Unicode's order)
DOT_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.uint16)
LEGEND_MARK = "⢕⢕"
CURSOR_COLOUR = "#ffffff"


@dataclass(frozen=True)
class Line:
    """One run's curve: its points (any order of magnitude) and how it is labelled."""

    x: Sequence[float] | np.ndarray
    y: Sequence[float] | np.ndarray
    colour: str  # "#rrggbb"
    label: str | None = None


@dataclass(frozen=True)
class Chart:
    """What to draw: the curves, the y scale, a cursor (an x value) and the axes' names."""

    lines: tuple[Line, ...] = ()
    log_y: bool = False
    cursor: float | None = None
    xlabel: str = ""
    title: str = ""  # shown above the frame (the console sets it only when nothing is drawn)


# A row of the drawn chart: runs of text, each with its colour ("#rrggbb") or None for the
# axes and blank cells (the widget's own style)
Row = list[tuple[str, str | None]]


@dataclass
class _Canvas:
    """The rows being laid out: one character and one colour index per cell."""

    chars: list[list[str]]
    colours: list[list[int]]
    palette: list[str | None] = field(default_factory=lambda: [None])

    def put(self, row: int, col: int, text: str, colour: int = 0) -> None:
        line = self.chars[row]
        lo, hi = max(0, col), min(len(line), col + len(text))  # the part inside the row
        if lo < hi:
            line[lo:hi] = text[lo - col:hi - col]
            self.colours[row][lo:hi] = [colour] * (hi - lo)

    def rows(self) -> list[Row]:
        """Each row as runs of one colour (groupby finds the runs in C: a loop over the
        cells in Python was a third of a paint)."""
        out: list[Row] = []
        palette = self.palette
        for chars, tint in zip(self.chars, self.colours, strict=True):
            text = "".join(chars)
            row: Row = []
            start = 0
            for colour, run in groupby(tint):
                end = start + len(list(run))
                row.append((text[start:end], palette[colour]))
                start = end
            out.append(row)
        return out


def tick_label(value: float) -> str:
    """A tick's value, short: 4 significant digits, whole numbers up to 10^7 written out."""
    if value == 0 or not np.isfinite(value):
        return "0" if value == 0 else str(value)
    if 1e4 <= abs(value) < 1e7:
        return f"{value:.0f}"
    return f"{value:.4g}"


def _bounds(values: list[np.ndarray]) -> tuple[float, float]:
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    if hi - lo <= abs(hi) * 1e-12:  # one value: a band around it
        pad = abs(hi) * 0.1 or 0.5
        lo, hi = lo - pad, hi + pad
    return lo, hi


def _raster(px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel on the segments between consecutive points (a DDA, vectorised)."""
    if len(px) < 2:
        return px.astype(np.int64), py.astype(np.int64)
    dx, dy = np.diff(px), np.diff(py)
    steps = np.maximum(np.abs(dx), np.abs(dy)).astype(np.int64)
    counts = steps + 1
    seg = np.repeat(np.arange(len(dx)), counts)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    t = (np.arange(int(counts.sum())) - np.repeat(first, counts)) / np.repeat(
        np.maximum(steps, 1), counts)
    xs = np.rint(px[seg] + t * dx[seg]).astype(np.int64)
    ys = np.rint(py[seg] + t * dy[seg]).astype(np.int64)
    return xs, ys


def _ticks(count: int, span: int) -> list[int]:
    """``count`` positions spread evenly over ``0 .. span - 1``."""
    if span <= 1 or count <= 1:
        return [0]
    return sorted({round(k * (span - 1) / (count - 1)) for k in range(count)})


def draw(chart: Chart, width: int, height: int) -> list[Row]:
    """The chart as ``height`` rows of ``width`` cells (fewer cells only when it cannot fit)."""
    blank: list[Row] = [[(" " * max(0, width), None)] for _ in range(max(0, height))]
    top = 1 if chart.title else 0
    bottom = 2 + (1 if chart.xlabel else 0)  # the frame's bottom, tick values, axis name
    inner_h = height - top - 1 - bottom
    if width < 12 or inner_h < 2:
        return blank
    lines: list[tuple[np.ndarray, np.ndarray, str, str | None]] = []
    for line in chart.lines:
        x = np.asarray(line.x, dtype=np.float64)
        y = np.asarray(line.y, dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        if chart.log_y:
            keep &= y > 0
        x, y = x[keep], y[keep]
        if len(x):
            lines.append((x, np.log10(y) if chart.log_y else y, line.colour, line.label))
    if lines:
        y_lo, y_hi = _bounds([ln[1] for ln in lines])
        x_lo, x_hi = _bounds([ln[0] for ln in lines])
        y_rows = min(7, inner_h // 3 + 1)
        labels = [tick_label(10 ** v if chart.log_y else v) for v in
                  (y_hi - (y_hi - y_lo) * r / max(1, inner_h - 1)
                   for r in _ticks(y_rows, inner_h))]
        label_w = max(len(s) for s in labels)
    else:
        label_w, labels = 0, []
    inner_w = width - label_w - 2
    if inner_w < 4:
        return blank
    canvas = _Canvas([[" "] * width for _ in range(height)], [[0] * width for _ in range(height)])
    if chart.title:
        canvas.put(0, max(0, (width - len(chart.title)) // 2), chart.title[:width])
    frame_top, frame_bottom = top, top + inner_h + 1
    canvas.put(frame_top, label_w, "┌" + "─" * inner_w + "┐")
    canvas.put(frame_bottom, label_w, "└" + "─" * inner_w + "┘")
    for r in range(inner_h):
        canvas.put(frame_top + 1 + r, label_w, "│")
        canvas.put(frame_top + 1 + r, label_w + inner_w + 1, "│")
    if not lines:
        return canvas.rows()
    for r, text in zip(_ticks(len(labels), inner_h), labels, strict=True):
        canvas.put(frame_top + 1 + r, 0, text.rjust(label_w) + "┤")
    x_cols = _ticks(max(2, min(5, inner_w // 14 + 1)), inner_w)
    end = -1
    for c in x_cols:
        canvas.put(frame_bottom, label_w + 1 + c, "┬")
        value = x_lo + (x_hi - x_lo) * c / max(1, inner_w - 1)
        # whole numbers on a wide axis (steps, seconds): "263" for 263.2, as a cell holds
        text = tick_label(round(value) if x_hi - x_lo >= 20 else value)
        at = min(max(0, label_w + 1 + c - len(text) // 2), width - len(text))
        if at > end:  # a value that would run into the previous one is left out
            canvas.put(frame_bottom + 1, at, text)
            end = at + len(text)
    if chart.xlabel:
        canvas.put(frame_bottom + 2, label_w + 1 + max(0, (inner_w - len(chart.xlabel)) // 2),
                   chart.xlabel[:inner_w])
    _plot(canvas, chart, lines, (x_lo, x_hi, y_lo, y_hi), (frame_top + 1, label_w + 1),
          (inner_h, inner_w))
    return canvas.rows()


def _plot(canvas: _Canvas, chart: Chart,
          lines: list[tuple[np.ndarray, np.ndarray, str, str | None]],
          box: tuple[float, float, float, float], origin: tuple[int, int],
          size: tuple[int, int]) -> None:
    """Rasterise the curves (and the cursor) into the frame's inside, then the legend."""
    x_lo, x_hi, y_lo, y_hi = box
    (row0, col0), (inner_h, inner_w) = origin, size
    ph, pw = inner_h * 4, inner_w * 2
    owner = np.zeros((ph, pw), dtype=np.int32)  # which curve a dot belongs to (0: none)
    canvas.palette.append(CURSOR_COLOUR)  # index 1: the cursor, drawn under the curves
    if chart.cursor is not None and x_lo <= chart.cursor <= x_hi:
        owner[:, int(round((chart.cursor - x_lo) / (x_hi - x_lo) * (pw - 1)))] = 1
    for k, (x, y, colour, _) in enumerate(lines):
        canvas.palette.append(colour)
        px = np.rint((x - x_lo) / (x_hi - x_lo) * (pw - 1))
        py = np.rint((y_hi - y) / (y_hi - y_lo) * (ph - 1))
        xs, ys = _raster(px, py)
        inside = (xs >= 0) & (xs < pw) & (ys >= 0) & (ys < ph)
        owner[ys[inside], xs[inside]] = k + 2  # a later curve is drawn over an earlier one
    cells = owner.reshape(inner_h, 4, inner_w, 2)
    dots = cells > 0
    codes = np.zeros((inner_h, inner_w), dtype=np.uint16)
    for r in range(4):  # eight dots, eight shifted ors: cheaper than a weighted sum
        for c in range(2):
            codes |= dots[:, r, :, c] * DOT_BITS[r, c]
    tints = cells.max(axis=(1, 3))
    glyphs = GLYPHS[codes]
    for r in range(inner_h):
        canvas.chars[row0 + r][col0:col0 + inner_w] = glyphs[r].tolist()
        canvas.colours[row0 + r][col0:col0 + inner_w] = tints[r].tolist()
    labelled = [(k, label) for k, (*_, label) in enumerate(lines) if label is not None]
    room = inner_h
    for r, (k, label) in enumerate(labelled[:room]):
        more = len(labelled) - r
        if r == room - 1 and more > 1:
            canvas.put(row0 + r, col0 + 1, f" +{more} more")
            break
        canvas.put(row0 + r, col0 + 1, LEGEND_MARK, k + 2)
        canvas.put(row0 + r, col0 + 1 + len(LEGEND_MARK), f" {label}"[:inner_w - 3])
