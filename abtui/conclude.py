"""From a run's store to its conclusion: telemetry summary, findings, report files, exit code.

Shared by the headless mode, the TUI and ``abtui report``, so all three say the same.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from abtui.errors import EXIT_ARM_FAILED, EXIT_GATE_FAILED, EXIT_OK
from abtui.store import ArmStatus

if TYPE_CHECKING:
    from abtui.experiment import Experiment

log = logging.getLogger(__name__)


def telemetry_summary(exp: Experiment) -> dict[str, Any]:
    """Per-arm telemetry summary and its confound sentences (empty without samples)."""
    try:
        from abtui.telemetry.summary import confounds, summarize
    except ImportError:
        return {"available": False, "arms": {}, "confounds": []}
    samples = list(exp.store.telemetry)
    samples_trained = {}
    for run_id, state in exp.store.arms.items():
        final = state.final or {}
        if final.get("samples"):
            samples_trained[run_id] = final["samples"]
    arms = summarize(samples, samples_trained=samples_trained) if samples else {}
    return {
        "available": any(s.get("gpus") for s in samples),
        "samples": len(samples),
        "arms": arms,
        "confounds": confounds(arms) if arms else [],
    }


def findings_for(exp: Experiment, telemetry: dict[str, Any]) -> list[Any]:
    try:
        from abtui.diff.engine import find_differences
    except ImportError:
        return []
    envs = {run_id: state.env for run_id, state in exp.store.arms.items()}
    return find_differences(exp.manifest, envs, exp.spec, telemetry=telemetry,
                            confounds=telemetry.get("confounds", []))


def conclude(exp: Experiment, gates: list[str] | None = None, write: bool = True) -> dict[str, Any]:
    """Build (and write) the report of a run; returns the report dict."""
    from abtui.diff import fairness
    from abtui.report import build_report, write_reports

    telemetry = telemetry_summary(exp)
    findings = findings_for(exp, telemetry)
    fair = fairness(findings).to_dict()
    report = build_report(exp, gates=list(gates or ()), findings=findings,
                          telemetry=telemetry.get("arms", {}), fairness=fair)
    if write and not exp.read_only:
        write_reports(exp.rundir, report)
    return report


def exit_code(exp: Experiment, report: dict[str, Any]) -> int:
    """3 if an arm failed, else 1 if a gate failed, else 0."""
    from abtui.report import gates_failed

    if any(s.status != ArmStatus.DONE for s in exp.store.arms.values()):
        return EXIT_ARM_FAILED
    if gates_failed(report):
        return EXIT_GATE_FAILED
    return EXIT_OK
