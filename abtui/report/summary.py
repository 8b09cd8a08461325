"""The compact terminal summary the headless CLI prints after a run or ``abtui report``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from abtui.compare.effects import read_comparisons
from abtui.compare.gates import read_gates
from abtui.diff.fairness import CONFOUNDED, UNVERIFIABLE, Fairness
from abtui.report.format import SUMMARY_COLUMNS, arm_headers, arm_rows


def _columns(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    fmt = lambda row: "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()  # noqa: E731
    return [fmt(headers), fmt(["-" * w for w in widths]), *[fmt(r) for r in rows]]


def render_summary(report: Mapping[str, Any]) -> str:
    """Per-arm table, comparison sentences, gate lines and the verdict, as plain text."""
    out = [f"abtui report: {report.get('experiment')}  ({report.get('run_dir')})", ""]
    out += _columns(arm_headers(SUMMARY_COLUMNS), arm_rows(report, SUMMARY_COLUMNS)) + [""]
    for comp in read_comparisons(report):
        out.append(f"{comp.arm} vs {comp.baseline}:")
        out += [f"  {s}" for s in comp.sentences]
        out += [f"  note: {n}" for n in comp.notes]
        out.append("")
    gates = read_gates(report)
    if gates:
        out += ["gates:", *[f"  {g.line}" for g in gates], ""]
    fair = Fairness.read(report.get("fairness"))
    if fair.state == CONFOUNDED:
        out += ["not a fair comparison:", *[f"  - {r}" for r in fair.reasons], ""]
    elif fair.state == UNVERIFIABLE:
        out += ["fairness unverifiable (evidence missing):",
                *[f"  - {m}" for m in fair.missing or fair.reasons], ""]
    out.append(f"verdict: {(report.get('verdict') or {}).get('summary', '')}")
    return "\n".join(out)
