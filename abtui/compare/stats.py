"""Small, dependency-free statistics: EMA, percentiles, Welch's t-test, bootstrap intervals.

Everything is plain Python over sequences of floats (the monitor does not depend on numpy
or scipy). Random resampling uses ``random.Random(seed)`` so a report is reproducible:
the same run directory always gives the same intervals.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CONFIDENCE = 0.95
RESAMPLES = 4000
SEED = 0
BLOCK_MAX_POINTS = 400  # longer series are averaged in consecutive groups first (speed)

Statistic = Callable[[Sequence[float]], float]


# ---- descriptive -----------------------------------------------------------------------
def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (ValueError when empty)."""
    if not values:
        raise ValueError("mean of no values")
    return math.fsum(values) / len(values)


def variance(values: Sequence[float]) -> float:
    """Sample variance with n - 1 in the denominator (0 for a single value)."""
    n = len(values)
    if n < 2:
        return 0.0
    m = mean(values)
    return math.fsum((v - m) ** 2 for v in values) / (n - 1)


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1)."""
    return math.sqrt(variance(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100), linear interpolation between order statistics.

    Same definition as numpy's default (``method="linear"``).
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    frac = pos - lo
    return s[lo] + (s[hi] - s[lo]) * frac


def median(values: Sequence[float]) -> float:
    """The 50th percentile."""
    return percentile(values, 50.0)


def ema(values: Sequence[float], alpha: float) -> list[float]:
    """Bias-corrected exponential moving average; ``alpha`` is the weight of each new value.

    The average starts from zero and is divided by the total weight so far (as Adam does),
    so the first points are plain weighted means instead of being pinned to the first value.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    keep = 1.0 - alpha
    acc = 0.0
    weight = 0.0
    out: list[float] = []
    for v in values:
        acc = keep * acc + alpha * v
        weight = keep * weight + alpha
        out.append(acc / weight)
    return out


# ---- Student t distribution via the regularized incomplete beta function ------------------
def _beta_cf(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b) (modified Lentz, as in Numerical Recipes)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if a <= 0 or b <= 0:
        raise ValueError("betainc needs a > 0 and b > 0")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t with ``df`` degrees of freedom."""
    if math.isnan(t) or df <= 0:
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return tail if t > 0 else 1.0 - tail


@dataclass(frozen=True)
class WelchTest:
    """Welch's unequal-variance t-test of mean(a) - mean(b); two-sided p-value."""

    t: float
    df: float
    p_value: float


def welch_t_test(a: Sequence[float], b: Sequence[float]) -> WelchTest:
    """Welch's t-test, two-sided; same convention as ``scipy.stats.ttest_ind(a, b, equal_var=False)``.

    Needs at least two values on each side. When both samples have zero variance the test
    is degenerate: p is 1 if the means are equal and 0 otherwise.
    """
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        raise ValueError("Welch's t-test needs at least two values per sample")
    ma, mb = mean(a), mean(b)
    va, vb = variance(a) / na, variance(b) / nb
    se2 = va + vb
    if se2 == 0:
        if ma == mb:
            return WelchTest(0.0, math.nan, 1.0)
        return WelchTest(math.copysign(math.inf, ma - mb), math.nan, 0.0)
    t = (ma - mb) / math.sqrt(se2)
    df = se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1))
    p = 2.0 * t_sf(abs(t), df)
    return WelchTest(t, df, min(1.0, p))


