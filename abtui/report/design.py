"""The sequential design's looks, read from a run as the report reads it.

One function serves the live rule (the orchestrator, after each replicate pair) and the
report (its decision, and the interval the rule allows), so a look and the report can never
read different numbers: both take the per-run summaries ``build.run_summaries`` gives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from abtui.compare.effects import EFFECTS, Comparison, replicate_pairs
from abtui.compare.sequential import (
    CONTINUE,
    Look,
    Rule,
    decision_words,
    look,
    margin_text,
    short_words,
)
from abtui.compare.summary import RunSummary
from abtui.spec import ExperimentSpec
from abtui.store import ArmStatus


def rule_of(spec: ExperimentSpec) -> Rule | None:
    """The spec's stopping rule; None for a fixed design. With more than one treatment arm
    each is decided at alpha / (arms - 1) (Bonferroni), so the family holds 5 %."""
    seq = spec.sequential
    if seq is None:
        return None
    treatments = max(1, len(spec.arms) - 1)
    return Rule(seq.metric, EFFECTS[seq.metric].ratio, seq.min_replicates, seq.max_replicates,
                seq.margin, alpha=0.05 / treatments)


def complete_pairs(base: Sequence[RunSummary], arm: Sequence[RunSummary], key: str,
                   upto: int | None = None) -> tuple[list[float], list[float]]:
    """The metric of the replicates both arms finished (below ``upto``), by replicate."""
    def done(runs: Sequence[RunSummary]) -> list[RunSummary]:
        return [r for r in runs if r.status == ArmStatus.DONE
                and (upto is None or r.replicate < upto)]
    return replicate_pairs(done(base), done(arm), key)


@dataclass(frozen=True)
class ArmLook:
    """One treatment arm's look: the rule's figures and their words."""

    arm: str
    look: Look
    words: str


def looks(spec: ExperimentSpec, summaries: Mapping[str, Sequence[RunSummary]], *,
          last: bool = False, upto: int | None = None) -> list[ArmLook]:
    """The rule's look at every treatment arm (empty for a fixed design, or too few pairs).
    ``last``: the budget is spent (undecided rather than continue)."""
    rule = rule_of(spec)
    if rule is None:
        return []
    base = summaries.get(spec.baseline_arm) or []
    kind = EFFECTS[rule.metric]
    out = []
    for arm, runs in summaries.items():
        if arm == spec.baseline_arm:
            continue
        a, b = complete_pairs(base, runs, kind.source, upto)
        lk = look(rule, a, b, last=last) if len(a) >= 2 else None
        if lk is not None:
            out.append(ArmLook(arm, lk, f"{arm} vs {spec.baseline_arm}: "
                                        + decision_words(rule, lk, kind.label)))
    return out


def decided(arm_looks: Sequence[ArmLook]) -> bool:
    """Every treatment arm has an answer (different, same, or undecided at the budget)."""
    return bool(arm_looks) and all(x.look.decision != CONTINUE for x in arm_looks)


def section(spec: ExperimentSpec, manifest: Mapping[str, Any],
            summaries: Mapping[str, Sequence[RunSummary]]) -> dict[str, Any] | None:
    """report.json's ``sequential``: the rule, the looks the run took (as the manifest
    recorded them live) and the final look over every complete pair."""
    rule = rule_of(spec)
    if rule is None:
        return None
    design = (manifest.get("design") or {}).get("sequential") or {}
    stopped = design.get("stopped")
    final = looks(spec, summaries, last=bool(stopped) or manifest.get("status") == "finished")
    lv = rule.levels
    return {
        "metric": rule.metric, "min_replicates": rule.min_n, "max_replicates": rule.max_n,
        "margin": rule.margin, "alpha": rule.alpha, "alpha_per_look": lv.alpha_look,
        "alpha_margin_per_look": lv.alpha_margin,
        "looks": list(design.get("looks") or []), "stopped": stopped,
        "final": {x.arm: {**x.look.to_dict(), "sentence": x.words,
                          "short": short_words(rule, x.look)} for x in final},
    }


def note(seq: Mapping[str, Any]) -> str:
    """The design in one note of the report."""
    margin = seq.get("margin")
    kind = EFFECTS[seq["metric"]]
    same = ""
    if margin:
        same = (f", or the same within {margin_text(kind.ratio, margin)} (two one-sided tests "
                f"at {seq['alpha_margin_per_look']:.4f} each look)")
    stopped = seq.get("stopped") or {}
    end = (f"; stopped after {stopped['after']} runs per arm ({stopped['reason']})"
           if stopped.get("after") else "")
    return (f"sequential design: a look at {kind.label} (paired t) after each replicate pair "
            f"from {seq['min_replicates']} to {seq['max_replicates']} runs per arm; different "
            f"when a look's p < {seq['alpha_per_look']:.4f}{same}: levels calibrated so that "
            f"every look together errs at most {seq['alpha'] * 100:g} %; its interval is the "
            f"repeated confidence interval, valid wherever the runs stopped{end}")


def apply(comp: Comparison, seq: Mapping[str, Any]) -> None:
    """The decided metric's effect as the rule states it: the repeated interval, the
    look-adjusted p-value (nominal p x alpha / alpha per look, so it reads against 5 %),
    significant only when the rule said different."""
    final = (seq.get("final") or {}).get(comp.arm)
    eff = comp.effects.get(seq["metric"])
    if not final or eff is None:
        return
    eff.value, eff.ci = final["estimate"], (final["ci"][0], final["ci"][1])
    eff.p_value = min(1.0, final["p_value"] * seq["alpha"] / seq["alpha_per_look"])
    eff.p_adjusted, eff.family = None, None
    eff.significant = final["decision"] == "different"
    eff.method = (f"sequential: paired t at each look, level {seq['alpha_per_look']:.4f} per "
                  "look (repeated confidence interval)")
    eff.mde = final.get("detectable")
    eff.replicates_needed = None
