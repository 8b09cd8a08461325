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

from abtui.compare import stats

RESAMPLES = 1000
SEED = 0
MAX_BLOCKS = 400  # longer series are merged in consecutive groups first (bounds the cost)
Z_975 = 1.959963984540054

Pairs = tuple[Sequence[float], Sequence[float]]  # (work, time) per record
Statistic = Callable[[Sequence[float], Sequence[float]], float]


def rate(work: Sequence[float], time: Sequence[float]) -> float:
    """Time-weighted rate: all the work over all the time."""
    total = math.fsum(time)
    return math.fsum(work) / total if total > 0 else math.nan


def coarsen_pairs(work: Sequence[float], time: Sequence[float],
                  max_points: int = MAX_BLOCKS) -> tuple[list[float], list[float]]:
    """Consecutive records summed in groups so that at most ``max_points`` remain (the
    rate of the whole is unchanged: it is a ratio of sums)."""
    n = len(work)
    if n <= max_points:
        return list(work), list(time)
    g = math.ceil(n / max_points)
    return ([math.fsum(work[i:i + g]) for i in range(0, n, g)],
            [math.fsum(time[i:i + g]) for i in range(0, n, g)])


def _block_indices(rng: random.Random, n: int, length: int) -> list[int]:
    out: list[int] = []
    rand = rng.random
    for _ in range(-(-n // length)):
        start = int(rand() * n)
        out.extend((start + k) % n for k in range(length))
    del out[n:]
    return out


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
    rng = random.Random(seed)
    logs: list[float] = []
    for _ in range(resamples):
        vals = []
        for w, t in prepared:
            n = len(w)
            idx = _block_indices(rng, n, block or max(1, round(math.sqrt(n))))
            vals.append(statistic([w[i] for i in idx], [t[i] for i in idx]))
        if all(v > 0 and math.isfinite(v) for v in vals):
            logs.append(math.log(vals[-1]) - (math.log(vals[0]) if len(vals) > 1 else 0.0))
    if len(logs) < resamples // 2:
        return None
    return stats.stdev(logs)


def within_run_interval(point: float, se: float) -> tuple[float, float]:
    """The 95 % interval point x / exp(1.96 se): the point is always inside it."""
    half = Z_975 * se
    return point * math.exp(-half), point * math.exp(half)
