"""What a bisect costs: runs, steps and the chance of naming the right commit, for a given
noise and regression (issue 31; a statistical benchmark, no timing).

Each simulated bisect searches N commits after a good one for the first bad commit (placed
uniformly at random); the bad commits are worse by ``effect`` (twice the threshold that
counts), the good ones not at all. Every step is ``abtui bisect``'s: the sequential rule of
``compare.sequential`` on paired differences of sd ``noise`` (looks from 3 to ``budget``
pairs, margin = the threshold), "different" counted bad, "the same within the margin"
counted good, undecided at the budget skipped (stepped around, as git bisect skip). The
cost is every run of every step (2 a pair: the good commit's and the tested one's).
``python bench/bisect_cost.py`` prints the table docs/benchmarks.md shows.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from abtui.compare.sequential import DIFFERENT, SAME, Rule, look  # noqa: E402

TRIALS = 400


def one_step(rng: np.random.Generator, rule: Rule, true: float, noise: float) -> tuple[str, int]:
    """The step's decision (bad / good / skip) and the pairs it took."""
    diffs = rng.normal(true, noise, rule.max_n)
    for n in range(rule.min_n, rule.max_n + 1):
        lk = look(rule, [0.0] * n, list(diffs[:n]), last=n == rule.max_n)
        if lk is None:
            continue
        if lk.decision == DIFFERENT:
            return ("bad" if lk.estimate > 0 else "good"), n
        if lk.decision == SAME:
            return "good", n
        if n == rule.max_n:
            return "skip", n
    return "skip", rule.max_n


def one_bisect(rng: np.random.Generator, n_commits: int, noise: float, threshold: float,
               budget: int) -> tuple[int, int, bool]:
    """(runs, steps, found the right commit) of one simulated bisect."""
    first_bad = int(rng.integers(0, n_commits))
    rule = Rule("loss", ratio=False, min_n=3, max_n=budget, margin=threshold)
    lo, hi, skipped, runs, steps = -1, n_commits - 1, set(), 0, 0
    while hi - lo > 1:
        candidates = [i for i in range(lo + 1, hi) if i not in skipped]
        if not candidates:
            break
        mid = min(candidates, key=lambda i: abs(i - (lo + hi) / 2))
        verdict, pairs = one_step(rng, rule, 2 * threshold if mid >= first_bad else 0.0, noise)
        runs, steps = runs + 2 * pairs, steps + 1
        if verdict == "bad":
            hi = mid
        elif verdict == "good":
            lo = mid
        else:
            skipped.add(mid)
    return runs, steps, hi - lo == 1 and hi == first_bad


def table(budget: int = 6) -> list[tuple[int, float, float, float, float]]:
    rng = np.random.default_rng(20261207)
    rows = []
    for n_commits in (16, 64):
        for ratio in (4.0, 2.0, 1.0):  # threshold / noise sd of a pair's difference
            got = [one_bisect(rng, n_commits, 1.0 / ratio, 1.0, budget) for _ in range(TRIALS)]
            runs, steps, right = zip(*got, strict=True)
            rows.append((n_commits, ratio, float(np.mean(runs)), float(np.mean(steps)),
                         float(np.mean(right))))
    return rows


if __name__ == "__main__":
    print("| commits | threshold / noise sd | runs a step at most | runs (mean) | steps (mean) "
          "| log2 steps | right commit named |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for budget in (6, 12):
        for n, ratio, runs, steps, right in table(budget):
            print(f"| {n} | {ratio:g} | {2 * budget} | {runs:.1f} | {steps:.1f} | "
                  f"{math.ceil(math.log2(n + 1))} | {right * 100:.1f} % |")
