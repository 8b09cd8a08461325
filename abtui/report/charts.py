"""Tiny text charts for report.md and the terminal summary: sparklines and bars."""

from __future__ import annotations

import math
from collections.abc import Sequence

SPARKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"  # ▁▂▃▄▅▆▇█
EIGHTHS = " \u258f\u258e\u258d\u258c\u258b\u258a\u2589\u2588"  # partial blocks, left-aligned


def _resample(values: Sequence[float], width: int) -> list[float]:
    """``values`` reduced to at most ``width`` points by averaging consecutive groups."""
    n = len(values)
    if n <= width:
        return list(values)
    out = []
    for i in range(width):
        a, b = i * n // width, max(i * n // width + 1, (i + 1) * n // width)
        chunk = values[a:b]
        out.append(sum(chunk) / len(chunk))
    return out


def sparkline(values: Sequence[float | None], width: int = 40,
              lo: float | None = None, hi: float | None = None) -> str:
    """A one-line chart of ``values`` (None / NaN skipped), at most ``width`` characters.

    ``lo`` / ``hi`` fix the scale so that several sparklines can share it.
    """
    clean = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not clean:
        return ""
    pts = _resample(clean, max(1, width))
    lo = min(clean) if lo is None else lo
    hi = max(clean) if hi is None else hi
    span = hi - lo
    top = len(SPARKS) - 1
    if span <= 0:
        return SPARKS[top // 2] * len(pts)
    return "".join(SPARKS[min(top, max(0, round((v - lo) / span * top)))] for v in pts)


def bar(value: float | None, vmax: float, width: int = 30) -> str:
    """A horizontal bar of ``value`` against ``vmax`` in eighth-of-a-cell steps."""
    if value is None or not math.isfinite(value) or vmax <= 0 or value <= 0:
        return ""
    eighths = round(min(1.0, value / vmax) * width * 8)
    full, part = divmod(eighths, 8)
    return "\u2588" * full + (EIGHTHS[part] if part else "")
