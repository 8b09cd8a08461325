"""The fairness check: a comparison is fair only when nothing but the treatment differs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from abtui.diff.findings import Finding, severity_rank


@dataclass(frozen=True)
class Fairness:
    """The verdict on a comparison's fairness.

    ``fair``: no confound of severity warning or above. ``confounds``: those findings,
    most serious first. ``reasons``: one line per confound when unfair; one line saying
    what differs (the treatment, or nothing) when fair.
    """

    fair: bool
    confounds: list[Finding] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"fair": self.fair, "reasons": list(self.reasons),
                "confounds": [f.to_dict() for f in self.confounds]}


def fairness(findings: Iterable[Finding]) -> Fairness:
    """Fair only when there are no confounds of severity warning or above."""
    findings = list(findings)
    confounds = sorted((f for f in findings if f.is_confound),
                       key=lambda f: -severity_rank(f.severity))
    if confounds:
        reasons = list(dict.fromkeys(f.message for f in confounds))
        return Fairness(False, confounds, reasons)
    treated = list(dict.fromkeys(f.key.removeprefix("config.") for f in findings if f.intended))
    if treated:
        reason = f"the arms differ only in the treatment ({', '.join(treated)})"
    else:
        reason = "no difference found between the arms"
    return Fairness(True, [], [reason])
