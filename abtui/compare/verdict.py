"""Words: one sentence per effect ("throughput +23 % (95 % CI +20…+26 %)") and a one-line verdict."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from abtui.compare.effects import EFFECTS, HEADLINE, N1_WARNING, Comparison, Effect
from abtui.compare.gates import GateResult
from abtui.diff.fairness import Fairness, state_words

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


def p_text(p: float | None) -> str:
    """``p = 0.17`` / ``p < 0.001``."""
    if p is None:
        return "p n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def runs_text(n: Mapping[str, int]) -> str:
    """``3 vs 3 runs`` (baseline first)."""
    return f"{n.get('baseline', 0)} vs {n.get('arm', 0)} runs"


def _test_part(eff: Effect) -> str:
    """``p = 0.17, 2 vs 2 runs; not significant, ...`` for a calibrated effect."""
    text = f"{p_text(eff.p_value)}"
    if eff.family and eff.family > 1 and eff.p_adjusted is not None:
        text += f", Holm-adjusted {p_text(eff.p_adjusted)} over {eff.family} effects"
    text += f", {runs_text(eff.n)}; "
    text += "significant" if eff.significant else "not significant"
    return text


def _power_part(eff: Effect, ratio: bool, scale: float = 1.0, unit: str = "",
                decimals: int = 1) -> str:
    """``; smallest change detectable at 80 % power ±4.1 %; about 7 runs per arm ...``."""
    if eff.mde is None or eff.significant:
        return ""
    if ratio:
        mde = f"\u00b1{abs(eff.mde) * 100:.{decimals}f} %"
    else:
        mde = f"\u00b1{abs(eff.mde) * scale:.{decimals}f}{unit}"
    text = f"; smallest change detectable at 80 % power {mde}"
    if eff.replicates_needed:
        text += f"; about {eff.replicates_needed} runs per arm would detect the observed effect"
    elif eff.value is not None and eff.value != (1.0 if ratio else 0.0):
        text += "; the observed effect would need more than 1000 runs per arm"
    return text


def _interval_part(eff: Effect, fmt_lo: str, fmt_hi: str, unit: str) -> str:
    assert eff.ci is not None
    if not eff.calibrated:
        return f"within-run 95 % CI {fmt_lo}\u2026{fmt_hi}{unit}; {eff.note or N1_WARNING}"
    return f"95 % CI {fmt_lo}\u2026{fmt_hi}{unit}, {_test_part(eff)}{better_part(eff)}"


def better_part(eff: Effect) -> str:
    """``; P(a run beats the baseline's) 0.83 (95 % CI 0.44…0.97)``, where measured."""
    if eff.p_better is None or eff.p_better_ci is None:
        return ""
    lo, hi = eff.p_better_ci
    return (f"; P(a run beats the baseline's) {eff.p_better:.2f} "
            f"(95 % CI {lo:.2f}\u2026{hi:.2f})")


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
            return (f"{head} ({_interval_part(eff, signed(lo, d), signed(hi, d), ' %')}"
                    f"{_power_part(eff, True, decimals=max(d, 1))})")
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
        return (f"{head} ({_interval_part(eff, signed(lo, d), signed(hi, d), unit)}"
                f"{_power_part(eff, False, scale, unit, d)})")
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


def _sig_text(eff: Effect) -> str:
    if not eff.calibrated:
        return ""
    adjusted = eff.family and eff.family > 1 and eff.p_adjusted is not None
    p = p_text(eff.p_adjusted if adjusted else eff.p_value)
    p = ("Holm " + p) if adjusted else p
    return f" (significant, {p})" if eff.significant else f" (n.s., {p})"


def _headline(comp: Comparison) -> str:
    """``B vs A (3 vs 3 runs): throughput +3.0 % (n.s., p = 0.17), ...; no detectable
    difference (smallest detectable throughput change ±4.1 %)``; with n = 1 the figures and
    the warning that nothing was tested."""
    effects = [e for name in HEADLINE if (e := comp.effects.get(name)) is not None]
    parts = []
    calibrated = any(e.calibrated for e in effects)
    n: Mapping[str, int] = {}
    for eff in effects:
        v = eff.value
        if v is None:
            continue
        n = n or eff.n
        if eff.metric == "throughput_ratio":
            pct = (v - 1) * 100
            text = f"throughput {signed(pct, _pct_decimals(pct, eff.ci))} %"
        elif eff.metric == "accuracy_delta":
            scale = 100 if _is_fraction(eff.baseline_value, eff.arm_value) else 1
            text = f"accuracy {signed(v * scale, 1)} pp"
        else:
            text = f"loss {signed(v, _delta_decimals([v]))}"
        parts.append(text + _sig_text(eff))
    head = f"{comp.arm} vs {comp.baseline}"
    if not parts:
        return head + ": no data"
    if calibrated:
        head += f" ({runs_text(n)})"
    text = f"{head}: " + ", ".join(parts)
    if comp.sequential and comp.sequential.get("short"):
        return text + f"; sequential design: {comp.sequential['short']}"
    if not calibrated:
        return text + f" ({N1_WARNING})"
    if not any(e.significant for e in effects):
        text += "; no detectable difference"
        tp = comp.effects.get("throughput_ratio")
        if tp is not None and tp.mde is not None:
            text += f" (smallest detectable throughput change \u00b1{abs(tp.mde) * 100:.1f} %)"
    return text


def verdict_line(comparisons: Sequence[Comparison], gates: Sequence[GateResult],
                 fairness: Fairness, failed_runs: Sequence[str] = (),
                 ranking: str | None = None) -> str:
    """The report's one-line verdict: the ranking of three or more arms, headline effects
    per arm, gates, fairness, failures."""
    parts = ([ranking] if ranking else []) + ([_headline(c) for c in comparisons]
                                              or ["no comparison"])
    if gates:
        failed = sum(1 for g in gates if not g.passed)
        parts.append(f"gates: {failed} of {len(gates)} FAILED" if failed
                     else f"gates: all {len(gates)} passed")
    parts.append(state_words(fairness))
    if failed_runs:
        parts.append(f"{len(failed_runs)} run(s) did not finish: " + ", ".join(failed_runs))
    return "; ".join(parts)
