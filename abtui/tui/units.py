"""Numbers as the console shows them: short, aligned, ``-`` where unknown."""

from __future__ import annotations

import math


def num(value: float | None, digits: int = 4) -> str:
    """``0.8123`` → ``0.8123``; ``None`` / NaN → ``-``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def rate(value: float | None) -> str:
    """Throughput: ``1234.5`` → ``1.23k``."""
    if value is None or math.isnan(value):
        return "-"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:.3g}{suffix}"
    return f"{value:.3g}"


def megabytes(mb: float | None) -> str:
    """``4210`` (MB) → ``4.1G``; small values stay in MB."""
    if mb is None or math.isnan(mb):
        return "-"
    if mb >= 1024:
        return f"{mb / 1024:.1f}G"
    return f"{mb:.0f}M"


def duration(seconds: float | None) -> str:
    """``83`` → ``1m23s``; ``4000`` → ``1h06m``; ``None`` → ``-``."""
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return "-"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def signed_pct(ratio: float | None) -> str:
    """A ratio as a signed change: ``1.031`` → ``+3.1%``."""
    if ratio is None or math.isnan(ratio):
        return "-"
    return f"{(ratio - 1) * 100:+.1f}%"
