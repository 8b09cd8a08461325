"""Number formatting and the per-arm table rows that markdown, HTML and the terminal share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from abtui.compare.effects import Effect
from abtui.compare.run_metrics import RunMetrics

MINUS = "\u2212"

#: Per-arm table: (header, aggregate key, unit)
ARM_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("throughput", "throughput", "samples/s"),
    ("typical rate", "throughput_median", "samples/s"),
    ("step p50", "step_time_p50_ms", "ms"),
    ("step p95", "step_time_p95_ms", "ms"),
    ("peak mem", "peak_memory", "MB"),
    ("final loss", "final_loss_smoothed", ""),
    ("acc best", "accuracy_best", ""),
    ("acc final", "accuracy_final", ""),
    ("wall", "wall_time_s", ""),
)
#: The narrower table of the terminal summary.
SUMMARY_COLUMNS = tuple(c for c in ARM_COLUMNS if c[1] not in ("step_time_p95_ms", "accuracy_best",
                                                                "throughput_median"))


def num(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits (thousands kept whole); '–' for none."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "\u2013"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}".replace("-", MINUS)
    return f"{x:.{digits}g}".replace("-", MINUS)


def duration(seconds: Any) -> str:
    """``42.0 s``, ``3 min 05 s``, ``2 h 04 min``; '–' for none."""
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return "\u2013"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60):02d} s"
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def aggregate_cell(agg: Mapping[str, Any], key: str) -> str:
    """Mean of a per-arm aggregate, with ± sd when there are replicates."""
    stat = agg.get(key) or {}
    mean = stat.get("mean")
    if mean is None:
        return "\u2013"
    text = duration(mean) if key == "wall_time_s" else num(mean)
    sd = stat.get("sd")
    if sd is not None and stat.get("n", 0) >= 2:
        text += f" \u00b1 {duration(sd) if key == 'wall_time_s' else num(sd, 2)}"
    return text


def arm_rows(report: Mapping[str, Any],
             columns: tuple[tuple[str, str, str], ...] = ARM_COLUMNS) -> list[list[str]]:
    """Rows of the per-arm table: arm, runs (done / all), then ``columns``."""
    rows = []
    baseline = (report.get("spec") or {}).get("baseline")
    for arm, data in (report.get("arms") or {}).items():
        agg = data.get("aggregate", {})
        runs = data.get("runs", [])
        done = sum(1 for r in runs if r.get("status") == "done")
        name = f"{arm} (baseline)" if arm == baseline else arm
        rows.append([name, f"{done}/{len(runs)}"] + [aggregate_cell(agg, k) for _, k, _ in columns])
    return rows


def arm_headers(columns: tuple[tuple[str, str, str], ...] = ARM_COLUMNS) -> list[str]:
    """Headers of ``arm_rows``."""
    return ["arm", "done"] + [f"{h} ({u})" if u else h for h, _, u in columns]


def ci_text(effect: Effect) -> str:
    """``[lo, hi]`` of an effect, or '–'."""
    if effect.ci is None:
        return "\u2013"
    return f"{num(effect.ci[0])} \u2026 {num(effect.ci[1])}"


def ci_label(effect: Effect) -> str:
    """The interval cell of the effects table: ``[lo … hi]``, marked when within-run only."""
    text = ci_text(effect)
    return text + " (within-run)" if text != "\u2013" and not effect.calibrated else text


#: Headers of ``effect_row``.
EFFECT_HEADERS = ["metric", "value", "95 % CI", "p", "Holm p", "significant", "calibrated",
                  "MDE (80 % power)", "n (base / arm)", "method"]


def mde_text(effect: Effect) -> str:
    """``±4.1 %`` for a ratio, ``±0.012`` for a delta, '–' without one."""
    if effect.mde is None:
        return "\u2013"
    if effect.kind.ratio:
        return f"\u00b1{abs(effect.mde) * 100:.1f} %"
    return f"\u00b1{num(abs(effect.mde), 2)}"


def effect_row(e: Effect) -> list[str]:
    """One row of the effects table (markdown and HTML share it)."""
    def p(x: float | None) -> str:
        return "\u2013" if x is None else f"{x:.3g}"
    sig, cal = e.significant, e.calibrated
    return [e.metric, num(e.value), ci_label(e), p(e.p_value), p(e.p_adjusted),
            "\u2013" if sig is None else ("yes" if sig else "no"),
            "\u2013" if cal is None else ("yes" if cal else "no (n = 1)"), mde_text(e),
            f"{e.n.get('baseline', 0)} / {e.n.get('arm', 0)}",
            e.method or e.note or "\u2013"]


#: The per-run table of report.md and report.html, one definition for both.
RUN_HEADERS = ["run", "status", "exit", "throughput", "typical rate", "step p50 ms",
               "peak mem MB", "final loss", "acc final", "wall", "to target", "odd lines"]


def run_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """One row per run of a report (``RUN_HEADERS``); each run read as ``RunMetrics`` (an
    older report's missing keys take their defaults)."""
    return [run_row(RunMetrics.read(r)) for data in (report.get("arms") or {}).values()
            for r in data.get("runs", []) if isinstance(r, Mapping)]


def run_row(r: RunMetrics) -> list[Any]:
    """One run's cells, in ``RUN_HEADERS`` order."""
    targets = [f"{key}: {duration(t)} / step {num(step)}" for key, t, step in (
        ("loss", r.time_to_target_loss_s, r.steps_to_target_loss),
        ("accuracy", r.time_to_target_accuracy_s, r.steps_to_target_accuracy)) if t is not None]
    return [r.run_id, r.status, "\u2013" if r.exit_code is None else str(r.exit_code),
            r.throughput, r.throughput_median, r.step_time_p50_ms,
            f"{num(r.peak_memory)} {r.memory_metric or ''}".strip(),
            r.final_loss_smoothed, r.accuracy_final, duration(r.wall_time_s),
            "; ".join(targets) or "\u2013", str(oddity_total(r.oddities))]


def oddity_total(oddities: Mapping[str, Any] | None) -> int:
    """How many odd lines one run had (all kinds together)."""
    return sum(v for k, v in (oddities or {}).items() if k != "examples" and isinstance(v, int))


#: Headers of ``ranking_rows``.
RANKING_HEADERS = ["#", "arm", "mean \u00b1 sd", "n", "lead over the best other",
                   "95 % interval (together)", "possible best"]


def ranking_rows(ranking: Mapping[str, Any]) -> list[list[str]]:
    """The ranking (best first): each arm's mean, its lead over the best of the others (> 0:
    ahead) with its simultaneous interval, and whether it may be the best; a confounded
    arm's name is marked."""
    odd = set(ranking.get("confounded") or [])
    rows = []
    for place, a in enumerate(ranking.get("arms") or [], 1):
        mean = num(a.get("mean"))
        if a.get("sd") is not None:
            mean += f" \u00b1 {num(a['sd'], 2)}"
        interval = a.get("interval")
        contender = a.get("contender")
        rows.append([str(place), f"{a.get('arm')} (confounded)" if a.get("arm") in odd
                     else str(a.get("arm")), mean, str(a.get("n")), num(a.get("lead")),
                     f"{num(interval[0])} \u2026 {num(interval[1])}" if interval else "\u2013",
                     "\u2013" if contender is None else ("yes" if contender else "no")])
    return rows
