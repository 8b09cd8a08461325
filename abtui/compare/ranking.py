"""Three or more arms: which is best, and which cannot be told apart from the best.

Every arm against the baseline stays (``effects``, Holm over the whole family). The question
users ask first of a grid is another one, answered here by **subset selection** (Gupta's
rule with Welch's per-pair spread): arm *i* stays among the possible best when, against
every other arm *j*,

    mean_i - mean_j >= -c_ij * se_ij      (the better direction; c from Student's t at
                                           1 - alpha / (k - 1), Bonferroni over the k - 1
                                           comparisons of one arm, df of Welch for the pair)

so the set holds the truly best arm with probability at least 1 - alpha whatever the
others are (tested by simulation in tests/test_ranking.py). An arm outside it is worse
than some other arm beyond its noise. With one run per arm there is no spread: the order
is given by the point values and nothing is said about who is indistinguishable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from abtui.compare import stats
from abtui.compare.effects import metric_values
from abtui.compare.inference import ALPHA
from abtui.compare.summary import RunSummary, usable_runs

#: report name -> (per-run metric key, higher is better, label)
RANKABLE: dict[str, tuple[str, bool, str]] = {
    "loss": ("final_loss_smoothed", False, "final loss"),
    "accuracy": ("accuracy_final", True, "accuracy"),
    "throughput": ("throughput", True, "throughput"),
}


@dataclass(frozen=True)
class Ranked:
    arm: str
    mean: float
    sd: float | None
    n: int
    contender: bool | None  # in the set of possible best; None: not decidable (n = 1)
    #: mean minus the best of the other arms' means, in the better direction (> 0: ahead),
    #: with its simultaneous interval (Hsu's constrained form); None with one run per arm
    lead: float | None = None
    interval: tuple[float, float] | None = None


@dataclass(frozen=True)
class Ranking:
    """The arms in order (best first) on one metric, and the possible best."""

    metric: str
    label: str
    higher_is_better: bool
    arms: list[Ranked]
    method: str

    @property
    def best(self) -> str:
        return self.arms[0].arm

    def contenders(self) -> list[str]:
        return [r.arm for r in self.arms if r.contender]

    def sentence(self, confounded: Mapping[str, Sequence[str]] | None = None) -> str:
        """The ranking in words; ``confounded`` (arm -> why) marks the arms whose place
        is not a fair one."""
        odd = dict(confounded or {})

        def name(arm: str) -> str:
            return f"{arm} (confounded)" if arm in odd else arm

        head = f"best by {self.label}: {name(self.best)} ({self.arms[0].mean:.4g})"
        tail = (f"; confounded, so its place is not a fair one: {', '.join(odd)}" if odd else "")
        if self.arms[0].contender is None:
            return (head + " (one run per arm: the order of single values, nothing tested)"
                    + tail)
        others = [name(a) for a in self.contenders() if a != self.best]
        if not others:
            return head + f"; every other arm is worse beyond its noise ({self.method})" + tail
        return (head + f"; cannot be told apart from it: {', '.join(others)} "
                f"({self.method})" + tail)

    def to_dict(self, confounded: Mapping[str, Sequence[str]] | None = None
                ) -> dict[str, object]:
        return {"metric": self.metric, "label": self.label,
                "higher_is_better": self.higher_is_better, "best": self.best,
                "contenders": self.contenders(), "method": self.method,
                "arms": [{"arm": r.arm, "mean": r.mean, "sd": r.sd, "n": r.n,
                          "contender": r.contender, "lead": r.lead,
                          "interval": list(r.interval) if r.interval else None}
                         for r in self.arms],
                "sentence": self.sentence(confounded),
                "confounded": sorted(confounded or {})}


def _values(runs: Sequence[RunSummary], key: str) -> list[float]:
    """The metric of the runs an arm's numbers use (``usable_runs``)."""
    return metric_values(usable_runs(runs)[0], key)


def pick_metric(summaries: Mapping[str, Sequence[RunSummary]], asked: str | None) -> str | None:
    """The metric to rank by: the one asked for, else loss, accuracy, throughput (the first
    every arm has)."""
    for name in ([asked] if asked else list(RANKABLE)):
        key = RANKABLE[name][0]
        if all(_values(runs, key) for runs in summaries.values()):
            return name
    return None


def rank(summaries: Mapping[str, Sequence[RunSummary]], metric: str,
         alpha: float = ALPHA) -> Ranking | None:
    """The ranking of every arm on ``metric`` (a ``RANKABLE`` name); None when an arm has no
    value of it."""
    key, higher, label = RANKABLE[metric]
    values = {arm: _values(runs, key) for arm, runs in summaries.items()}
    if len(values) < 2 or not all(values.values()):
        return None
    sign = 1.0 if higher else -1.0
    means = {a: stats.mean(v) for a, v in values.items()}
    order = sorted(values, key=lambda a: -sign * means[a])
    k = len(values)
    replicated = all(len(v) >= 2 for v in values.values())
    contender: dict[str, bool | None] = {}
    lead: dict[str, tuple[float | None, tuple[float, float] | None]] = {}
    for i in order:
        if not replicated:
            contender[i], lead[i] = None, (None, None)
            continue
        bounds = []  # per other arm: (gap, margin)
        for j in order:
            if j == i:
                continue
            se, df = stats.welch_se_df(values[i], values[j])
            margin = 0.0 if se == 0 else stats.t_ppf(1 - alpha / (k - 1), df) * se
            bounds.append((sign * (means[i] - means[j]), margin))
        contender[i] = all(gap >= -margin for gap, margin in bounds)
        # the lead over the best other arm, with an interval in Hsu's constrained form: its
        # upper end is 0 for an arm another beats beyond its noise, >= 0 for a contender
        # (the rule above, so the two never disagree)
        gap, margin = min(bounds, key=lambda b: b[0])
        upper = min(g + m for g, m in bounds)
        lead[i] = (gap, (min(0.0, gap - margin), max(0.0, upper)))
    method = (f"subset selection, Welch t with Bonferroni over {k - 1} comparisons: holds the "
              f"best arm with probability >= {1 - alpha:.0%}")
    return Ranking(metric, label, higher,
                   [Ranked(a, means[a], stats.stdev(values[a]) if len(values[a]) >= 2 else None,
                           len(values[a]), contender[a], *lead[a])
                    for a in order], method)
