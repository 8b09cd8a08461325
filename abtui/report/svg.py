"""Inline SVG charts drawn by hand (no JS, no external files): lines with bands, bars with whiskers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
W, H = 640, 300
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 28, 44


def color(i: int) -> str:
    """The i-th series colour (cycled)."""
    return PALETTE[i % len(PALETTE)]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 5 x 10^k steps) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    if step <= max(abs(lo), abs(hi)) * 1e-12:  # a range below float resolution: adding
        return [lo, hi]  # the step to a tick would not move it (and never end)
    first = math.ceil(lo / step)
    last = math.floor(hi / step + 1e-9)
    # ticks by index, not by adding the step: bounded whatever the range
    return [round(k * step, 12) for k in range(first, min(last, first + 4 * count) + 1)]


def _label(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10000 else f"{v:.4g}"


class _Frame:
    """Maps data to pixels and draws axes, ticks, title and axis labels."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float, pad_low: bool = True) -> None:
        if x1 <= x0:
            x1 = x0 + 1
        if y1 <= y0:
            y0, y1 = y0 - 0.5 * (abs(y0) or 1), y1 + 0.5 * (abs(y1) or 1)
        pad = (y1 - y0) * 0.05
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0 - (pad if pad_low else 0.0), y1 + pad

    def px(self, x: float) -> float:
        return PAD_L + (x - self.x0) / (self.x1 - self.x0) * (W - PAD_L - PAD_R)

    def py(self, y: float) -> float:
        return H - PAD_B - (y - self.y0) / (self.y1 - self.y0) * (H - PAD_T - PAD_B)

    def axes(self, title: str, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
        out = [f'<text x="{W / 2}" y="18" text-anchor="middle" class="t">{escape(title)}</text>',
               f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" class="ax"/>',
               f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" class="ax"/>']
        for v in nice_ticks(self.y0, self.y1):
            y = self.py(v)
            out.append(f'<line x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}" class="grid"/>')
            out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{_label(v)}</text>')
        if x_ticks:
            for v in nice_ticks(self.x0, self.x1):
                x = self.px(v)
                out.append(f'<text x="{x:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">{_label(v)}</text>')
        out.append(f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{H - 8}" text-anchor="middle">{escape(x_label)}</text>')
        out.append(f'<text x="14" y="{(PAD_T + H - PAD_B) / 2}" text-anchor="middle" '
                   f'transform="rotate(-90 14 {(PAD_T + H - PAD_B) / 2})">{escape(y_label)}</text>')
        return out


def _svg(body: list[str], label: str, width: int = W) -> str:
    return (f'<svg viewBox="0 0 {W} {H}" width="{width}" height="{round(H * width / W)}" '
            f'role="img" aria-label="{escape(label)}">' + "".join(body) + "</svg>")


def _finite(xs: Sequence[Any] | None) -> list[float]:
    return [float(v) for v in xs or () if isinstance(v, (int, float)) and math.isfinite(v)]


def extent(series: Sequence[Mapping[str, Any]]) -> tuple[float, float, float, float] | None:
    """(x min, x max, y min, y max) over every series and band, or None without data."""
    xs = [v for s in series for v in _finite(s.get("x"))]
    ys = [v for s in series for key in ("y", "lo", "hi") for v in _finite(s.get(key))]
    return (min(xs), max(xs), min(ys), max(ys)) if xs and ys else None


def line_chart(series: Sequence[Mapping[str, Any]], title: str, x_label: str, y_label: str,
               *, within: tuple[float, float, float, float] | None = None,
               width: int = W) -> str:
    """Lines ``{"label", "x", "y", "lo"?, "hi"?, "colour"?}``; ``lo``/``hi`` draw a shaded
    band. ``within``: fixed axes (``extent`` of several charts, so small multiples share a
    scale); ``width``: the drawn width in pixels (the same drawing, scaled)."""
    box = within or extent(series)
    if box is None or not any(_finite(s.get("y")) for s in series):
        return ""
    f = _Frame(*box)
    body = f.axes(title, x_label, y_label)
    for i, s in enumerate(series):
        c = str(s.get("colour") or color(i))
        x, y = s.get("x") or [], s.get("y") or []
        lo, hi = s.get("lo"), s.get("hi")
        if lo and hi:
            upper = [f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x, hi, strict=False)]
            lower = [f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x, lo, strict=False)]
            body.append(f'<polygon points="{" ".join(upper + lower[::-1])}" fill="{c}" '
                        f'fill-opacity="0.18" stroke="none"/>')
        pts = " ".join(f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x, y, strict=False))
        body.append(f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="1.6"/>')
        ly = PAD_T + 6 + 16 * i
        body.append(f'<rect x="{W - PAD_R - 150}" y="{ly}" width="12" height="3" fill="{c}"/>')
        body.append(f'<text x="{W - PAD_R - 132}" y="{ly + 5}">{escape(str(s.get("label")))}</text>')
    return _svg(body, title, width)


def bar_chart(bars: Sequence[Mapping[str, Any]], title: str, y_label: str) -> str:
    """Bars ``{"label", "value", "lo"?, "hi"?}``; ``lo``/``hi`` draw a whisker."""
    vals = [v for b in bars for key in ("value", "hi") for v in _finite([b.get(key)])]
    if not vals:
        return ""
    f = _Frame(0, len(bars), 0, max(vals), pad_low=False)
    body = f.axes(title, "", y_label, x_ticks=False)
    slot = (W - PAD_L - PAD_R) / len(bars)
    for i, b in enumerate(bars):
        v = b.get("value")
        cx = PAD_L + slot * (i + 0.5)
        body.append(f'<text x="{cx:.1f}" y="{H - PAD_B + 16}" text-anchor="middle">'
                    f'{escape(str(b.get("label")))}</text>')
        if not isinstance(v, (int, float)):
            continue
        top, base = f.py(v), f.py(0)
        bw = slot * 0.5
        body.append(f'<rect x="{cx - bw / 2:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                    f'height="{max(0.0, base - top):.1f}" fill="{color(i)}" fill-opacity="0.8"/>')
        lo, hi = b.get("lo"), b.get("hi")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
            y_lo, y_hi = f.py(lo), f.py(hi)
            body += [f'<line x1="{cx:.1f}" y1="{y_lo:.1f}" x2="{cx:.1f}" y2="{y_hi:.1f}" class="wh"/>',
                     f'<line x1="{cx - 8:.1f}" y1="{y_lo:.1f}" x2="{cx + 8:.1f}" y2="{y_lo:.1f}" class="wh"/>',
                     f'<line x1="{cx - 8:.1f}" y1="{y_hi:.1f}" x2="{cx + 8:.1f}" y2="{y_hi:.1f}" class="wh"/>']
        body.append(f'<text x="{cx + 12:.1f}" y="{top - 4:.1f}">{_label(v)}</text>')  # beside the whisker
    return _svg(body, title)
