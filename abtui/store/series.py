"""Append-only metric series with a bounded, downsampled view.

Raw points live in ``array('d')`` columns (8 bytes each: step, value, time = 24 bytes a
point). Beside them a fixed number of buckets (mean / min / max) is kept up to date on
every append; when the buckets fill up, neighbours merge and the bucket size doubles.
A view for a screen of any width is therefore built from at most ``BUCKETS`` entries:
its cost does not depend on how long the run is.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

BUCKETS = 2048


@dataclass(frozen=True, slots=True)
class View:
    """Points ready to plot: at most ``width`` of them."""

    x: list[float]
    y: list[float]
    lo: list[float]
    hi: list[float]


class Series:
    """One metric of one arm."""

    __slots__ = ("steps", "values", "times", "_bx", "_bt", "_bsum", "_bmin", "_bmax",
                 "_bn", "_size", "_last_step")

    def __init__(self) -> None:
        self.steps = array("d")
        self.values = array("d")
        self.times = array("d")
        self._bx = array("d")    # first step of each bucket
        self._bt = array("d")    # first time of each bucket
        self._bsum = array("d")
        self._bmin = array("d")
        self._bmax = array("d")
        self._bn = array("l")
        self._size = 1           # points per full bucket
        self._last_step = -math.inf

    def __len__(self) -> int:
        return len(self.values)

    def append(self, step: float, value: float, t: float) -> None:
        self.steps.append(step)
        self.values.append(value)
        self.times.append(t)
        bn = self._bn
        if bn and bn[-1] < self._size:
            i = len(bn) - 1
            bn[i] += 1
            self._bsum[i] += value
            if value < self._bmin[i]:
                self._bmin[i] = value
            if value > self._bmax[i]:
                self._bmax[i] = value
        else:
            if len(bn) >= BUCKETS:
                self._merge()
            self._bx.append(step)
            self._bt.append(t)
            self._bsum.append(value)
            self._bmin.append(value)
            self._bmax.append(value)
            self._bn.append(1)  # not ``bn``: _merge may have replaced the array

    def _merge(self) -> None:
        """Halve the bucket count: neighbours merge, bucket size doubles."""
        def pairs(a: array, op) -> array:  # type: ignore[type-arg]
            out = array(a.typecode, (op(a[i], a[i + 1]) if i + 1 < len(a) else a[i]
                                     for i in range(0, len(a), 2)))
            return out

        first = lambda a, b: a  # noqa: E731
        self._bx = pairs(self._bx, first)
        self._bt = pairs(self._bt, first)
        self._bsum = pairs(self._bsum, float.__add__)
        self._bmin = pairs(self._bmin, min)
        self._bmax = pairs(self._bmax, max)
        self._bn = pairs(self._bn, int.__add__)
        self._size *= 2

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def view(self, width: int, by_time: bool = False, smoothing: float = 0.0,
             t0: float = 0.0) -> View:
        """At most ``width`` points (bucket means, with min/max), EMA-smoothed if asked.

        ``smoothing`` is the EMA weight of the past per raw point (0 = raw, 0.99 = heavy);
        it is adjusted for bucket size, so the curve looks the same at every zoom.
        """
        n = len(self._bn)
        width = max(1, width)
        xs_src = self._bt if by_time else self._bx
        group = max(1, math.ceil(n / width))
        x: list[float] = []
        y: list[float] = []
        lo: list[float] = []
        hi: list[float] = []
        bsum, bn, bmin, bmax = self._bsum, self._bn, self._bmin, self._bmax
        for i in range(0, n, group):
            j = min(n, i + group)
            cnt = sum(bn[i:j])
            x.append(xs_src[i] - t0 if by_time else xs_src[i])
            y.append(sum(bsum[i:j]) / cnt)
            lo.append(min(bmin[i:j]))
            hi.append(max(bmax[i:j]))
        if smoothing > 0 and y:
            per_point = max(1.0, len(self.values) / len(y))
            keep = smoothing ** per_point
            acc = y[0]
            for k in range(len(y)):
                acc = keep * acc + (1 - keep) * y[k]
                y[k] = acc
        return View(x, y, lo, hi)
