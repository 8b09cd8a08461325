"""Within-run uncertainty with one run per arm: a circular moving-block bootstrap.

With n = 1 there is no run-to-run variation to measure, so nothing here is a verdict: the
interval says how precisely one run's own records pin down its figure, labelled as
"within-run noise only". Consecutive records are correlated (a slow phase lasts many of
them), so blocks of about sqrt(n) records are resampled rather than single records.

The interval is built on the log scale around the point estimate (estimate x / exp(z * se),
se from the bootstrap), so the point estimate is always inside it. The resampled statistic
is the point estimate's own statistic: for time-weighted throughput the series are
(work, time) pairs, and coarsening long series sums them in groups, which leaves the
statistic unchanged. Random numbers come from ``random.Random(SEED)``: the same run
directory always gives the same interval.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from abtui.compare import stats
from abtui.infra.numeric import numpy

RESAMPLES = 1000
SEED = 0
MAX_BLOCKS = 400  # longer series are merged in consecutive groups first (bounds the cost)
Z_975 = 1.959963984540054

Pairs = tuple[Sequence[float], Sequence[float]]  # (work, time) per record
Statistic = Callable[[Sequence[float], Sequence[float]], float]


def _total(values: Sequence[float]) -> float:
    # numpy's pairwise sum for an array (a long steady state: one C loop, error ~ log n
    # ulps); fsum, exact, for the short lists of a coarsened series
    return float(values.sum()) if hasattr(values, "sum") else math.fsum(values)


def rate(work: Sequence[float], time: Sequence[float]) -> float:
    """Time-weighted rate: all the work over all the time."""
    total = _total(time)
    return _total(work) / total if total > 0 else math.nan


def coarsen_pairs(work: Sequence[float], time: Sequence[float],
                  max_points: int = MAX_BLOCKS) -> tuple[list[float], list[float]]:
    """Consecutive records summed in groups so that at most ``max_points`` remain (the
    rate of the whole is unchanged: it is a ratio of sums)."""
    n = len(work)
    if n <= max_points:
        return list(map(float, work)), list(map(float, time))
    np = numpy()
    starts = np.arange(0, n, math.ceil(n / max_points))
    return (np.add.reduceat(np.asarray(work, dtype=float), starts).tolist(),
            np.add.reduceat(np.asarray(time, dtype=float), starts).tolist())


def _block_starts(rng: random.Random, n: int, length: int) -> list[int]:
    return [int(rng.random() * n) for _ in range(-(-n // length))]


def log_se(series: Sequence[Pairs], statistic: Statistic, *, resamples: int = RESAMPLES,
           seed: int = SEED, block: int | None = None) -> float | None:
    """Bootstrap standard error of log(statistic(b) / statistic(a)) over the given runs'
    (work, time) series, each resampled in circular blocks of about sqrt(n) records.

    ``series`` is one pair of sequences per side: [(work_a, time_a), (work_b, time_b)]
    (a single side gives the se of log(statistic)). None with fewer than 4 records a side.
    ``block`` fixes the block length (1: the i.i.d. bootstrap, for comparison).
    """
    prepared = [coarsen_pairs(w, t) for w, t in series]
    if any(len(w) < 4 for w, _ in prepared):
        return None
    np = numpy()
    rng = random.Random(seed)
    # the block starts drawn in the order the one-resample-at-a-time loop drew them (so
    # the same run directory gives the same interval); the gathering is numpy's
    starts: list[list[list[int]]] = [[] for _ in prepared]
    lengths = [block or max(1, round(math.sqrt(len(w)))) for w, _ in prepared]
    for _ in range(resamples):
        for side, (w, _t) in enumerate(prepared):
            starts[side].append(_block_starts(rng, len(w), lengths[side]))
    vals: list[Any] = []
    for side, (w, t) in enumerate(prepared):
        n, length = len(w), lengths[side]
        first = np.asarray(starts[side], dtype=np.int64)  # resamples x blocks
        idx = ((first[:, :, None] + np.arange(length)) % n).reshape(resamples, -1)[:, :n]
        wa, ta = np.asarray(w), np.asarray(t)
        if statistic is rate:
            tw = ta[idx].sum(axis=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                vals.append(np.where(tw > 0, wa[idx].sum(axis=1) / tw, np.nan))
        else:
            vals.append(np.array([statistic(wa[row].tolist(), ta[row].tolist()) for row in idx]))
    ok = np.ones(resamples, dtype=bool)
    for v in vals:
        ok &= (v > 0) & np.isfinite(v)
    if int(ok.sum()) < resamples // 2:
        return None
    logs = np.log(vals[-1][ok]) - (np.log(vals[0][ok]) if len(vals) > 1 else 0.0)
    return stats.stdev(logs.tolist())


def within_run_interval(point: float, se: float) -> tuple[float, float]:
    """The 95 % interval point x / exp(1.96 se): the point is always inside it."""
    half = Z_975 * se
    return point * math.exp(-half), point * math.exp(half)
