"""Words: one sentence per effect ("throughput +23 % (95 % CI +20…+26 %)") and a one-line verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from abtui.compare.effects import EFFECTS, Comparison, Effect

MINUS = "\u2212"  # a real minus sign reads better than a hyphen in the report


def signed(x: float, decimals: int) -> str:
    """``+1.4`` / ``−0.3`` with a real minus sign."""
    text = f"{x:+.{decimals}f}"
    if float(text) == 0:
        text = f"{0:+.{decimals}f}"
    return text.replace("-", MINUS)


def _decimals(x: float) -> int:
    a = abs(x)
    return 0 if a >= 10 else 1 if a >= 1 else 2 if a >= 0.1 else 3


def _pct_decimals(pct: float, ci: tuple[float, float] | None) -> int:
    """Whole percents for big changes with wide intervals, else one decimal."""
    wide = ci is None or (ci[1] - ci[0]) * 100 >= 2
    return 0 if abs(pct) >= 10 and wide else 1


def _delta_decimals(values: Sequence[float]) -> int:
    """Decimals enough to show the smallest non-zero magnitude with two significant digits."""
    mags = [abs(v) for v in values if v and math.isfinite(v)]
    if not mags:
        return 2
    return max(0, min(6, 1 - math.floor(math.log10(min(mags)))))


def _plain(x: float | None, unit: str = "") -> str:
    if x is None:
        return "n/a"
    d = _decimals(x) if abs(x) < 1000 else 0
    return f"{x:.{d}f}{unit}".replace("-", MINUS)


def _seeds(eff: Effect) -> str:
    na, nb = eff.n.get("baseline", 0), eff.n.get("arm", 0)
    return f"{na} seeds" if na == nb else f"{na} vs {nb} seeds"


def _interval_part(eff: Effect, fmt_lo: str, fmt_hi: str, unit: str) -> str:
    assert eff.ci is not None
    text = f"95 % CI {fmt_lo}\u2026{fmt_hi}{unit}"
    if eff.method and eff.method.startswith("n = 1"):
        text += ", n = 1: block bootstrap over records"
    if not eff.significant:
        text += (f", not significant with {_seeds(eff)}" if eff.n.get("arm", 0) > 1
                 else ", not significant")
    return text


def _is_fraction(*values: float | None) -> bool:
    """Accuracy logged in 0..1 (else in percent)."""
    return all(v is None or abs(v) <= 1.0 for v in values)


def effect_sentence(eff: Effect, *, target_text: str = "time to target") -> str | None:
    """One human sentence for one effect; None when neither arm has the metric."""
    kind = EFFECTS[eff.metric]
    label = target_text if eff.metric == "time_to_target_ratio" else kind.label
    if eff.value is None:
        return f"{label}: {eff.note}" if eff.note else None
    if kind.ratio:
        pct = (eff.value - 1) * 100
        d = _pct_decimals(pct, eff.ci)
        head = f"{label} {signed(pct, d)} %"
        if eff.ci:
            lo, hi = ((c - 1) * 100 for c in eff.ci)
            return f"{head} ({_interval_part(eff, signed(lo, d), signed(hi, d), ' %')})"
        detail = f"{_plain(eff.baseline_value)} \u2192 {_plain(eff.arm_value)}"
        if eff.metric == "memory_ratio":
            detail += " MB"
        elif eff.metric == "time_to_target_ratio":
            detail = f"{_plain(eff.baseline_value, ' s')} \u2192 {_plain(eff.arm_value, ' s')}"
        elif eff.metric == "step_time_ratio":
            detail += " ms"
        return f"{head} ({detail}{'; ' + eff.note if eff.note else ''})"
    scale, unit = 1.0, ""
    if eff.metric == "accuracy_delta":  # points: x100 when accuracy is logged as a fraction
        scale, unit = (100.0 if _is_fraction(eff.baseline_value, eff.arm_value) else 1.0), " pp"
    value = eff.value * scale
    nums = [value] + ([c * scale for c in eff.ci] if eff.ci else [])
    d = 1 if unit else _delta_decimals(nums)
    head = f"{label} {signed(value, d)}{unit}"
    if eff.ci:
        lo, hi = (c * scale for c in eff.ci)
        return f"{head} ({_interval_part(eff, signed(lo, d), signed(hi, d), unit)})"
    return f"{head} ({eff.note or 'no interval'})"


def comparison_sentences(comp: Comparison, *, target_text: str = "time to target") -> list[str]:
    """The sentences for every effect of one comparison, in ``EFFECTS`` order."""
    out = []
    for eff in comp.effects.values():
        s = effect_sentence(eff, target_text=target_text)
        if s is not None and not (eff.metric == "time_to_target_ratio"
                                  and eff.note == "no target in the spec"):
            out.append(s)
    return out


def _headline(comp: Mapping[str, Any]) -> str:
    metrics = comp.get("metrics", {})
    parts = []
    for name, word in (("throughput_ratio", "throughput"), ("loss_delta", "loss"),
                       ("accuracy_delta", "accuracy")):
        m = metrics.get(name) or {}
        v = m.get("value")
        if v is None:
            continue
        if name == "throughput_ratio":
            pct = (v - 1) * 100
            text = f"{word} {signed(pct, _pct_decimals(pct, m.get('ci')))} %"
        elif name == "accuracy_delta":
            scale = 100 if _is_fraction(m.get("baseline_value"), m.get("arm_value")) else 1
            text = f"{word} {signed(v * scale, 1)} pp"
        else:
            text = f"{word} {signed(v, _delta_decimals([v]))}"
        sig = m.get("significant")
        text += "" if sig is None else (" (significant)" if sig else " (n.s.)")
        parts.append(text)
    return f"{comp.get('arm')} vs {comp.get('baseline')}: " + (", ".join(parts) or "no data")


def verdict_line(comparisons: Sequence[Mapping[str, Any]], gates: Sequence[Mapping[str, Any]],
                 fairness: Mapping[str, Any], failed_runs: Sequence[str] = ()) -> str:
    """The report's one-line verdict: headline effects per arm, gates, fairness, failures."""
    parts = [_headline(c) for c in comparisons] or ["no comparison"]
    if gates:
        failed = sum(1 for g in gates if not g.get("passed"))
        parts.append(f"gates: {failed} of {len(gates)} FAILED" if failed
                     else f"gates: all {len(gates)} passed")
    reasons = [str(r) for r in fairness.get("reasons", [])]
    if not fairness.get("checked", True):
        parts.append("fairness not checked")
    elif fairness.get("fair", True):
        parts.append("fair comparison")
    else:
        parts.append("NOT a fair comparison" + (f": {reasons[0]}" if reasons else ""))
    if failed_runs:
        parts.append(f"{len(failed_runs)} run(s) did not finish: " + ", ".join(failed_runs))
    return "; ".join(parts)
