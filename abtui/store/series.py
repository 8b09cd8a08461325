"""Append-only metric series with a bounded, downsampled view.

Raw points live in ``array('d')`` columns (8 bytes each: step, value, time = 24 bytes a
point). Beside them a fixed number of buckets (mean / min / max) is kept up to date on
every append; when the buckets fill up, neighbours merge and the bucket size doubles.
A view for a screen of any width is therefore built from at most ``BUCKETS`` entries:
its cost does not depend on how long the run is.
"""

from __future__ import annotations

import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from types import ModuleType

from abtui import speedups

BUCKETS = 2048


_pack = struct.pack


def _doubles(items: Sequence[float]) -> array:  # type: ignore[type-arg]
    """``items`` as an ``array('d')``, all or nothing, by the fastest route: as is if it is
    one, else one ``struct.pack`` (array's own ``fromlist`` converts items several times
    slower)."""
    if type(items) is array and items.typecode == "d":  # type: ignore[attr-defined]
        return items  # type: ignore[return-value]
    try:
        return array("d", _pack(f"{len(items)}d", *items))
    except struct.error as exc:  # what array.fromlist would have raised
        raise TypeError(f"must be real numbers: {exc}") from None


def _put(column: array, items: Sequence[float]) -> None:  # type: ignore[type-arg]
    """Append ``items`` to ``column`` (memcpy from an array of the same type)."""
    if type(items) is array and items.typecode == column.typecode:  # type: ignore[attr-defined]
        column.extend(items)
    elif column.typecode == "d":
        column.extend(_doubles(items))
    else:
        column.fromlist(list(items))


