"""From a run's store to its conclusion: telemetry summary, findings, report files, exit code.

Shared by the headless mode, the TUI and ``abtui report``, so all three say the same.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from abtui.infra.errors import EXIT_ARM_FAILED, EXIT_GATE_FAILED, EXIT_NO_METRICS, EXIT_OK
from abtui.store import ArmStatus

if TYPE_CHECKING:
    from abtui.experiment import Experiment
    from abtui.report.schema import Report
    from abtui.telemetry.summary import TelemetrySummary

log = logging.getLogger(__name__)


def telemetry_summary(exp: Experiment) -> TelemetrySummary:
    """Each run's telemetry summary and its confound sentences (empty without samples)."""
    from abtui.telemetry.summary import TelemetrySummary

    trained = {run_id: n for run_id, state in exp.store.runs.items()
               if (n := (state.final or {}).get("samples"))}
    return TelemetrySummary.of(list(exp.store.telemetry), samples_trained=trained)


def evidence_gaps(exp: Experiment, telemetry: TelemetrySummary,
                  envs: dict[str, Any]) -> list[str]:
    """What the fairness check could not see in this run (see ``abtui.diff.evidence``);
    ``envs``: each run's env record (``env_records``)."""
    from abtui.diff.evidence import RunEvidence, missing_evidence

    runs = [RunEvidence(run_id, state.arm, str(state.status), envs.get(run_id) is not None,
                        bool(state.series))
            for run_id, state in exp.store.runs.items()]
    return missing_evidence(runs, backend=exp.spec.backend,
                            backend_facts=exp.manifest.get("backend_facts"),
                            telemetry_samples=telemetry.samples)


def env_with_first_step(env: dict[str, Any] | None,
                        events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The env record with the numerics the reporter sent at the first logged step."""
    first = next((e for e in events if e.get("event") == "numerics"), None)
    if env is None or first is None:
        return env
    state = {k: v for k, v in first.items() if k not in ("event", "at_step", "timestamp")}
    return {**env, "numerics_at_first_step": state}


def env_records(exp: Experiment) -> dict[str, Any]:
    """Each run's env record: its own, else the one abtui observed before launching it."""
    return {run_id: env_with_first_step(state.env or exp.rundir.observed_env(run_id),
                                        state.events)
            for run_id, state in exp.store.runs.items()}


def examine(exp: Experiment, telemetry: TelemetrySummary,
            extra_confounds: list[str] | None = None,
            envs: dict[str, Any] | None = None) -> tuple[list[Any], list[dict[str, str]]]:
    """The differences between the arms and every diff category's state (identical /
    treatment / confound / not recorded), from one pass over the runs' facts."""
    from abtui.diff.engine import examine as examine_runs

    workdir = exp.manifest.get("workdir")  # where the arms started, as the manifest says
    # from the run directory, not the backend: `abtui report` has none, and a run whose
    # arms had no hook (docker, an older run) has no writes folder: not recorded
    writes = {rid: exp.rundir.written_paths(rid) for rid in exp.store.runs}
    return examine_runs(exp.manifest, env_records(exp) if envs is None else envs, exp.spec,
                        telemetry=telemetry.runs,
                        confounds=[*telemetry.confounds, *(extra_confounds or [])],
                        writes=writes, workdir=str(workdir) if workdir else None)


def conclude(exp: Experiment, gates: list[str] | None = None, write: bool = True) -> Report:
    """Build (and write) the report of a run; returns the report dict."""
    from abtui.diff import fairness
    from abtui.experiment.corun_facts import corun_facts
    from abtui.report import build_report, write_reports

    telemetry = telemetry_summary(exp)
    co = corun_facts(exp)
    envs = env_records(exp)
    findings, checks = examine(exp, telemetry, co["sentences"], envs)
    gaps = evidence_gaps(exp, telemetry, envs)
    if co.get("unmeasured"):  # remote arms with no agent beside them: host load unseen
        gaps.append(f"host load not measured where {', '.join(co['unmeasured'])} ran (another "
                    "machine, and no telemetry agent beside the arm: telemetry.agent_image)")
    report = build_report(exp, gates=list(gates or ()), findings=findings,
                          telemetry=telemetry.runs, fairness=fairness(findings, gaps, list(exp.spec.arms)),
                          corun=co, checked=checks)
    if write and not exp.read_only:
        write_reports(exp.rundir, report)
    return report


def exit_code(exp: Experiment, report: Report) -> int:
    """3 if an arm failed, else 5 if an arm gave no metric at all, else 1 if a gate failed,
    else 0."""
    from abtui.report import gates_failed

    if any(s.status != ArmStatus.DONE for s in exp.store.runs.values()):
        return EXIT_ARM_FAILED
    if any(s.nothing_read() for s in exp.store.runs.values()):
        return EXIT_NO_METRICS  # nothing to compare is not a pass
    if gates_failed(report):
        return EXIT_GATE_FAILED
    return EXIT_OK
