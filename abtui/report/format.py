"""Number formatting and the per-arm table rows that markdown, HTML and the terminal share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MINUS = "\u2212"

#: Per-arm table: (header, aggregate key, unit)
ARM_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("throughput", "throughput_median", "samples/s"),
    ("step p50", "step_time_p50_ms", "ms"),
    ("step p95", "step_time_p95_ms", "ms"),
    ("peak mem", "peak_memory", "MB"),
    ("final loss", "final_loss_smoothed", ""),
    ("acc best", "accuracy_best", ""),
    ("acc final", "accuracy_final", ""),
    ("wall", "wall_time_s", ""),
)
#: The narrower table of the terminal summary.
SUMMARY_COLUMNS = tuple(c for c in ARM_COLUMNS if c[1] not in ("step_time_p95_ms", "accuracy_best"))


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


def ci_text(metric: Mapping[str, Any]) -> str:
    """``[lo, hi]`` of an effect, or '–'."""
    ci = metric.get("ci")
    if not ci or None in ci:
        return "\u2013"
    return f"{num(ci[0])} \u2026 {num(ci[1])}"


def oddity_total(oddities: Mapping[str, Any] | None) -> int:
    """How many odd lines one run had (all kinds together)."""
    return sum(v for k, v in (oddities or {}).items() if k != "examples" and isinstance(v, int))
