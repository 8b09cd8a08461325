"""Plain-text rendering of findings, for ``abtui diff`` and logs (the TUI colours its own)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from abtui.diff.categories import names
from abtui.diff.fairness import fairness
from abtui.diff.findings import ERROR, Finding, summarize

#: One mark per kind of finding: intended, error, warning (confound), info (note).
MARKS = {"intended": "=", ERROR: "X", "warning": "!", "info": "-"}


def mark(f: Finding) -> str:
    """``=`` intended, ``X`` error, ``!`` confound, ``-`` note."""
    return MARKS["intended"] if f.intended else MARKS.get(f.severity, "-")


def render_findings(findings: Iterable[Finding], detail_lines: int = 60,
                    checks: Iterable[Any] = ()) -> str:
    """What was checked (every category's state, when ``checks`` are given), the findings
    grouped by category with their details (cut at ``detail_lines`` lines each), then the
    fairness verdict. Values are already masked."""
    findings = list(findings)
    checks = list(checks)
    counts = summarize(findings)
    lines: list[str] = []
    if checks:
        lines.append("checked:")
        lines += [f"  {c.line()}" for c in checks]
        lines.append("")
    categories = [c for c in names() if any(f.category == c for f in findings)]
    categories += sorted({f.category for f in findings} - set(categories))
    for cat in categories:
        c = counts.get(cat, {})
        lines.append(f"{cat}  ({c.get('intended', 0)} intended, {c.get('confounds', 0)} "
                     f"confound(s), {c.get('notes', 0)} note(s))")
        for f in (f for f in findings if f.category == cat):
            lines.append(f"  {mark(f)} {f.message}  [{f.arms[0]} vs {f.arms[1]}; {f.key}]")
            if f.detail:
                body = f.detail.rstrip("\n").splitlines()
                for text in body[:detail_lines]:
                    lines.append(f"      {text}")
                if len(body) > detail_lines:
                    lines.append(f"      … {len(body) - detail_lines} more line(s)")
    if not findings:
        lines.append("no differences found")
    verdict = fairness(findings)
    lines.append("")
    if verdict.fair:
        lines.append(f"fair: yes — {verdict.reasons[0]}")
    else:
        errors = sum(1 for f in verdict.confounds if f.severity == ERROR)
        lines.append(f"fair: NO — {len(verdict.confounds)} confound(s)"
                     + (f", {errors} serious" if errors else ""))
    lines.append("legend: = intended (treatment)   ! confound   X serious confound   - note")
    return "\n".join(lines) + "\n"
