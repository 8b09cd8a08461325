"""The fairness check, three-valued: fair only when abtui looked and found nothing but the
treatment; confounded when it found something else; unverifiable when it could not look.

``fair`` is true only for the first; it is null (not false) when the comparison could not
be checked, and the missing evidence is named ("no env record from arm b", "arms
incomplete: b.r0 stopped"), so a reviewer knows what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from abtui.diff.findings import Finding, severity_rank

State = Literal["fair", "confounded", "unverifiable"]
FAIR: State = "fair"
CONFOUNDED: State = "confounded"
UNVERIFIABLE: State = "unverifiable"


@dataclass(frozen=True)
class Fairness:
    """The verdict on a comparison's fairness.

    ``state``: fair, confounded (a confound of severity warning or above) or unverifiable
    (no confound seen, but evidence is missing: ``missing`` says which). ``fair`` is True,
    False or None accordingly. ``reasons``: one line per confound, else per missing piece,
    else one line saying what differs (the treatment, or nothing).
    """

    state: State
    confounds: list[Finding] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def fair(self) -> bool | None:
        return {FAIR: True, CONFOUNDED: False}.get(self.state)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "fair": self.fair, "checked": True,
                "reasons": list(self.reasons), "missing": list(self.missing),
                "confounds": [f.to_dict() for f in self.confounds]}


def fairness(findings: Iterable[Finding], missing: Iterable[str] = ()) -> Fairness:
    """Confounded when there is a confound of severity warning or above; else unverifiable
    when evidence is ``missing``; else fair."""
    findings = list(findings)
    missing = list(dict.fromkeys(missing))
    confounds = sorted((f for f in findings if f.is_confound),
                       key=lambda f: -severity_rank(f.severity))
    if confounds:
        reasons = list(dict.fromkeys(f.message for f in confounds))
        return Fairness(CONFOUNDED, confounds, reasons, missing)
    if missing:
        return Fairness(UNVERIFIABLE, [], list(missing), missing)
    treated = list(dict.fromkeys(f.key.removeprefix("config.") for f in findings if f.intended))
    if treated:
        reason = f"the arms differ only in the treatment ({', '.join(treated)})"
    else:
        reason = "no difference found between the arms"
    return Fairness(FAIR, [], [reason])


def state_of(fair: dict[str, Any] | None) -> State:
    """The state of a fairness dict (report.json's ``fairness``; older reports had only
    ``fair`` and ``checked``)."""
    fair = fair or {}
    state = fair.get("state")
    if state in (FAIR, CONFOUNDED, UNVERIFIABLE):
        return state
    if not fair.get("checked", True):
        return UNVERIFIABLE
    return FAIR if fair.get("fair", True) else CONFOUNDED


def state_words(fair: dict[str, Any] | None) -> str:
    """``fair comparison`` / ``NOT a fair comparison: ...`` / ``fairness unverifiable: ...``."""
    state = state_of(fair)
    reasons = [str(r) for r in (fair or {}).get("reasons", []) if r != "not checked"]
    if state == FAIR:
        return "fair comparison"
    if state == CONFOUNDED:
        return "NOT a fair comparison" + (f": {reasons[0]}" if reasons else "")
    missing = [str(m) for m in (fair or {}).get("missing", [])] or reasons
    return "fairness unverifiable" + (f": {'; '.join(missing)}" if missing else "")