# ---- bootstrap ---------------------------------------------------------------------------
def _interval(stats: list[float], confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0 * 100.0
    finite = [s for s in stats if math.isfinite(s)]
    if not finite:
        return (math.nan, math.nan)
    return (percentile(finite, tail), percentile(finite, 100.0 - tail))


def bootstrap_ci(values: Sequence[float], statistic: Statistic = mean, *,
                 resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                 seed: int = SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic`` over one sample (resampled with replacement)."""
    if not values:
        raise ValueError("bootstrap of no values")
    rng = random.Random(seed)
    n = len(values)
    stats = [statistic(rng.choices(values, k=n)) for _ in range(resamples)]
    return _interval(stats, confidence)


def bootstrap_two_sample_ci(a: Sequence[float], b: Sequence[float],
                            statistic: Callable[[Sequence[float], Sequence[float]], float], *,
                            resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                            seed: int = SEED) -> tuple[float, float]:
    """Percentile-bootstrap interval of ``statistic(a, b)``, each sample resampled independently.

    This is what ``scipy.stats.bootstrap((a, b), statistic, paired=False,
    method="percentile")`` computes (with its own random numbers).
    """
    if not a or not b:
        raise ValueError("bootstrap of an empty sample")
    rng = random.Random(seed)
    na, nb = len(a), len(b)
    stats = []
    for _ in range(resamples):
        try:
            stats.append(statistic(rng.choices(a, k=na), rng.choices(b, k=nb)))
        except ZeroDivisionError:
            stats.append(math.nan)
    return _interval(stats, confidence)


def block_length(n: int) -> int:
    """Block length of the moving-block bootstrap: about the square root of the series length."""
    return max(1, round(math.sqrt(n)))


def _block_resample(rng: random.Random, doubled: list[float], n: int, length: int) -> list[float]:
    """One circular moving-block resample of the first ``n`` values of ``doubled``
    (the series followed by its first ``length - 1`` values, so blocks wrap around)."""
    rand = rng.random
    out: list[float] = []
    for _ in range(-(-n // length)):
        start = int(rand() * n)  # faster than randrange; n is far below 2**53
        out += doubled[start:start + length]
    del out[n:]
    return out


def coarsen(values: Sequence[float], max_points: int) -> list[float]:
    """``values`` averaged in consecutive groups so that at most ``max_points`` remain."""
    n = len(values)
    if n <= max_points:
        return list(values)
    group = math.ceil(n / max_points)
    return [math.fsum(values[i:i + group]) / len(values[i:i + group]) for i in range(0, n, group)]


def block_bootstrap_two_sample_ci(a: Sequence[float], b: Sequence[float],
                                  statistic: Callable[[Sequence[float], Sequence[float]], float],
                                  *, resamples: int = RESAMPLES // 2,
                                  confidence: float = CONFIDENCE, seed: int = SEED,
                                  max_points: int = BLOCK_MAX_POINTS) -> tuple[float, float]:
    """Percentile interval from a circular moving-block bootstrap of two time series.

    Consecutive records of one run are correlated (a slow phase lasts many records), so
    blocks of about sqrt(n) consecutive records are resampled instead of single records;
    the interval is then wider and more honest than an i.i.d. bootstrap would give.
    A series longer than ``max_points`` is first averaged in consecutive groups (which only
    coarsens the logging interval) to bound the cost.
    """
    if not a or not b:
        raise ValueError("bootstrap of an empty series")
    a, b = coarsen(a, max_points), coarsen(b, max_points)
    rng = random.Random(seed)
    na, nb = len(a), len(b)
    la, lb = block_length(na), block_length(nb)
    da, db = list(a) + list(a[: la - 1]), list(b) + list(b[: lb - 1])
    stats = []
    for _ in range(resamples):
        try:
            stats.append(statistic(_block_resample(rng, da, na, la),
                                   _block_resample(rng, db, nb, lb)))
        except ZeroDivisionError:
            stats.append(math.nan)
    return _interval(stats, confidence)


def block_bootstrap_ci(values: Sequence[float], statistic: Statistic = median, *,
                       resamples: int = RESAMPLES // 2, confidence: float = CONFIDENCE,
                       seed: int = SEED, max_points: int = BLOCK_MAX_POINTS) -> tuple[float, float]:
    """One-series version of ``block_bootstrap_two_sample_ci``."""
    if not values:
        raise ValueError("bootstrap of an empty series")
    values = coarsen(values, max_points)
    rng = random.Random(seed)
    n = len(values)
    length = block_length(n)
    doubled = values + values[: length - 1]
    stats = [statistic(_block_resample(rng, doubled, n, length)) for _ in range(resamples)]
    return _interval(stats, confidence)


def ratio_of_means(a: Sequence[float], b: Sequence[float]) -> float:
    """mean(b) / mean(a): the treatment over the baseline."""
    return mean(b) / mean(a)


def difference_of_means(a: Sequence[float], b: Sequence[float]) -> float:
    """mean(b) - mean(a): the treatment minus the baseline."""
    return mean(b) - mean(a)


def ratio_of_medians(a: Sequence[float], b: Sequence[float]) -> float:
    """median(b) / median(a): the treatment over the baseline."""
    return median(b) / median(a)
