"""The report's top level (report.json; every key in docs/report.md): typed for the code
that builds and reads it, plain JSON on disk (a TypedDict is a dict)."""

from __future__ import annotations

from typing import Any, TypedDict


class Verdict(TypedDict):
    """The one-line answer and what it rests on."""

    summary: str
    fair: bool | None  # None: fairness could not be checked
    fairness: str  # "fair", "confounded" or "unverifiable"
    gates_passed: bool | None  # None: no gates
    failed_runs: list[str]


class Charts(TypedDict):
    loss: dict[str, Any]
    accuracy: dict[str, Any]
    throughput: list[dict[str, Any]]
    gpu: dict[str, dict[str, Any]]  # GPU index -> its traces


class Report(TypedDict):
    """``report.json``: what ``build_report`` returns and every renderer reads."""

    schema_version: int
    experiment: str
    run_dir: str
    created: str | None
    finished: str | None
    generated: str | None
    status: str | None
    spec: dict[str, Any]
    arms: dict[str, dict[str, Any]]  # arm -> {"runs": [...], "aggregate": {...}}
    comparisons: list[dict[str, Any]]
    gates: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    fairness: dict[str, Any]
    telemetry: dict[str, Any]
    failed_runs: list[str]
    environment: dict[str, Any]
    corun: dict[str, Any] | None
    sequential: dict[str, Any] | None  # the sequential design's rule, looks and decision
    ranking: dict[str, Any] | None  # three or more arms: the best and its contenders
    factorial: dict[str, Any] | None  # a grid: main effects and interactions
    notes: list[str]
    charts: Charts
    verdict: Verdict
