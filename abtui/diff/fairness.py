"""The fairness check, three-valued: fair only when abtui looked and found nothing but the
treatment; confounded when it found something else; unverifiable when it could not look.

``fair`` is true only for the first; it is null (not false) when the comparison could not
be checked, and the missing evidence is named ("no env record from arm b", "arms
incomplete: b.r0 stopped"), so a reviewer knows what to fix.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from abtui.diff.findings import Finding, severity_rank

State = Literal["fair", "confounded", "unverifiable"]
#: Confounds that change how fast a run goes, not what it computes: load on the host, a run
#: that had the machine to itself, a power cap, thermal throttling, a GPU shared with
#: another process, a different clock ceiling or power limit. Alone, they leave the
#: comparison of what was computed (loss, accuracy, memory) fair.
SPEED_ONLY = frozenset({"host.foreign_cpu", "host.overlap", "hardware.power_capped",
                        "hardware.thermal_throttle", "hardware.shared_gpu",
                        "hardware.clock_ceiling", "hardware.power_limit"})
#: The effects such confounds bias (gate and effect names).
SPEED_EFFECTS = frozenset({"throughput_ratio", "step_time_ratio", "time_to_target_ratio"})
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

    arms: dict[str, list[str]] = field(default_factory=dict)  # arm -> its own confounds
    checked: bool = True  # False: no check ran (``NOT_CHECKED``)
    #: what the diff looked at, category by category (``diff.checked``)
    checked_categories: list[dict[str, str]] = field(default_factory=list)

    @property
    def fair(self) -> bool | None:
        return {FAIR: True, CONFOUNDED: False}.get(self.state)

    @property
    def affects(self) -> str | None:
        """``speed`` when every confound only changes how fast runs went (``SPEED_ONLY``),
        ``all`` otherwise; None when not confounded."""
        if self.state != CONFOUNDED:
            return None
        speed = bool(self.confounds) and all(f.key in SPEED_ONLY for f in self.confounds)
        return "speed" if speed else "all"

    def to_dict(self) -> dict[str, Any]:
        """report.json's ``fairness`` (docs/report.md); a comparison not checked has only
        its state, ``fair``, ``checked``, ``reasons`` and ``missing``."""
        out: dict[str, Any] = {"state": self.state, "fair": self.fair, "checked": self.checked,
                               "reasons": list(self.reasons), "missing": list(self.missing)}
        if self.checked:
            out.update(confounds=[f.to_dict() for f in self.confounds],
                       arms={a: list(r) for a, r in self.arms.items()}, affects=self.affects)
            out["checked_categories"] = [dict(c) for c in self.checked_categories]
        return out

    @classmethod
    def read(cls, fair: Mapping[str, Any] | None) -> Fairness:
        """A report.json's ``fairness``, typed; older reports had only ``fair`` and
        ``checked`` (no state): the state is read from those."""
        fair = fair or {}
        state = fair.get("state")
        if state not in (FAIR, CONFOUNDED, UNVERIFIABLE):
            state = (UNVERIFIABLE if not fair.get("checked", True)
                     else FAIR if fair.get("fair", True) else CONFOUNDED)
        return cls(_STATES[state],
                   [Finding.read(f) for f in fair.get("confounds") or [] if isinstance(f, Mapping)],
                   [str(r) for r in fair.get("reasons") or []],
                   [str(m) for m in fair.get("missing") or []],
                   {str(a): [str(r) for r in rs] for a, rs in (fair.get("arms") or {}).items()},
                   bool(fair.get("checked", True)),
                   [dict(c) for c in fair.get("checked_categories") or [] if isinstance(c, Mapping)])


def _value(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def confounded_arms(confounds: Iterable[Finding], arms: Sequence[str]) -> dict[str, list[str]]:
    """Which arms each confound belongs to, so that one odd arm of many is named rather than
    the whole comparison condemned. For each finding key, every arm's value is read from the
    pairs that differ; the arms off the most common value are the odd ones (with no most
    common value, every arm the key differs in). A difference between replicates of one arm
    belongs to that arm; a sentence with no values (host load, throttling) belongs to the
    arms it names. arm -> the messages that make it confounded."""
    names = set(arms)
    by_key: dict[str, list[Finding]] = {}
    out: dict[str, list[str]] = {}

    def blame(arm: str, message: str) -> None:
        if message not in out.setdefault(arm, []):
            out[arm].append(message)

    for f in confounds:
        a, b = f.arms
        if f.a is None and f.b is None:  # a sentence (host load, throttling): the arms it names
            named = [x for x in arms if re.search(
                rf"(?:\barm |(?<![\w.-])){re.escape(x)}(?:\.r\d+\b|(?=[:,;)]))", f.message)]
            for arm in named or [x for x in (a, b) if x in names]:
                blame(arm, f.message)
            continue
        if a in names and b in names and a != b:
            by_key.setdefault(f.key, []).append(f)
            continue
        owners = [x.rsplit(".r", 1)[0] if x not in names else x for x in (a, b)]
        for arm in dict.fromkeys(o for o in owners if o in names):
            blame(arm, f.message)
    for found in by_key.values():
        value: dict[str, str] = {}
        for f in found:
            value.setdefault(f.arms[0], _value(f.a))
            value.setdefault(f.arms[1], _value(f.b))
        seen = {a for f in found for a in f.arms}
        for arm in names - seen:  # never differed: it has the common value
            value[arm] = ""
        counts = Counter(value.values()).most_common()
        common = counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else None
        for f in found:
            for arm in f.arms:
                if common is None or value[arm] != common:
                    blame(arm, f.message)
    return {a: out[a] for a in arms if a in out}


def fairness(findings: Iterable[Finding], missing: Iterable[str] = (),
             arms: Sequence[str] = ()) -> Fairness:
    """Confounded when there is a confound of severity warning or above; else unverifiable
    when evidence is ``missing``; else fair. With ``arms`` (three or more), a confounded
    comparison also says which arms the confounds belong to (``confounded_arms``)."""
    findings = list(findings)
    missing = list(dict.fromkeys(missing))
    confounds = sorted((f for f in findings if f.is_confound),
                       key=lambda f: -severity_rank(f.severity))
    if confounds:
        reasons = list(dict.fromkeys(f.message for f in confounds))
        odd = confounded_arms(confounds, arms) if len(arms) >= 3 else {}
        return Fairness(CONFOUNDED, confounds, reasons, missing, odd)
    if missing:
        return Fairness(UNVERIFIABLE, [], list(missing), missing)
    treated = list(dict.fromkeys(f.key.removeprefix("config.") for f in findings if f.intended))
    if treated:
        reason = f"the arms differ only in the treatment ({', '.join(treated)})"
    else:
        reason = "no difference found between the arms"
    return Fairness(FAIR, [], [reason])


def state_words(fair: Fairness) -> str:
    """``fair comparison`` / ``NOT a fair comparison: ...`` / ``fairness unverifiable: ...``."""
    reasons = [r for r in fair.reasons if r != "not checked"]
    if fair.state == FAIR:
        return "fair comparison"
    if fair.state == CONFOUNDED:
        if fair.affects == "speed":
            return ("NOT a fair comparison of speed (throughput, step time, time to target): "
                    + (reasons[0] if reasons else "host load") + "; what the runs computed "
                    "(loss, accuracy, memory) compared fairly")
        odd = fair.arms
        if odd:  # three or more arms: which ones, and whether the others still compare
            named = "; ".join(f"arm {a}: {r[0]}" for a, r in odd.items() if r)
            return f"NOT a fair comparison for {len(odd)} arm(s): {named}"
        return "NOT a fair comparison" + (f": {reasons[0]}" if reasons else "")
    missing = fair.missing or reasons
    return "fairness unverifiable" + (f": {'; '.join(missing)}" if missing else "")


_STATES: dict[str, State] = {FAIR: FAIR, CONFOUNDED: CONFOUNDED, UNVERIFIABLE: UNVERIFIABLE}
#: A comparison no fairness check ran on: said as unverifiable, never as fair.
NOT_CHECKED = Fairness(UNVERIFIABLE, reasons=["not checked"], missing=["fairness not checked"],
                       checked=False)
