"""A finding: one difference between two arms (or two replicates of one arm).

Every module in ``abtui.diff`` produces these; the diff pane, the report and
``abtui diff`` only read them. Values in a finding are already masked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from abtui.diff import categories

Severity = Literal["info", "warning", "error"]

INFO: Severity = "info"
WARNING: Severity = "warning"
ERROR: Severity = "error"
_RANK: dict[str, int] = {INFO: 0, WARNING: 1, ERROR: 2}
_SEVERITIES: dict[str, Severity] = {INFO: INFO, WARNING: WARNING, ERROR: ERROR}



@dataclass(frozen=True)
class Finding:
    """One difference.

    ``key`` is stable across runs ("config.optimizer.lr", "image.digest", "env.torch",
    "code.commit", "hardware.gpu_model", "data.fingerprint", "envvar.NCCL_ALGO").
    ``a`` / ``b`` are the two sides' values (``None`` where a side has none).
    ``intended``: the difference is the treatment. ``severity``: "info", "warning" or
    "error"; a finding that is not intended with severity warning or error is a confound.
    ``arms``: the two arm names, or the two run ids ("B.r0", "B.r1") for a difference
    between replicates of one arm. ``detail``: longer text (a git diff, a package list).
    """

    key: str
    category: str
    a: Any
    b: Any
    intended: bool
    severity: Severity
    message: str
    arms: tuple[str, str]
    detail: str | None = None

    @property
    def is_confound(self) -> bool:
        """Not the treatment, and serious enough to make the comparison unfair."""
        return not self.intended and _RANK.get(self.severity, 0) >= _RANK[WARNING]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (values are already masked)."""
        d = asdict(self)
        d["arms"] = list(self.arms)
        d["a"], d["b"] = _jsonable(self.a), _jsonable(self.b)
        d["confound"] = self.is_confound
        return d

    @classmethod
    def read(cls, entry: Mapping[str, Any]) -> Finding:
        """A finding of a report.json (its ``to_dict`` form); missing keys take safe values."""
        arms = entry.get("arms") or ["?", "?"]
        return cls(key=str(entry.get("key", "")), category=str(entry.get("category", "")),
                   a=entry.get("a"), b=entry.get("b"), intended=bool(entry.get("intended")),
                   severity=_SEVERITIES.get(str(entry.get("severity")), INFO),
                   message=str(entry.get("message", "")),
                   arms=(str(arms[0]), str(arms[-1])), detail=entry.get("detail"))

    def with_message(self, message: str) -> Finding:
        return replace(self, message=message)


def severity_rank(severity: str) -> int:
    """0 info, 1 warning, 2 error (sort key: most serious first with ``-rank``)."""
    return _RANK.get(severity, 0)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


def findings_to_json(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """Findings as JSON-ready dicts, for report.json and ``--json`` output. Secrets are
    masked when findings are made, so nothing here needs unmasking or re-masking."""
    return [f.to_dict() for f in findings]


def summarize(findings: Iterable[Finding]) -> dict[str, dict[str, int]]:
    """Per category: how many intended differences, confounds and notes (info that is
    neither). Every category appears, in display order, so a pane can show zeros."""
    out = {c: {"intended": 0, "confounds": 0, "notes": 0} for c in categories.names()}
    for f in findings:
        row = out.setdefault(f.category, {"intended": 0, "confounds": 0, "notes": 0})
        if f.intended:
            row["intended"] += 1
        elif f.is_confound:
            row["confounds"] += 1
        else:
            row["notes"] += 1
    return out


def show(value: Any, limit: int = 80) -> str:
    """A value as a sentence shows it: strings quoted, absent as 'not set', long cut."""
    if value is None:
        return "not set"
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        try:
            text = json.dumps(value, sort_keys=True, default=str)
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_id(image_id: str | None, n: int = 12) -> str:
    """``sha256:0123456789ab…`` from a full image id or digest."""
    if not image_id:
        return "unknown"
    algo, sep, hexpart = str(image_id).rpartition(":")
    if "@" in algo:  # repo@sha256:... digests: keep the repo out of the short form
        algo = algo.rpartition("@")[2]
    prefix = f"{algo}{sep}" if sep else ""
    return f"{prefix}{hexpart[:n]}…" if len(hexpart) > n else f"{prefix}{hexpart}"
