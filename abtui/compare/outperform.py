"""P(B better than A): the effect size people ask for, beside each ratio and delta.

The probability that a run of the arm beats a run of the baseline on a metric (ties count
half), estimated without a model:

- **paired design** (replicate i of both arms share a seed and a time slot): the share of
  pairs in which the arm did better; its interval is Wilson's score interval over the pairs.
- **unpaired**: the Mann-Whitney estimate U / (na nb) over every cross pair of runs; its
  interval is Wilson's over min(na, nb) runs, the count of independent comparisons the data
  really hold (conservative: the cross pairs share runs, so they are not na nb trials).

Wilson's interval, not the normal one: at 3-10 runs a share is often 0 or 1, where the
normal interval collapses to a point. Written here because neither numpy nor the standard
library has it (scipy's binomtest is a dev dependency only), and it is four lines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Outperform:
    """P(arm better than baseline) and its 95 % interval; ``over``: what it counts."""

    p: float
    lo: float
    hi: float
    over: str


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for a share of ``successes`` out of ``n`` (ties as halves)."""
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def _wins(x: float, y: float, higher_is_better: bool) -> float:
    """1 when ``y`` (the arm) beats ``x`` (the baseline), 0.5 on a tie, else 0."""
    if y == x:
        return 0.5
    return 1.0 if (y > x) == higher_is_better else 0.0


def p_better(a: Sequence[float], b: Sequence[float], *, higher_is_better: bool,
             pairs: tuple[Sequence[float], Sequence[float]] | None = None) -> Outperform | None:
    """P(a run of ``b`` beats a run of ``a``); ``pairs``: the design's complete pairs (then
    the paired estimate). None with fewer than 2 runs on a side (or 2 pairs)."""
    if pairs is not None and len(pairs[0]) >= 2:
        pa, pb = pairs
        wins = sum(_wins(x, y, higher_is_better) for x, y in zip(pa, pb, strict=True))
        lo, hi = wilson(wins, len(pa))
        return Outperform(wins / len(pa), lo, hi, f"{len(pa)} pairs")
    if len(a) < 2 or len(b) < 2:
        return None
    wins = sum(_wins(x, y, higher_is_better) for x in a for y in b)
    p = wins / (len(a) * len(b))
    n = min(len(a), len(b))
    lo, hi = wilson(p * n, n)
    return Outperform(p, lo, hi, f"{len(a)} x {len(b)} runs")
