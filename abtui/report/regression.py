"""Is the second arm a regression of the first? good / bad / skip, from a report.

The judgement ``abtui bisect`` makes at each step and ``abtui ab --bisect-exit`` returns as
``git bisect run``'s exit code (0 good, 1 bad, 125 skip). The user names the metric and the
size of change that counts (``--worse-by``); on the "worse" scale of that metric (a relative
change for ratios, the delta in its units otherwise) and its 95 % interval:

- **good** when the whole interval is below the threshold: whatever changed, it is smaller
  than what counts as a regression;
- **bad** when the whole interval is worse than no change and the point is at least half
  the threshold (significant, and of the size asked about);
- **skip** otherwise (unknown: more runs would tell), and always when a run failed (a
  commit that does not build or crashes is not "bad"), when the comparison was confounded
  (a busy host, other hardware: never counted), or when there is no calibrated interval.
  One confound is let through for a speed metric: the candidate's runs having the host to
  themselves after the good one's finished. It can only flatter the candidate, so such a
  step can be **bad** (by the rule above), never good.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from abtui.compare.effects import read_comparisons
from abtui.diff.fairness import CONFOUNDED, SPEED_EFFECTS, Fairness

GOOD, BAD, SKIP = "good", "bad", "skip"
EXIT_CODES = {GOOD: 0, BAD: 1, SKIP: 125}

#: --metric words -> the effect judged
METRICS = {"accuracy": "accuracy_delta", "loss": "loss_delta", "throughput": "throughput_ratio",
           "step_time": "step_time_ratio", "memory": "memory_ratio"}


@dataclass(frozen=True)
class Regression:
    """What counts as a regression: an effect (``METRICS`` value) worse by ``threshold``
    (relative for ratios: 0.05 = 5 %; in the metric's units for deltas)."""

    effect: str
    threshold: float

    @classmethod
    def parse(cls, metric: str, worse_by: str) -> Regression:
        """``accuracy`` + ``1pp`` / ``throughput`` + ``5%`` / ``loss`` + ``0.05``."""
        if metric not in METRICS:
            raise ValueError(f"--metric {metric!r}: one of {', '.join(METRICS)}")
        effect = METRICS[metric]
        text = worse_by.strip().lower()
        try:
            if text.endswith("pp"):
                value = float(text[:-2]) / 100  # points of a 0..1 accuracy
            elif text.endswith("%"):
                value = float(text[:-1]) / 100
            else:
                value = float(text)
        except ValueError:
            raise ValueError(f"--worse-by {worse_by!r}: a size like 1pp, 5% or 0.05") from None
        if not value > 0:
            raise ValueError("--worse-by: more than 0")
        return cls(effect, value)


@dataclass(frozen=True)
class Judgement:
    verdict: str  # good / bad / skip
    why: str
    worse: float | None = None  # the point on the worse scale
    interval: tuple[float, float] | None = None
    confounded: bool = False  # skipped for a confound (worth running again)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def _worse(value: float, ratio: bool, higher_is_better: bool) -> float:
    """How much worse (> 0) the arm is than the baseline, on the threshold's scale."""
    change = value - 1.0 if ratio else value
    return -change if higher_is_better else change


def _candidate_ran_alone(fair: Fairness, baseline: str, rule: Regression) -> bool:
    """Every confound is a candidate's run having the host to itself after the good one's
    finished (a commit much slower than the good one always ends alone): less host load can
    only make a speed effect look better, so a slowdown measured despite it still stands.
    Read from the co-run sentences (telemetry/corun.py writes them)."""
    if rule.effect not in SPEED_EFFECTS:
        return False
    return bool(fair.reasons and baseline) and all(
        re.match(r"(\S+)\.r\d+ ran alone for ", r) is not None
        and not r.startswith(f"{baseline}.r") for r in fair.reasons)


def judge(report: Mapping[str, Any], rule: Regression) -> Judgement:
    """The second arm of ``report`` against its baseline (see the module docstring); the
    report's fairness and first comparison are read typed (``Fairness``, ``Comparison``)."""
    failed = [str(r) for r in report.get("failed_runs") or []]
    if failed:
        return Judgement(SKIP, f"runs did not finish ({', '.join(failed[:4])}): the "
                               "commit does not run as the good one does")
    fair = Fairness.read(report.get("fairness"))
    speed_only = fair.affects == "speed" and rule.effect not in SPEED_EFFECTS
    confounded = fair.state == CONFOUNDED and not speed_only
    spec = report.get("spec")
    baseline = str(spec.get("baseline") or "") if isinstance(spec, Mapping) else ""
    if confounded and not _candidate_ran_alone(fair, baseline, rule):
        return Judgement(SKIP, f"a confounded comparison is not counted: "
                               f"{'; '.join(fair.reasons[:2])}", confounded=True)
    comps = read_comparisons(report)
    if not comps:
        return Judgement(SKIP, "no comparison")
    e = comps[0].effects.get(rule.effect)
    if e is None or e.value is None or e.ci is None or not e.calibrated:
        why = (e.note if e is not None else None) or "no calibrated interval (use replicates >= 2)"
        return Judgement(SKIP, f"{rule.effect}: {why}")
    ratio, higher = e.kind.ratio, e.kind.higher_is_better
    point = _worse(e.value, ratio, higher)
    lo, hi = sorted(_worse(c, ratio, higher) for c in e.ci)
    if confounded:
        # the candidate ran alone: that bias can only hide a slowdown (the measured one is at
        # most the true one), so the unconfounded rule for "bad" is the conservative one, and
        # "good" (or "the same") is never concluded from it. A stricter rule (the whole
        # interval past the threshold) left a 58 % slowdown skipped twice in CI: the
        # sequential design stops at 3 runs once the interval leaves 0.
        if lo > 0 and point >= rule.threshold / 2:
            return Judgement(BAD, f"{rule.effect}: worse by {point:.4g} (95 % CI {lo:.4g}.."
                                  f"{hi:.4g}) although its runs had the host to themselves "
                                  "for part of the time", point, (lo, hi))
        return Judgement(SKIP, f"a confounded comparison is not counted: "
                               f"{'; '.join(fair.reasons)[:300]}",
                         point, (lo, hi), confounded=True)
    seq = comps[0].sequential or {}
    design = report.get("sequential")
    if seq.get("decision") == "same" and isinstance(design, Mapping) \
            and design.get("metric") == rule.effect:
        # the sequential rule showed it the same within the threshold (two one-sided tests)
        return Judgement(GOOD, f"{rule.effect}: the same within ±{rule.threshold:g} "
                               f"({seq.get('short')})", point, (lo, hi))
    if hi < rule.threshold:
        return Judgement(GOOD, f"{rule.effect}: worse by at most {hi:.4g} (95 % CI), under "
                               f"the {rule.threshold:g} that counts", point, (lo, hi))
    if lo > 0 and point >= rule.threshold / 2:
        return Judgement(BAD, f"{rule.effect}: worse by {point:.4g} (95 % CI {lo:.4g}.."
                              f"{hi:.4g}), against {rule.threshold:g} that counts", point, (lo, hi))
    return Judgement(SKIP, f"{rule.effect}: worse by {point:.4g} (95 % CI {lo:.4g}..{hi:.4g}): "
                           "not decided at these runs", point, (lo, hi))
