"""Append-only metric series with a bounded, downsampled view.

Raw points live in ``array('d')`` columns (8 bytes each; the step and time columns are
shared by the metrics an arm logs together, see :class:`abtui.store.run.RunState`).
Appending only grows them: that is all ingest pays. Beside them a bounded set of buckets
(first step and time, sum, min, max) is folded lazily, with numpy, when someone looks
(a chart's view, a report's curve, the peak): at most ``BUCKETS`` buckets, each of
``size`` points, ``size`` the smallest power of two that keeps the count in bounds.

The buckets are a function of the raw points alone: however the points arrived (one at a
time, in batches, from a snapshot) and whenever the fold ran, the same points give the
same buckets, bit for bit. That is why a bucket is always summed from its raw points
(never from two halves) and a size change folds again from the raw columns (at most
log2(n / BUCKETS) times over a run: about 2n point reads in all).
"""

from __future__ import annotations

import bisect
import math
import struct
import threading
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.infra.numeric import numpy as _numpy

BUCKETS = 2048

_pack = struct.pack
# Folds run on reader threads (the console, the report); one at a time is plenty
_FOLD = threading.Lock()
def doubles(items: Sequence[float]) -> array:
    """``items`` as an ``array('d')``, all or nothing, by the fastest route: as is if it is
    one, else one ``struct.pack`` (array's own ``fromlist`` converts items several times
    slower)."""
    if type(items) is array and items.typecode == "d":
        return items
    try:
        return array("d", _pack(f"{len(items)}d", *items))
    except struct.error as exc:  # what array.fromlist would have raised
        raise TypeError(f"must be real numbers: {exc}") from None


@dataclass(frozen=True, slots=True)
class View:
    """Points ready to plot: at most ``width`` of them."""

    x: list[float]
    y: list[float]
    lo: list[float]
    hi: list[float]


@dataclass(slots=True)
class _Buckets:
    """The complete buckets folded so far (``count`` of them, ``size`` points each)."""

    size: int
    count: int = 0
    x: array = field(default_factory=lambda: array("d"))
    t: array = field(default_factory=lambda: array("d"))
    sum: array = field(default_factory=lambda: array("d"))
    min: array = field(default_factory=lambda: array("d"))
    max: array = field(default_factory=lambda: array("d"))
    peak: float | None = None  # the largest value in the complete buckets


@dataclass(frozen=True, slots=True)
class Folded:
    """Every bucket of a series at one moment: the complete ones and the open last one,
    as numpy arrays (what :meth:`Series.folded` gives readers that want to vectorise)."""

    size: int
    x: Any
    t: Any
    sum: Any
    min: Any
    max: Any
    n: Any  # points per bucket (int64)


def bucket_size(n: int) -> int:
    """Points per bucket for a series of ``n`` points."""
    size = 1
    while n > BUCKETS * size:
        size *= 2
    return size


