"""Small, dependency-free statistics: EMA, percentiles, Student's t distribution, Welch's test.

Plain Python over sequences of floats: the monitor does not depend on numpy or scipy, and
the few distribution functions it needs (t tail and quantile) are short. Intervals and
power built on them are in ``abtui.compare.inference``; resampling in ``resample``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from abtui.infra.numeric import numpy

CONFIDENCE = 0.95


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
    return list(ema_iter(values, alpha))


def ema_iter(values: Iterable[float], alpha: float) -> Iterator[float]:
    """``ema`` one value at a time (a caller looking for a crossing stops early)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    keep = 1.0 - alpha
    acc = 0.0
    weight = 0.0
    for v in values:
        acc = keep * acc + alpha * v
        weight = keep * weight + alpha
        yield acc / weight


def ema_last(values: Sequence[float], alpha: float) -> float:
    """``ema(values, alpha)[-1]`` without the loop: the weighted sum in closed form,
    vectorised (equal up to rounding; weights under 1e-300 are zero in both)."""
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    n = len(values)
    if n <= 1000:
        return ema(list(values), alpha)[-1]
    np = numpy()
    keep = 1.0 - alpha
    # only the values whose weight keep**age is not negligible (beyond 1e-300: zero)
    span = min(n, int(math.ceil(-690.0 / math.log(keep))) + 1 if keep > 0 else 1)
    tail = np.asarray(values, dtype=float)[n - span:]
    weights = keep ** np.arange(span - 1, -1, -1, dtype=float)
    total = 1.0 - keep ** n
    return float(alpha * np.dot(weights, tail) / total)


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


def t_pdf(t: float, df: float) -> float:
    """Density of Student's t with ``df`` degrees of freedom."""
    log_c = (math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi))
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


@lru_cache(maxsize=4096)
def t_ppf(q: float, df: float) -> float:
    """Quantile of Student's t with ``df`` degrees of freedom (inverse of ``1 - t_sf``).

    Newton's method on the upper tail from t = 0: the tail is convex and decreasing for
    t > 0, so every step lands at or left of the root and the iteration cannot overshoot.
    """
    if not 0 < q < 1 or not df > 0:
        raise ValueError(f"t_ppf needs 0 < q < 1 and df > 0, got q={q}, df={df}")
    if q == 0.5:
        return 0.0
    if q < 0.5:
        return -t_ppf(1.0 - q, df)
    tail = 1.0 - q
    t = 0.0
    for _ in range(500):
        step = (t_sf(t, df) - tail) / t_pdf(t, df)
        t += step
        if abs(step) <= 1e-13 * max(1.0, abs(t)):
            break
    return t


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
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least two values per sample")
    ma, mb = mean(a), mean(b)
    se, df = welch_se_df(a, b)
    if se == 0:
        if ma == mb:
            return WelchTest(0.0, math.nan, 1.0)
        return WelchTest(math.copysign(math.inf, ma - mb), math.nan, 0.0)
    t = (ma - mb) / se
    p = 2.0 * t_sf(abs(t), df)
    return WelchTest(t, df, min(1.0, p))


def welch_se_df(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Welch's standard error of mean(a) - mean(b) and its Satterthwaite degrees of
    freedom (nan when the error is 0); two values or more on each side."""
    na, nb = len(a), len(b)
    va, vb = variance(a) / na, variance(b) / nb
    se2 = va + vb
    if se2 == 0:
        return 0.0, math.nan
    return math.sqrt(se2), se2 * se2 / (va * va / (na - 1) + vb * vb / (nb - 1))
