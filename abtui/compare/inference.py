"""Intervals that cover at small n, power and the minimum detectable effect, Holm's method.

With replicates every per-run value is one observation, and the comparison is a two-sample
t procedure: Welch–Satterthwaite on log values for ratios (an interval on the ratio of
geometric means) and on raw values for deltas. The interval, the p-value and
"significant" all come from the same t statistic, so they cannot disagree, and the point
estimate is the centre of its interval. A t interval is exact under normality at any n ≥ 2
and robust to moderate skew; a bootstrap over 2–10 runs is not calibrated (its percentile
intervals are far too narrow at such n), so none is used for replicates.

When one side has a single run, Welch has no variance for it; the pooled-variance t (the
other side's spread stands for both, df = na + nb - 2) is used and says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from abtui.compare import stats

ALPHA = 0.05
POWER = 0.80
MAX_REPLICATES = 1000  # "replicates needed" searches up to this many runs per arm


@dataclass(frozen=True)
class Inference:
    """A two-sample estimate on the analysis scale (log for ratios) and what follows from it.

    ``estimate``, ``lo`` and ``hi`` are on the natural scale (a ratio or a delta);
    ``sd`` is the run-to-run standard deviation on the analysis scale (pooled).
    """

    estimate: float
    lo: float
    hi: float
    p_value: float
    df: float
    se: float
    sd: float | None
    method: str
    n_a: int
    n_b: int
    log: bool

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA


def _to_natural(x: float, log: bool) -> float:
    return math.exp(x) if log else x


def _exact(d: float, df: float, method: str, na: int, nb: int, log: bool) -> Inference:
    """No spread at all: the difference is exact (p 1 when it is 0, else 0)."""
    nat = _to_natural(d, log)
    return Inference(nat, nat, nat, 1.0 if d == 0 else 0.0, df, 0.0, 0.0, method, na, nb, log)


def two_sample(a: Sequence[float], b: Sequence[float], *, log: bool,
               confidence: float = stats.CONFIDENCE) -> Inference | None:
    """The t interval and test of b against a (b / a for ``log``, b - a otherwise).

    None when the data cannot support one: fewer than 2 values in all, or non-positive
    values for a ratio. Needs at least one value on each side; with one value on a side the
    pooled-variance t is used.
    """
    na, nb = len(a), len(b)
    if na < 1 or nb < 1 or na + nb < 3:
        return None
    if log:
        if any(v <= 0 for v in (*a, *b)):
            return None
        a, b = [math.log(v) for v in a], [math.log(v) for v in b]
    ma, mb = stats.mean(a), stats.mean(b)
    d = mb - ma
    va, vb = stats.variance(a), stats.variance(b)
    pooled_sd = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    if na >= 2 and nb >= 2:
        se, df = stats.welch_se_df(a, b)
        if se == 0:
            df = float(na + nb - 2)
        method = "Welch t"
    else:
        se = pooled_sd * math.sqrt(1 / na + 1 / nb)
        df = float(na + nb - 2)
        method = "pooled-variance t (one side has a single run)"
    method += " on log values (ratio of geometric means)" if log else " on values"
    if se == 0:  # every run of both arms gave the same value: a difference is exact
        return _exact(d, df, method, na, nb, log)
    t = d / se
    p = min(1.0, 2.0 * stats.t_sf(abs(t), df))
    half = stats.t_ppf(0.5 + confidence / 2, df) * se
    return Inference(_to_natural(d, log), _to_natural(d - half, log), _to_natural(d + half, log),
                     p, df, se, pooled_sd, method, na, nb, log)


def paired(a: Sequence[float], b: Sequence[float], *, log: bool,
           confidence: float = stats.CONFIDENCE) -> Inference | None:
    """The paired t interval and test of b against a, pair by pair (``a[i]`` and ``b[i]``
    ran with one seed in one time slot: the design pairs them, before any data is seen).

    The differences (of logs for ratios) are one sample, df = n - 1. ``sd`` is reported as
    the per-run spread that gives the same standard error in the two-sample formulas (the
    differences' sd over sqrt 2), so ``detectable`` and ``replicates_needed`` apply as they
    are. None with fewer than 2 pairs, or non-positive values for a ratio.
    """
    n = min(len(a), len(b))
    if n < 2 or len(a) != len(b):
        return None
    if log:
        if any(v <= 0 for v in (*a, *b)):
            return None
        a, b = [math.log(v) for v in a], [math.log(v) for v in b]
    d = [y - x for x, y in zip(a, b, strict=True)]
    md = stats.mean(d)
    sd_d = math.sqrt(stats.variance(d))
    se = sd_d / math.sqrt(n)
    df = float(n - 1)
    method = "paired t" + (" on log values (ratio of geometric means)" if log else " on values")
    if se == 0:  # every pair differs by the same amount: no spread measured
        return _exact(md, df, method, n, n, log)
    t = md / se
    p = min(1.0, 2.0 * stats.t_sf(abs(t), df))
    half = stats.t_ppf(0.5 + confidence / 2, df) * se
    return Inference(_to_natural(md, log), _to_natural(md - half, log),
                     _to_natural(md + half, log), p, df, se, sd_d / math.sqrt(2), method, n, n,
                     log)


def detectable(sd: float, n_a: int, n_b: int, *, alpha: float = ALPHA,
               power: float = POWER) -> float | None:
    """The smallest true difference (analysis scale) a two-sided t test at ``alpha`` detects
    with probability ``power``, for run-to-run spread ``sd`` and these run counts.

    The usual approximation (t_{1-alpha/2} + t_{power}) * sd * sqrt(1/na + 1/nb) with
    df = na + nb - 2; None without a spread estimate (fewer than 3 runs in all).
    """
    df = n_a + n_b - 2
    if df < 1 or not math.isfinite(sd):
        return None
    return (stats.t_ppf(1 - alpha / 2, df) + stats.t_ppf(power, df)) * sd * math.sqrt(
        1 / n_a + 1 / n_b)


def replicates_needed(effect: float, sd: float, *, alpha: float = ALPHA,
                      power: float = POWER) -> int | None:
    """Runs per arm for which ``effect`` (analysis scale) is the detectable difference;
    None when it would take more than ``MAX_REPLICATES`` (or the effect is 0)."""
    if effect == 0 or not math.isfinite(effect) or not math.isfinite(sd):
        return None
    if sd == 0:
        return 2
    for n in range(2, MAX_REPLICATES + 1):
        mde = detectable(sd, n, n, alpha=alpha, power=power)
        if mde is not None and mde <= abs(effect):
            return n
    return None


def mde_natural(mde: float, log: bool) -> float:
    """A detectable difference on the analysis scale as the report states it: a relative
    change (0.041 for ±4.1 %) for ratios, the delta itself otherwise."""
    return math.expm1(mde) if log else mde


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given): controls the family-wise
    error rate of "significant" across all of them at the nominal level."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out