class Series:
    """One metric of one arm."""

    __slots__ = ("steps", "values", "times", "shared", "_b")

    def __init__(self, clock: tuple[array, array] | None = None) -> None:
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
        self._b: _Buckets | None = None

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

    def extend(self, steps: Sequence[float], values: Sequence[float], times: Sequence[float]
               ) -> float | None:
        """Append many points at once (the same columns as ``append`` in a loop). Returns
        the largest value added (None if none were); non-numbers: TypeError, nothing added.
        """
        if not len(values):
            return None
        packed = doubles(values)
        self.put(steps, packed, times)
        return max(packed)

    def put(self, steps: Sequence[float], values: array, times: Sequence[float]) -> None:
        """``extend`` for values already in an ``array('d')`` (memcpy; no maximum)."""
        if not self.shared:
            self.steps.extend(doubles(steps))
            self.times.extend(doubles(times))
        self.values.extend(values)

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None

    def at_step(self, step: float) -> tuple[float, float, float] | None:
        """The last point at or before ``step``: (step, value, receive time); None if the
        series starts after it. A binary search: the console's cursor reads it per repaint."""
        n = len(self.values)
        i = bisect.bisect_right(self.steps, step, 0, n) - 1
        if i < 0:
            return None
        return self.steps[i], self.values[i], self.times[i]

    def arrays(self, which: str = "svt") -> tuple[Any, ...]:
        """Copies of the steps (``s``), values (``v``) and times (``t``) as numpy arrays,
        in the order ``which`` names them, as long as each other (safe while the ingest
        thread appends: each slice is copied under the GIL)."""
        np = _numpy()
        n = len(self.values)
        cols = {"s": self.steps, "v": self.values, "t": self.times}
        return tuple(np.frombuffer(cols[c][:n], dtype=np.float64) for c in which)

    # ---- the buckets ----------------------------------------------------------------------

    def _fold(self, n: int) -> _Buckets:
        """The complete buckets of the first ``n`` points, folded up to date (``_FOLD`` held)."""
        size = bucket_size(n)
        b = self._b
        if b is not None and b.size > size:  # another reader folded more points already
            return b
        if b is None or b.size != size:
            b = _Buckets(size)
        m = n // size
        if m > b.count:
            np = _numpy()
            lo, hi = b.count * size, m * size
            # a slice is a copy made under the GIL: the ingest thread may go on growing
            # the column (numpy never holds a view of it, which would block the resize)
            rows = np.frombuffer(self.values[lo:hi], dtype=np.float64).reshape(-1, size)
            b.x.extend(self.steps[lo:hi:size])
            b.t.extend(self.times[lo:hi:size])
            b.sum.frombytes(rows.sum(axis=1).tobytes())
            b.min.frombytes(rows.min(axis=1).tobytes())
            top = rows.max(axis=1)
            b.max.frombytes(top.tobytes())
            peak = float(top.max())
            if b.peak is None or peak > b.peak:
                b.peak = peak
            b.count = m
        self._b = b
        return b

    def folded(self) -> Folded:
        """Every bucket of the series as it is now, the open last one included."""
        np = _numpy()
        n = len(self.values)
        with _FOLD:  # copies: a later fold may grow the cache's arrays
            b = self._fold(n)
            x, t, s, lo, hi = (np.array(a, dtype=np.float64)
                               for a in (b.x, b.t, b.sum, b.min, b.max))
            size, count = b.size, b.count
        counts = np.full(count, size, dtype=np.int64)
        b = _Buckets(size, count)
        f64 = np.float64
        start = b.count * b.size
        if start < n:  # the open bucket, from its raw points
            tail = np.frombuffer(self.values[start:n], f64)
            x = np.append(x, self.steps[start])
            t = np.append(t, self.times[start])
            s = np.append(s, tail.sum())
            lo = np.append(lo, tail.min())
            hi = np.append(hi, tail.max())
            counts = np.append(counts, n - start)
        return Folded(size, x, t, s, lo, hi, counts)

    @property
    def peak(self) -> float | None:
        """The largest value (None when empty)."""
        n = len(self.values)
        if not n:
            return None
        with _FOLD:
            b = self._fold(n)
            peak, start = b.peak, b.count * b.size
        tail = max(self.values[start:n]) if start < n else None
        if peak is None:
            return tail
        return peak if tail is None or peak >= tail else tail

    # what the buckets were as columns (tests and tools read them; the cache is not stored)
    @property
    def _size(self) -> int:
        return bucket_size(len(self.values))

    def _column(self, name: str) -> array:
        f = self.folded()
        return array("l" if name == "n" else "d", getattr(f, name).tolist())

    _bx = property(lambda self: self._column("x"))
    _bt = property(lambda self: self._column("t"))
    _bsum = property(lambda self: self._column("sum"))
    _bmin = property(lambda self: self._column("min"))
    _bmax = property(lambda self: self._column("max"))
    _bn = property(lambda self: self._column("n"))

    def view(self, width: int, by_time: bool = False, smoothing: float = 0.0,
             t0: float = 0.0) -> View:
        """At most ``width`` points (bucket means, with min/max), EMA-smoothed if asked.

        ``smoothing`` is the EMA weight of the past per raw point (0 = raw, 0.99 = heavy);
        it is adjusted for bucket size, so the curve looks the same at every zoom.
        """
        if not len(self.values):
            return View([], [], [], [])
        np = _numpy()
        f = self.folded()
        nb = len(f.n)
        group = max(1, math.ceil(nb / max(1, width)))
        at = np.arange(0, nb, group)
        xs = (f.t[at] - t0) if by_time else f.x[at]
        y = (np.add.reduceat(f.sum, at) / np.add.reduceat(f.n, at)).tolist()
        lo = np.minimum.reduceat(f.min, at).tolist()
        hi = np.maximum.reduceat(f.max, at).tolist()
        if smoothing > 0 and y:
            per_point = max(1.0, len(self.values) / len(y))
            keep = smoothing ** per_point
            acc = y[0]
            for k in range(len(y)):
                acc = keep * acc + (1 - keep) * y[k]
                y[k] = acc
        return View(xs.tolist(), y, lo, hi)