def _lo_hi(chunk: Sequence[float]) -> tuple[float, float]:
    """``(min(chunk), max(chunk))``, exactly. Sorting compares floats in a specialised C
    loop, faster than ``min`` and ``max`` together; it is stable, so the minimum is the
    first of equal ones as ``min`` gives; for the maximum ``max`` keeps the first of equal
    ones, which can differ only for 0.0 and -0.0: then ask ``max``."""
    if len(chunk) < 16:
        return min(chunk), max(chunk)
    ordered = sorted(chunk)
    hi = ordered[-1]
    return ordered[0], (max(chunk) if hi == 0.0 else hi)


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
                 "_bn", "_size", "_last_step", "shared")

    def __init__(self, clock: tuple[array, array] | None = None) -> None:  # type: ignore[type-arg]
        """``clock``: the arm's step and time columns, for a metric every metric line of
        the arm has carried so far (both empty, or as long as this series). Its steps and
        times are then those very arrays, grown by the arm: ``shared`` until :meth:`detach`.
        """
        self.shared = clock is not None
        if clock is not None:
            self.steps, self.times = clock
        else:
            self.steps = array("d")
            self.times = array("d")
        self.values = array("d")
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

    def detach(self) -> None:
        """Own copies of the shared step and time columns (the arm's clock goes on without
        this metric: a line lacked it)."""
        if self.shared:
            n = len(self.values)
            self.steps, self.times = self.steps[:n], self.times[:n]
            self.shared = False

    def append(self, step: float, value: float, t: float) -> None:
        if not self.shared:  # shared: the arm has appended them to its clock
            self.steps.append(step)
            self.times.append(t)
        self.values.append(value)
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

    def extend(self, steps: Sequence[float], values: Sequence[float], times: Sequence[float]
               ) -> float | None:
        """Append many points at once: the same columns and buckets as ``append`` in a loop.
        Returns the largest value added (None if none were).

        Given ``array('d')`` columns the copies are memcpy, and full buckets are built from
        strided slices in C loops, so a batch costs little Python per point.
        """
        if not len(values):
            return None
        return self._extend(steps, values, _doubles(values), times)

    def _extend(self, steps: Sequence[float], values: Sequence[float],
                packed: array, times: Sequence[float]) -> float | None:  # type: ignore[type-arg]
        """``extend`` with ``values`` already converted to ``packed`` (the same doubles)."""
        c = speedups.native
        if c is not None:  # fold writes C longs, what array('l') holds
            return self._extend_native(c, steps, packed, times)
        n = len(values)
        if not self.shared:
            _put(self.steps, steps)
            _put(self.times, times)
        self.values.extend(packed)
        i = 0
        bn = self._bn
        if bn and bn[-1] < self._size:  # top up the open bucket
            j = len(bn) - 1
            i = min(self._size - bn[j], n)
            chunk = values if i == n else values[:i]
            bn[j] += i
            self._bsum[j] = sum(chunk, self._bsum[j])  # left to right, as appends add up
            lo, top = _lo_hi(chunk)
            if lo < self._bmin[j]:
                self._bmin[j] = lo
            if top > self._bmax[j]:
                self._bmax[j] = top
            if i == n:
                return top
        else:
            top = None
        while i < n:
            if len(self._bn) >= BUCKETS:
                self._merge()
            size = self._size
            m = min((n - i) // size, BUCKETS - len(self._bn))
            if m:  # m full buckets at once: strided slices, C loops
                j = i + m * size
                _put(self._bx, steps[i:j:size])
                _put(self._bt, times[i:j:size])
                if size == 1:
                    chunk = values[i:j]
                    _put(self._bsum, chunk)
                    _put(self._bmin, chunk)
                    _put(self._bmax, chunk)
                    hi = max(chunk)
                else:
                    if size < 32:  # many small buckets: group them with strided slices
                        groups = list(zip(*[values[i + r:j:size] for r in range(size)],
                                          strict=True))
                        self._bmin.fromlist(list(map(min, groups)))
                        his = list(map(max, groups))
                    else:  # few big ones: a contiguous slice each
                        groups = [values[k:k + size] for k in range(i, j, size)]
                        los, his = zip(*map(_lo_hi, groups), strict=True)
                        self._bmin.fromlist(list(los))
                    self._bsum.fromlist(list(map(sum, groups, repeat(-0.0, m))))
                    self._bmax.fromlist(list(his))
                    hi = max(his)
                if top is None or hi > top:
                    top = hi
                self._bn.fromlist([size] * m)
                i = j
                continue
            chunk = values[i:]  # the last, partial bucket
            self._bx.append(steps[i])
            self._bt.append(times[i])
            self._bsum.append(sum(chunk, -0.0))  # -0.0: the identity, even for -0.0
            lo, hi = _lo_hi(chunk)
            self._bmin.append(lo)
            self._bmax.append(hi)
            self._bn.append(n - i)
            if top is None or hi > top:
                top = hi
            i = n
        return top

    def _extend_native(self, c: ModuleType, steps: Sequence[float],
                       packed: array, times: Sequence[float]) -> float:  # type: ignore[type-arg]
        """``_extend`` with the buckets folded in C (the same numbers). ``packed``: an
        ``array('d')`` or the bytes of one."""
        if type(packed) is bytes:
            n = len(packed) // 8
            self.values.frombytes(packed)
        else:
            n = len(packed)
            self.values.extend(packed)
        if not self.shared:
            _put(self.steps, steps)
            _put(self.times, times)
        steps, times = _doubles(steps), _doubles(times)  # as they are if already doubles
        i, top = c.fold(self._bx, self._bt, self._bsum, self._bmin, self._bmax, self._bn,
                        packed, steps, times, self._size, BUCKETS, 0)
        while i < n:  # the buckets are full: merge, go on
            self._merge()
            i, hi = c.fold(self._bx, self._bt, self._bsum, self._bmin, self._bmax, self._bn,
                           packed, steps, times, self._size, BUCKETS, i)
            if hi > top:
                top = hi
        return top

    def _merge(self) -> None:
        """Halve the bucket count: neighbours merge, bucket size doubles."""
        def pairs(a: array, op) -> array:  # type: ignore[type-arg]
            out = array(a.typecode, list(map(op, a[0::2], a[1::2])))  # a list: one resize
            if len(a) % 2:
                out.append(a[-1])
            return out

        self._bx = self._bx[0::2]
        self._bt = self._bt[0::2]
        self._size *= 2
        c = speedups.native
        if c is not None:
            for name, col in zip(("_bsum", "_bmin", "_bmax", "_bn"),
                                 c.merge(self._bsum, self._bmin, self._bmax, self._bn),
                                 strict=True):
                setattr(self, name, array(getattr(self, name).typecode, col))
            return
        self._bsum = pairs(self._bsum, float.__add__)
        self._bmin = pairs(self._bmin, min)
        self._bmax = pairs(self._bmax, max)
        self._bn = pairs(self._bn, int.__add__)

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
