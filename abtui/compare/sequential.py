"""A design that decides: add replicate pairs until the answer is "different", "the same
within ±m", or the budget is spent, with error rates that hold under this optional stopping.

The rule looks after every complete replicate pair, from ``min_n`` to ``max_n`` pairs, at
the paired t statistic of one metric (log values for ratios). Testing each look at 5 %
would call an A/A different far more often than 5 % (about 13 % over 7 looks), so every
look uses one nominal level ``alpha_look`` chosen so that the chance of *any* look
rejecting a true null is ``alpha`` (a Pocock-type boundary, constant on the p-value scale).

Why a simulated level is exact here: under normal per-pair differences the paired t
statistic at every look is pivotal (its null distribution depends on neither the mean nor
the spread), so the joint law of the looks' p-values is the same for every experiment with
these looks, and one simulation of it (``CALIBRATION_DRAWS`` draws, fixed seed) gives the
level. No closed form covers t statistics with 1..max_n - 1 degrees of freedom and
overlapping samples; the group-sequential tables assume a known variance, which 2..8 runs
do not give. Both levels are found by bisection on the simulated draws (numpy only).

- **different**: the look's two-sided p-value < ``alpha_look``; the interval stated is the
  repeated confidence interval (t quantile at ``alpha_look``): it covers the true effect at
  every look at once with probability 1 - ``alpha``, so it is valid wherever the runs stop.
- **same within ±m**: two one-sided tests (TOST) against -m and +m (log(1 ± m) for ratios),
  each at the one-sided level ``alpha_margin`` calibrated the same way; the chance of saying
  "same" when the true effect sits at the margin is at most ``alpha``.
- **undecided**: ``max_n`` pairs (or the time budget) spent without either; the report says
  what the runs could detect.

A slot effect (the arm started first, or on the first cores, running faster) is rotated
across replicates by the design (``spec.resolve.start_order``): in the paired differences it
alternates sign, so it widens the interval (conservative) and cancels in the mean over every
two pairs, rather than biasing it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from abtui.compare import stats
from abtui.compare.inference import ALPHA, POWER
from abtui.infra.numeric import numpy

CALIBRATION_DRAWS = 100_000
CALIBRATION_SEED = 20261207
DIFFERENT, SAME, UNDECIDED, CONTINUE = "different", "same", "undecided", "continue"


@dataclass(frozen=True)
class Levels:
    """The per-look nominal levels that hold the overall error rates at ``alpha``."""

    alpha_look: float  # two-sided, for "different"
    alpha_margin: float  # one-sided, each of TOST's two tests, for "same within ±m"


def _t_ppf_vec(q: float, dfs: Sequence[int]) -> list[float]:
    return [stats.t_ppf(q, float(df)) for df in dfs]


@lru_cache(maxsize=32)
def levels(min_n: int, max_n: int, alpha: float = ALPHA) -> Levels:
    """Calibrated levels for looks at ``min_n``..``max_n`` pairs (see the module docstring)."""
    np = numpy()
    rng = np.random.default_rng(CALIBRATION_SEED)
    z = rng.standard_normal((CALIBRATION_DRAWS, max_n))
    looks = list(range(max(2, min_n), max_n + 1))
    csum, csq = np.cumsum(z, axis=1), np.cumsum(z * z, axis=1)
    tstats = []
    for n in looks:
        m = csum[:, n - 1] / n
        var = (csq[:, n - 1] - n * m * m) / (n - 1)
        tstats.append(m / np.sqrt(np.maximum(var, 1e-300) / n))
    t = np.stack(tstats, axis=1)
    dfs = [n - 1 for n in looks]

    def rate(level: float, two_sided: bool) -> float:
        q = 1 - level / 2 if two_sided else 1 - level
        crit = np.asarray(_t_ppf_vec(q, dfs))
        hit = np.abs(t) > crit if two_sided else t > crit
        return float(hit.any(axis=1).mean())

    def solve(two_sided: bool) -> float:
        lo, hi = 1e-6, alpha
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            if rate(mid, two_sided) > alpha:
                hi = mid
            else:
                lo = mid
        return lo

    return Levels(solve(True), solve(False))


@dataclass(frozen=True)
class Rule:
    """The stopping rule, fixed before any data: the metric it watches, the looks, the margin
    (relative for a ratio: 0.02 for ±2 %; in the metric's units for a delta)."""

    metric: str
    ratio: bool
    min_n: int = 2
    max_n: int = 8
    margin: float | None = None
    alpha: float = ALPHA

    @property
    def levels(self) -> Levels:
        return levels(self.min_n, self.max_n, self.alpha)

    def bounds(self) -> tuple[float, float] | None:
        """The equivalence bounds on the analysis scale (logs for ratios)."""
        if not self.margin:
            return None
        if self.ratio:
            return math.log(1 - self.margin), math.log(1 + self.margin)
        return -self.margin, self.margin


@dataclass(frozen=True)
class Look:
    """One look at ``n`` complete pairs: the estimate and its repeated 95 % interval on the
    natural scale, the nominal p-value, the decision, and the change these runs detect."""

    n: int
    estimate: float
    lo: float
    hi: float
    p_value: float
    decision: str
    detectable: float | None  # relative for ratios (0.041 = ±4.1 %)

    def to_dict(self) -> dict[str, object]:
        return {"n": self.n, "estimate": self.estimate, "ci": [self.lo, self.hi],
                "p_value": self.p_value, "decision": self.decision,
                "detectable": self.detectable}


def look(rule: Rule, a: Sequence[float], b: Sequence[float], *, last: bool = False) -> Look | None:
    """The rule's look at pairs ``a[i]``, ``b[i]`` (b against a). ``last``: no more pairs
    will come (the budget is spent), so "continue" becomes "undecided". None with fewer than
    2 usable pairs."""
    if len(a) != len(b):
        raise ValueError("a look needs complete pairs")
    if rule.ratio:
        if any(v <= 0 for v in (*a, *b)):
            return None
        d = [math.log(y) - math.log(x) for x, y in zip(a, b, strict=True)]
    else:
        d = [y - x for x, y in zip(a, b, strict=True)]
    n = len(d)
    if n < 2:
        return None
    lv = rule.levels
    md, sd = stats.mean(d), math.sqrt(stats.variance(d))
    se, df = sd / math.sqrt(n), float(n - 1)
    nat = math.exp if rule.ratio else (lambda x: x)
    if se == 0:
        p = 1.0 if md == 0 else 0.0
        lo = hi = md
    else:
        p = min(1.0, 2.0 * stats.t_sf(abs(md / se), df))
        half = stats.t_ppf(1 - lv.alpha_look / 2, df) * se
        lo, hi = md - half, md + half
    decision = CONTINUE
    if p < lv.alpha_look:
        decision = DIFFERENT
    elif (bounds := rule.bounds()) is not None and se > 0:
        q = stats.t_ppf(1 - lv.alpha_margin, df) * se
        if md - q > bounds[0] and md + q < bounds[1]:
            decision = SAME
    if decision == CONTINUE and (last or n >= rule.max_n):
        decision = UNDECIDED
    mde = None
    if df >= 1 and sd > 0:  # the change these pairs detect at 80 % power at the look's level
        m = (stats.t_ppf(1 - lv.alpha_look / 2, df) + stats.t_ppf(POWER, df)) * se
        mde = math.expm1(m) if rule.ratio else m
    return Look(n, nat(md), nat(lo), nat(hi), p, decision, mde)


def margin_text(ratio: bool, margin: float) -> str:
    """``±2 %`` for a ratio's relative margin, ``±0.01`` for a delta's."""
    return f"\u00b1{margin * 100:g} %" if ratio else f"\u00b1{margin:g}"


def _detectable(rule: Rule, lk: Look) -> str | None:
    """``±4.1 %`` (ratio) / ``±0.012`` (delta): the change the look's runs detect."""
    if lk.detectable is None:
        return None
    return (f"\u00b1{abs(lk.detectable) * 100:.1f} %" if rule.ratio
            else f"\u00b1{abs(lk.detectable):.3g}")


def decision_words(rule: Rule, lk: Look, label: str) -> str:
    """The decision in words: ``throughput −10.2 % (95 % repeated CI −13…−7 %): different,
    decided after 4 pairs`` / ``the same within ±2 %`` / ``undecided after 8 runs per arm``."""
    if rule.ratio:
        def fmt(x: float) -> str:
            return f"{(x - 1) * 100:+.1f}".replace("-", "\u2212")
        unit = " %"
    else:
        def fmt(x: float) -> str:
            return f"{x:+.4g}".replace("-", "\u2212")
        unit = ""
    head = (f"{label} {fmt(lk.estimate)}{unit} (95 % repeated CI {fmt(lk.lo)}\u2026"
            f"{fmt(lk.hi)}{unit}, sequential)")
    if lk.decision == DIFFERENT:
        return f"{head}: different, decided after {lk.n} runs per arm"
    if lk.decision == SAME:
        margin = margin_text(rule.ratio, rule.margin) if rule.margin else ""
        return f"{head}: the same within {margin}, decided after {lk.n} runs per arm"
    det = _detectable(rule, lk)
    det = f"; detectable {det}" if det else ""
    if lk.decision == UNDECIDED:
        return f"{head}: undecided after {lk.n} runs per arm{det}"
    return f"{head}: not decided yet at {lk.n} runs per arm{det}"


def short_words(rule: Rule, lk: Look) -> str:
    """The decision alone: ``different after 4 runs per arm`` / ``the same within ±2 % after
    6 runs per arm`` / ``undecided after 8 runs per arm (detectable ±4.1 %)``."""
    if lk.decision == DIFFERENT:
        return f"different after {lk.n} runs per arm"
    if lk.decision == SAME and rule.margin:
        return f"the same within {margin_text(rule.ratio, rule.margin)} after {lk.n} runs per arm"
    det = _detectable(rule, lk)
    det = f" (detectable {det})" if det else ""
    word = "undecided" if lk.decision == UNDECIDED else "not decided yet"
    return f"{word} after {lk.n} runs per arm{det}"
