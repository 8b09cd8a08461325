"""Effects of a treatment arm against the baseline: ratios and deltas with their intervals.

With replicates (at least two runs in each arm) every effect gets a percentile-bootstrap
interval over the per-run values and a Welch t-test p-value. With one run per arm only
throughput and step time get an interval (a moving-block bootstrap over the run's
steady-state records); quality metrics (loss, accuracy, time to target) and peak memory
are single numbers and say so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.compare import stats
from abtui.compare.summary import RunSummary, usable_runs

__all__ = ["EFFECTS", "GATE_METRICS", "Comparison", "Effect", "compare_arm", "compare_effect",
           "time_target_source", "usable_runs"]


@dataclass(frozen=True)
class EffectKind:
    """How one gate metric is computed from the per-run metrics."""

    name: str
    source: str  # RunSummary.metrics key (time_to_target_ratio: chosen per experiment)
    ratio: bool  # ratio arm / baseline, else difference arm - baseline
    higher_is_better: bool
    label: str
    quality: bool = False  # quality metrics get no interval with n = 1
    samples: str | None = None  # per-record series for the n = 1 block bootstrap


EFFECTS: dict[str, EffectKind] = {e.name: e for e in (
    EffectKind("throughput_ratio", "throughput_median", True, True, "throughput",
               samples="throughput"),
    EffectKind("step_time_ratio", "step_time_p50_ms", True, False, "step time p50",
               samples="step_time_ms"),
    EffectKind("memory_ratio", "peak_memory", True, False, "peak memory"),
    EffectKind("loss_delta", "final_loss_smoothed", False, False, "final loss", quality=True),
    EffectKind("accuracy_delta", "accuracy_final", False, True, "accuracy", quality=True),
    EffectKind("time_to_target_ratio", "time_to_target_loss_s", True, False, "time to target",
               quality=True),
)}

#: Names a gate may use, in report order.
GATE_METRICS: tuple[str, ...] = tuple(EFFECTS)

METHOD_REPLICATES = (f"percentile bootstrap over runs ({stats.RESAMPLES} resamples, seed "
                     f"{stats.SEED}); Welch t-test")
METHOD_RECORDS = (f"n = 1: circular moving-block bootstrap (blocks of about sqrt(n) records, "
                  f"{stats.RESAMPLES // 2} resamples, seed {stats.SEED}) of the ratio of "
                  "medians over steady-state records")


@dataclass
class Effect:
    """One effect of one arm against the baseline. ``ci`` is a 95 % interval or None."""

    metric: str
    value: float | None
    ci: tuple[float, float] | None = None
    n: dict[str, int] = field(default_factory=dict)
    method: str | None = None
    significant: bool | None = None
    p_value: float | None = None
    baseline_value: float | None = None
    arm_value: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stable keys, see docs/report.md)."""
        kind = EFFECTS[self.metric]
        return {
            "value": self.value, "ci": list(self.ci) if self.ci else None, "n": dict(self.n),
            "method": self.method, "significant": self.significant, "p_value": self.p_value,
            "baseline_value": self.baseline_value, "arm_value": self.arm_value,
            "note": self.note, "kind": "ratio" if kind.ratio else "delta",
            "higher_is_better": kind.higher_is_better,
        }


def _values(runs: Sequence[RunSummary], key: str) -> list[float]:
    out = []
    for r in runs:
        v = r.metrics.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def _clean_ci(ci: tuple[float, float]) -> tuple[float, float] | None:
    return ci if all(math.isfinite(x) for x in ci) else None


def _significant(ci: tuple[float, float] | None, ratio: bool) -> bool | None:
    if ci is None:
        return None
    null = 1.0 if ratio else 0.0
    return ci[0] > null or ci[1] < null


