"""Effects of a treatment arm against the baseline: ratios and deltas with their intervals.

With replicates (runs on both sides, at least three in all) every effect gets a t interval
and p-value from ``abtui.compare.inference`` (Welch on log values for ratios, on values for
deltas), a minimum detectable effect from the observed run-to-run spread and, when it is
not significant, the replicates that would detect the observed effect. ``significant`` is
decided later, across the family of effects the verdict states (Holm, ``adjust_family``).

With one run per arm nothing is significant: throughput gets a within-run interval
(block bootstrap of its records), labelled as within-run noise only and marked
``calibrated: false``; every other effect is a single number per arm and says so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.compare import inference, outperform, resample, stats
from abtui.compare.summary import RunSummary, usable_runs

__all__ = ["EFFECTS", "GATE_METRICS", "HEADLINE", "N1_WARNING", "Comparison", "Effect",
           "adjust_family", "compare_arm", "compare_effect", "metric_values", "replicate_pairs",
           "time_target_source", "usable_runs"]


@dataclass(frozen=True)
class EffectKind:
    """How one gate metric is computed from the per-run metrics."""

    name: str
    source: str  # RunSummary.metrics key (time_to_target_ratio: chosen per experiment)
    ratio: bool  # ratio arm / baseline, else difference arm - baseline
    higher_is_better: bool
    label: str
    quality: bool = False
    within_run: bool = False  # n = 1: a within-run interval from the (work, time) records


EFFECTS: dict[str, EffectKind] = {e.name: e for e in (
    EffectKind("throughput_ratio", "throughput", True, True, "throughput", within_run=True),
    EffectKind("step_time_ratio", "step_time_p50_ms", True, False, "step time p50"),
    EffectKind("memory_ratio", "peak_memory", True, False, "peak memory"),
    EffectKind("loss_delta", "final_loss_smoothed", False, False, "final loss", quality=True),
    EffectKind("accuracy_delta", "accuracy_final", False, True, "accuracy", quality=True),
    EffectKind("time_to_target_ratio", "time_to_target_loss_s", True, False, "time to target",
               quality=True),
)}

#: Names a gate may use, in report order.
GATE_METRICS: tuple[str, ...] = tuple(EFFECTS)
#: The effects the verdict line states (with the gated ones, the family Holm controls).
HEADLINE: tuple[str, ...] = ("throughput_ratio", "loss_delta", "accuracy_delta")

N1_WARNING = ("n = 1: within-run noise only; run-to-run variation not measured \u2014 "
              "use replicates \u2265 3")
METHOD_WITHIN_RUN = (f"n = 1: within-run noise only: circular moving-block bootstrap of the "
                     f"steady-state records (blocks of about sqrt(n), {resample.RESAMPLES} "
                     f"resamples, seed {resample.SEED}), log-normal interval around the point")


@dataclass
class Effect:
    """One effect of one arm against the baseline. ``ci`` is a 95 % interval or None.

    ``calibrated`` says whether the interval and p-value measure run-to-run variation
    (replicates) or not (n = 1, within-run noise only); ``mde`` is the smallest change this
    design detects at 80 % power (relative for ratios, in the metric's units for deltas).
    """

    metric: str
    value: float | None
    ci: tuple[float, float] | None = None
    n: dict[str, int] = field(default_factory=dict)
    method: str | None = None
    significant: bool | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    family: int | None = None
    calibrated: bool | None = None
    mde: float | None = None
    replicates_needed: int | None = None
    baseline_value: float | None = None
    arm_value: float | None = None
    note: str | None = None
    p_better: float | None = None  # P(a run of the arm beats a run of the baseline)
    p_better_ci: tuple[float, float] | None = None

    @property
    def kind(self) -> EffectKind:
        return EFFECTS[self.metric]

    @classmethod
    def read(cls, metric: str, m: Mapping[str, Any]) -> Effect:
        """One effect of a report.json comparison (``to_dict``'s keys), typed: a key an
        older report lacks, or one of the wrong type, takes its default. ``metric`` is one
        of ``EFFECTS`` (``Comparison.read`` leaves other names out)."""
        def n(v: Any) -> float | None:
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        def i(v: Any) -> int | None:
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        def pair(v: Any) -> tuple[float, float] | None:
            if isinstance(v, (list, tuple)) and len(v) == 2:
                lo, hi = n(v[0]), n(v[1])
                if lo is not None and hi is not None:
                    return lo, hi
            return None

        def flag(v: Any) -> bool | None:
            return v if isinstance(v, bool) else None

        def text(v: Any) -> str | None:
            return v if isinstance(v, str) else None

        counts = m.get("n")
        return cls(metric, n(m.get("value")), pair(m.get("ci")),
                   {str(k): v for k, v in counts.items() if i(v) is not None}
                   if isinstance(counts, Mapping) else {},
                   text(m.get("method")), flag(m.get("significant")), n(m.get("p_value")),
                   n(m.get("p_adjusted")), i(m.get("family")), flag(m.get("calibrated")),
                   n(m.get("mde")), i(m.get("replicates_needed")), n(m.get("baseline_value")),
                   n(m.get("arm_value")), text(m.get("note")), n(m.get("p_better")),
                   pair(m.get("p_better_ci")))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stable keys, see docs/report.md)."""
        kind = self.kind
        return {
            "value": self.value, "ci": list(self.ci) if self.ci else None, "n": dict(self.n),
            "method": self.method, "significant": self.significant, "p_value": self.p_value,
            "p_adjusted": self.p_adjusted, "family": self.family, "calibrated": self.calibrated,
            "mde": self.mde, "replicates_needed": self.replicates_needed,
            "baseline_value": self.baseline_value, "arm_value": self.arm_value,
            "note": self.note, "kind": "ratio" if kind.ratio else "delta",
            "higher_is_better": kind.higher_is_better,
            "p_better": self.p_better,
            "p_better_ci": list(self.p_better_ci) if self.p_better_ci else None,
        }


def metric_values(runs: Sequence[RunSummary], key: str) -> list[float]:
    """The finite values of per-run metric ``key`` (runs without one left out)."""
    return [v for r in runs if (v := r.metrics.number(key)) is not None]


def _geomean(values: Sequence[float]) -> float:
    return math.exp(stats.mean([math.log(v) for v in values]))


def replicate_pairs(base: Sequence[RunSummary], arm: Sequence[RunSummary], key: str
                    ) -> tuple[list[float], list[float]]:
    """The values of the replicates both arms have, matched by replicate index."""
    a = {r.replicate: v for r in base if (v := r.metrics.number(key)) is not None}
    b = {r.replicate: v for r in arm if (v := r.metrics.number(key)) is not None}
    both = [k for k in sorted(a) if k in b]
    return [a[k] for k in both], [b[k] for k in both]


def _replicated(eff: Effect, kind: EffectKind, a: list[float], b: list[float],
                pairs: tuple[list[float], list[float]] | None = None) -> None:
    """Fill ``eff`` from the t procedure over per-run values (both sides non-empty): paired
    over ``pairs`` when the design pairs the runs (and at least two pairs are complete),
    else Welch."""
    res = None
    if pairs is not None:
        res = inference.paired(*pairs, log=kind.ratio)
        if res is None:
            eff.note = "fewer than 2 complete pairs: compared unpaired (Welch)"
    if res is None:
        res = inference.two_sample(a, b, log=kind.ratio)
    if res is None:
        eff.note = (f"non-positive {kind.label} values: no ratio interval" if kind.ratio
                    else "too few runs for an interval")
        return
    eff.value, eff.ci, eff.p_value = res.estimate, (res.lo, res.hi), res.p_value
    eff.calibrated, eff.method = True, res.method
    if kind.ratio:
        eff.baseline_value, eff.arm_value = _geomean(a), _geomean(b)
    if res.sd is not None:
        mde = inference.detectable(res.sd, res.n_a, res.n_b)
        eff.mde = None if mde is None else inference.mde_natural(mde, kind.ratio)
        d = math.log(res.estimate) if kind.ratio else res.estimate
        if not res.significant:
            eff.replicates_needed = inference.replicates_needed(d, res.sd)
    eff.significant = res.significant  # before adjustment across the family


def _within_run(eff: Effect, base: RunSummary, arm: RunSummary) -> None:
    pairs = [(r.samples.get("throughput_work", []), r.samples.get("throughput_time", []))
             for r in (base, arm)]
    se = resample.log_se(pairs, resample.rate)
    eff.calibrated = False
    if se is None or eff.value is None:
        eff.note = N1_WARNING + " (too few steady-state records for a within-run interval)"
        return
    eff.ci = resample.within_run_interval(eff.value, se)
    eff.method = METHOD_WITHIN_RUN
    eff.note = N1_WARNING


def _identical_runs(runs: Sequence[RunSummary], values: list[float]) -> str | None:
    """Why the runs of one arm do not replicate: two or more, each with the same final loss
    to the last bit (a script that seeds itself, or ignores abtui's seed: a coarse metric
    such as accuracy on a small set can tie by chance, a smoothed loss cannot), or the same
    value of this metric where no loss is logged; None when they vary."""
    losses = metric_values(runs, "final_loss_smoothed")
    values = losses if len(losses) >= 2 else values
    if len(values) < 2 or any(v != values[0] for v in values):
        return None
    arm = runs[0].arm if runs else "?"
    return (f"{len(values)} identical runs of {arm}: the script does not take abtui's seed "
            "(or is deterministic whatever the seed); run-to-run variation not measured, "
            "nothing is called significant (pass the seed: {seed} in the command, or "
            "abtui ab --seed-arg '--seed {seed}')")


def compare_effect(kind: EffectKind, base: Sequence[RunSummary], arm: Sequence[RunSummary],
                   source: str | None = None, paired: bool = False) -> Effect:
    """One effect of ``arm`` against ``base`` (both: the runs to use). ``paired``: the
    design pairs replicate i of both arms (same seed, same time slot)."""
    key = source or kind.source
    a, b = metric_values(base, key), metric_values(arm, key)
    eff = Effect(kind.name, None, n={"baseline": len(a), "arm": len(b)})
    if kind.name == "time_to_target_ratio":
        missing = [r.run_id for r in (*base, *arm) if r.metrics.number(key) is None]
        if missing:
            eff.note = "target not reached by " + ", ".join(missing)
            return eff
    if kind.name == "memory_ratio":
        names = {str(m) for r in (*base, *arm) if (m := r.metrics.memory_metric) is not None}
        if len(names) > 1:
            eff.note = "arms report different memory metrics (" + ", ".join(sorted(names)) + ")"
            return eff
    if not a or not b:
        if a or b:
            eff.note = f"no {kind.label} data in the {'arm' if a else 'baseline'}"
        return eff
    ma, mb = stats.mean(a), stats.mean(b)
    eff.baseline_value, eff.arm_value = ma, mb
    if kind.ratio and ma == 0:
        eff.note = f"baseline {kind.label} is 0: no ratio"
        return eff
    eff.value = mb / ma if kind.ratio else mb - ma
    same = _identical_runs(base, a) or _identical_runs(arm, b)
    if same and kind.quality:
        # no run-to-run variation measured: a difference would be called exact (p = 0)
        eff.calibrated, eff.significant = False, False
        eff.note = same
    elif len(a) + len(b) >= 3:
        pairs = replicate_pairs(base, arm, key) if paired else None
        _replicated(eff, kind, a, b, pairs)
        better = outperform.p_better(a, b, higher_is_better=kind.higher_is_better, pairs=pairs)
        if better is not None:
            eff.p_better, eff.p_better_ci = better.p, (better.lo, better.hi)
    elif kind.within_run:
        _within_run(eff, base[0], arm[0])
    else:
        eff.calibrated = False
        eff.note = "n = 1: a single value per arm, no interval"
    return eff


def adjust_family(effects: Iterable[Effect], alpha: float = inference.ALPHA) -> int:
    """Holm's method over ``effects`` that have a p-value: sets ``p_adjusted``, ``family``
    and ``significant`` (adjusted p < alpha) on each; returns the family size."""
    tested = [e for e in effects if e.p_value is not None and e.calibrated]
    adjusted = inference.holm([e.p_value for e in tested if e.p_value is not None])
    for e, p in zip(tested, adjusted, strict=True):
        e.p_adjusted, e.family, e.significant = p, len(tested), p < alpha
    return len(tested)


@dataclass
class Comparison:
    """Every effect of one arm against the baseline, plus notes on what was used."""

    arm: str
    baseline: str
    effects: dict[str, Effect]
    runs: dict[str, list[str]]
    notes: list[str] = field(default_factory=list)
    sentences: list[str] = field(default_factory=list)
    #: the sequential design's decision on this arm (``report.design``), when it has one
    sequential: dict[str, Any] | None = None

    @classmethod
    def read(cls, comp: Mapping[str, Any]) -> Comparison:
        """A report.json comparison (``to_dict``'s keys), typed; effects by a name that is
        not in ``EFFECTS`` (a crafted report) are left out, missing keys take defaults."""
        metrics = comp.get("metrics")
        effects = {name: Effect.read(name, m) for name, m in metrics.items()
                   if name in EFFECTS and isinstance(m, Mapping)} \
            if isinstance(metrics, Mapping) else {}
        runs = comp.get("runs")
        seq = comp.get("sequential")
        return cls(str(comp.get("arm") or ""), str(comp.get("baseline") or ""), effects,
                   {str(k): [str(r) for r in v] for k, v in runs.items() if isinstance(v, list)}
                   if isinstance(runs, Mapping) else {},
                   [str(x) for x in comp.get("notes") or [] if isinstance(x, str)],
                   [str(x) for x in comp.get("sentences") or [] if isinstance(x, str)],
                   dict(seq) if isinstance(seq, Mapping) else None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stable keys, see docs/report.md)."""
        out = {
            "arm": self.arm, "baseline": self.baseline,
            "metrics": {name: e.to_dict() for name, e in self.effects.items()},
            "runs": self.runs, "sentences": list(self.sentences), "notes": list(self.notes),
        }
        if self.sequential is not None:
            out["sequential"] = self.sequential
        return out


def read_comparisons(report: Mapping[str, Any]) -> list[Comparison]:
    """Every comparison of a report.json, typed (``Comparison.read``; entries that are not
    objects left out)."""
    comps = report.get("comparisons")
    return [Comparison.read(c) for c in comps if isinstance(c, Mapping)] \
        if isinstance(comps, list) else []


def time_target_source(target_loss: float | None, target_accuracy: float | None) -> str | None:
    """The per-run metric time_to_target_ratio uses: the loss target if set, else accuracy."""
    if target_loss is not None:
        return "time_to_target_loss_s"
    if target_accuracy is not None:
        return "time_to_target_accuracy_s"
    return None


def compare_arm(base_runs: Sequence[RunSummary], arm_runs: Sequence[RunSummary], *,
                arm: str, baseline: str, time_target: str | None = None,
                paired: bool = False) -> Comparison:
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
        effects[name] = compare_effect(kind, base, treated, source, paired=paired)
    notes = left_base + left_arm
    if len(base) == 1 and len(treated) == 1:
        notes.append(N1_WARNING + ": nothing is called significant; the throughput interval "
                     "is within-run noise only, the other effects are single values")
    for r in (*base, *treated):
        if r.metrics.stationarity.note:
            notes.append(f"{r.run_id}: {r.metrics.stationarity.note}")
        if r.metrics.warmup_fallback:
            notes.append(f"{r.run_id}: the warm-up rule left no records; every record but the "
                         "first was used")
    return Comparison(arm, baseline, effects,
                      {"baseline": [r.run_id for r in base], "arm": [r.run_id for r in treated]},
                      notes)
