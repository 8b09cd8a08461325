"""The differences between arms, for the diff pane: loading (slow: may run git) and counting.

Plain Python: the console calls :func:`load_findings` from a worker thread. Findings are
read by attribute (``category``, ``key``, ``a``, ``b``, ``intended``, ``severity``,
``message``, ``detail``), so canned ones work as well as :class:`abtui.diff.findings.Finding`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from abtui.diff.categories import names

log = logging.getLogger(__name__)

_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass
class Differences:
    """What the diff pane shows: findings, or why there are none."""

    findings: list[Any] = field(default_factory=list)
    available: bool = True
    error: str | None = None
    telemetry_confounds: list[str] = field(default_factory=list)
    checks: list[dict[str, str]] = field(default_factory=list)  # every category's state

    @property
    def confounds(self) -> list[Any]:
        return [f for f in self.findings if is_confound(f)]

    def sentences(self) -> list[str]:
        """Every confound as a sentence: findings first, then telemetry-only ones."""
        out = [str(getattr(f, "message", f)) for f in self.confounds]
        out += [s for s in self.telemetry_confounds if s not in out]
        return out


def is_confound(finding: Any) -> bool:
    """Not the treatment, and at least a warning."""
    flag = getattr(finding, "is_confound", None)
    if isinstance(flag, bool):
        return flag
    return (not getattr(finding, "intended", False)
            and _RANK.get(getattr(finding, "severity", "info"), 0) >= 1)


def kind(finding: Any) -> str:
    """``treatment``, ``confound`` or ``note``: how a row is coloured."""
    if getattr(finding, "intended", False):
        return "treatment"
    return "confound" if is_confound(finding) else "note"


def count_by_category(findings: Sequence[Any]) -> dict[str, dict[str, int]]:
    """Per category (display order, only those with findings): treatment / confound / note."""
    out: dict[str, dict[str, int]] = {}
    for f in sorted(findings, key=lambda f: _order(getattr(f, "category", "other"))):
        row = out.setdefault(getattr(f, "category", "other"),
                             {"treatment": 0, "confound": 0, "note": 0})
        row[kind(f)] += 1
    return out


def _order(category: str) -> int:
    order = names()
    return order.index(category) if category in order else len(order)


def by_category(findings: Sequence[Any]) -> dict[str, list[Any]]:
    """Findings grouped by category, categories in display order, confounds first."""
    rank = {"confound": 0, "treatment": 1, "note": 2}
    out: dict[str, list[Any]] = {}
    for f in sorted(findings, key=lambda f: (_order(getattr(f, "category", "other")),
                                             rank[kind(f)])):
        out.setdefault(getattr(f, "category", "other"), []).append(f)
    return out


def load_findings(exp: Any) -> Differences:
    """Every difference between the arms so far (runs git: call it from a worker thread)."""
    from abtui import conclude
    from abtui.telemetry.summary import TelemetrySummary

    try:
        telemetry = conclude.telemetry_summary(exp)
    except Exception as exc:  # a half-written telemetry module must not break the pane
        log.exception("telemetry summary failed")
        telemetry = TelemetrySummary(error=str(exc))
    confounds = list(telemetry.confounds)
    try:
        findings, checks = conclude.examine(exp, telemetry)
    except Exception as exc:
        log.exception("finding differences failed")
        return Differences(available=False, error=f"{type(exc).__name__}: {exc}",
                           telemetry_confounds=confounds)
    return Differences(findings, telemetry_confounds=confounds, checks=checks)