def compare_effect(kind: EffectKind, base: Sequence[RunSummary], arm: Sequence[RunSummary],
                   source: str | None = None) -> Effect:
    """One effect of ``arm`` against ``base`` (both: the runs to use)."""
    key = source or kind.source
    a, b = _values(base, key), _values(arm, key)
    eff = Effect(kind.name, None, n={"baseline": len(a), "arm": len(b)})
    if kind.name == "time_to_target_ratio":
        missing = [r.run_id for r in (*base, *arm) if r.metrics.get(key) is None]
        if missing:
            eff.note = "target not reached by " + ", ".join(missing)
            return eff
    if kind.name == "memory_ratio":
        names = {r.metrics.get("memory_metric") for r in (*base, *arm)} - {None}
        if len(names) > 1:
            eff.note = "arms report different memory metrics (" + ", ".join(sorted(names)) + ")"
            return eff
    if not a or not b:
        if a or b:
            eff.note = f"no {kind.label} data in the {'arm' if a else 'baseline'}"
        return eff
    ma, mb = stats.mean(a), stats.mean(b)
    eff.baseline_value, eff.arm_value = ma, mb
    if kind.ratio:
        if ma == 0:
            eff.note = f"baseline {kind.label} is 0: no ratio"
            return eff
        eff.value = mb / ma
    else:
        eff.value = mb - ma
    if len(a) >= 2 and len(b) >= 2:
        stat = stats.ratio_of_means if kind.ratio else stats.difference_of_means
        eff.ci = _clean_ci(stats.bootstrap_two_sample_ci(a, b, stat))
        eff.p_value = stats.welch_t_test(b, a).p_value
        eff.method = METHOD_REPLICATES
    elif len(base) == 1 and len(arm) == 1 and kind.samples:
        sa, sb = base[0].samples.get(kind.samples, []), arm[0].samples.get(kind.samples, [])
        if len(sa) >= 2 and len(sb) >= 2:
            eff.ci = _clean_ci(stats.block_bootstrap_two_sample_ci(sa, sb, stats.ratio_of_medians))
            eff.method = METHOD_RECORDS
        else:
            eff.note = "n = 1 and too few steady-state records for an interval"
    elif len(a) == 1 and len(b) == 1:
        eff.note = ("n = 1: no interval for quality metrics" if kind.quality
                    else "n = 1: a single value per arm, no interval")
    else:
        eff.note = "fewer than 2 runs on one side: no interval"
    eff.significant = _significant(eff.ci, kind.ratio)
    return eff


@dataclass
class Comparison:
    """Every effect of one arm against the baseline, plus notes on what was used."""

    arm: str
    baseline: str
    effects: dict[str, Effect]
    runs: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stable keys, see docs/report.md)."""
        return {
            "arm": self.arm, "baseline": self.baseline,
            "metrics": {name: e.to_dict() for name, e in self.effects.items()},
            "runs": self.runs, "sentences": list(self.sentences), "notes": list(self.notes),
        }


def time_target_source(target_loss: float | None, target_accuracy: float | None) -> str | None:
    """The per-run metric time_to_target_ratio uses: the loss target if set, else accuracy."""
    if target_loss is not None:
        return "time_to_target_loss_s"
    if target_accuracy is not None:
        return "time_to_target_accuracy_s"
    return None


def compare_arm(base_runs: Sequence[RunSummary], arm_runs: Sequence[RunSummary], *,
                arm: str, baseline: str, time_target: str | None = None) -> Comparison:
    """Every effect in ``EFFECTS`` of one arm against the baseline.

    ``time_target`` is the per-run key time_to_target_ratio compares (see
    ``time_target_source``); without one that effect has no value.
    """
    base, left_base = usable_runs(base_runs)
    treated, left_arm = usable_runs(arm_runs)
    effects: dict[str, Effect] = {}
    for name, kind in EFFECTS.items():
        if name == "time_to_target_ratio" and time_target is None:
            effects[name] = Effect(name, None, n={"baseline": 0, "arm": 0},
                                   note="no target in the spec")
            continue
        source = time_target if name == "time_to_target_ratio" else None
        effects[name] = compare_effect(kind, base, treated, source)
    notes = left_base + left_arm
    if len(base) == 1 and len(treated) == 1:
        notes.append("n = 1: no interval for quality metrics (loss, accuracy, time to target); "
                     "throughput and step time intervals come from the records of one run each")
    return Comparison(arm, baseline, effects,
                      {"baseline": [r.run_id for r in base], "arm": [r.run_id for r in treated]},
                      notes)
