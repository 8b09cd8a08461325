"""What the fairness check could not look at: the evidence a "fair" verdict needs.

A comparison is judged fair only on evidence. Each function here names one piece that is
missing, in words a reviewer can act on; ``fairness(findings, missing)`` then says
"unverifiable" instead of "fair" when any is missing and no confound was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from abtui.spec.backends import BACKENDS


@dataclass(frozen=True)
class RunEvidence:
    """What one run left behind that the fairness check reads."""

    run_id: str
    arm: str
    status: str
    has_env: bool
    has_metrics: bool


def _by_arm(runs: Iterable[RunEvidence]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in runs:
        out.setdefault(r.arm, []).append(r.run_id)
    return out


def _arms_text(groups: Mapping[str, list[str]]) -> str:
    return ", ".join(arm if ids == [arm] else f"{arm} ({', '.join(ids)})"
                     for arm, ids in groups.items())


def missing_evidence(runs: Iterable[RunEvidence], *, backend: str,
                     backend_facts: Mapping[str, Any] | None,
                     telemetry_samples: int) -> list[str]:
    """Every piece of evidence the fairness check lacks, as sentences."""
    runs = list(runs)
    out: list[str] = []
    no_env = _by_arm(r for r in runs if not r.has_env)
    if no_env:
        out.append(f"no env record from arm {_arms_text(no_env)}: versions, seeds and the "
                   "code it ran are unknown (print one with abtui.reporter.env())")
    unfinished = [r for r in runs if r.status != "done"]
    if unfinished:
        out.append("arms incomplete: " + ", ".join(f"{r.run_id} {r.status}" for r in unfinished))
    silent = _by_arm(r for r in runs if not r.has_metrics)
    if silent:
        out.append(f"no metric records from arm {_arms_text(silent)}")
    if backend in BACKENDS and BACKENDS[backend].images:
        facts = backend_facts or {}
        image = facts.get("image") if isinstance(facts.get("image"), Mapping) else {}
        if not (image or {}).get("id") and not facts.get("images"):
            out.append("image identity unknown (the image was never resolved to an ID)")
    if telemetry_samples == 0:
        out.append("no telemetry samples: host load and GPU state were not checked")
    return out
