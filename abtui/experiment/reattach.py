"""Rebuilding an experiment from its run directory: the store from events.jsonl (after the
arms' snapshots), each arm's status from its exit.json, the arms the backend can still see
followed again; and the monitor's own log file. Used by ``Experiment.attach``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, cast

from abtui.experiment.manifest import read_jsonl
from abtui.experiment.schedule import with_recorded_gpus
from abtui.infra.errors import AbtuiError, RunDirError
from abtui.run_files import GpuInfo, Sample
from abtui.rundir import Manifest, RunDir
from abtui.spec import ArmRun, ExperimentSpec, resolve_runs
from abtui.store import ArmStatus, RunState
from abtui.store.parallel import replay_arms
from abtui.telemetry.samples import upgrade

if TYPE_CHECKING:
    from abtui.experiment.orchestrator import Experiment


def stored_plan(rundir: RunDir) -> tuple[ExperimentSpec, list[ArmRun], Manifest]:
    """The experiment a run directory holds: its spec (validated), its runs (those the
    manifest still plans: a sequential design that decided dropped its later runs; packed
    runs with the GPUs they got) and its manifest."""
    manifest = rundir.read_manifest()
    try:
        spec = ExperimentSpec.model_validate(manifest["spec"])
    except Exception as exc:
        raise RunDirError(f"{rundir.manifest_path}: the stored spec is unreadable ({exc})") from None
    planned = manifest.get("runs")
    runs = [r for r in resolve_runs(spec)
            if not isinstance(planned, dict) or not planned or r.run_id in planned]
    return spec, with_recorded_gpus(runs, planned), manifest


def log_to_rundir(rundir: RunDir) -> None:
    """The monitor's own diagnostics go to monitor.log in the run dir, never the screen."""
    logger = logging.getLogger("abtui")
    for h in list(logger.handlers):
        if getattr(h, "_abtui", False):
            logger.removeHandler(h)
            h.close()
    handler: logging.Handler
    try:
        handler = logging.FileHandler(rundir.root / "monitor.log", encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler._abtui = True  # type: ignore[union-attr]  # marks the handlers added here
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def replay(exp: Experiment) -> None:
    """Fold every persisted line (after the arm's store snapshot, if it has a valid one)
    and telemetry sample into the store."""
    arms = []
    for run_id in exp.rundir.run_ids():
        state = exp.store.runs.get(run_id) or exp.store.add_run(run_id, run_id)
        arms.append((state, exp.rundir.events_path(run_id)))
    replay_arms(arms)  # long arms in parallel processes, when no snapshot covers them
    for run_id in exp.rundir.run_ids():
        restore_status(exp.rundir, run_id, exp.store.runs[run_id])
    for line in read_jsonl(exp.rundir.telemetry_path):  # samples and gpu_info, as written
        exp.store.add_telemetry(cast("Sample | GpuInfo", upgrade(line)))  # older: today's keys


def restore_status(rundir: RunDir, run_id: str, state: RunState) -> None:
    """An arm's status as the run dir says: its exit.json, else detached if it spoke."""
    ex = rundir.read_exit(run_id)
    if ex is not None:
        state.exit = ex
        # a status the file states, if it is one (a crafted exit.json says anything)
        state.move(ArmStatus.read(ex.status) or (ArmStatus.FAILED if ex.status
                                                 else ArmStatus.DONE))
    elif state.lines:
        state.move(ArmStatus.DETACHED)


def follow_again(exp: Experiment) -> None:
    """Hand the arms the backend still sees to the experiment; never-launched runs go back
    to the scheduler; the others are lost."""
    try:
        found = exp.backend.find(exp.rundir)
    except AbtuiError as exc:
        exp.store.notice(f"cannot reach the arms: {exc}")
        found = {}
    for run_id, handle in found.items():
        # ended arms too: if the disk was full, events.jsonl lags the arm's own output,
        # and following from the last recorded token catches up (a no-op otherwise)
        if run_id in exp.store.runs:
            exp.handles[run_id] = handle
    never: list[str] = []
    for run in exp.runs:
        state = exp.store.run(run.run_id)
        if run.run_id in exp.handles or state.status in ArmStatus.ENDED:
            continue
        if "ref" not in exp.manifest["runs"].get(run.run_id, {}) and not exp.read_only:
            state.move(ArmStatus.PENDING)
            if exp.resume:
                exp.pending.append(run)  # never launched: the scheduler starts it now
            else:
                never.append(run.run_id)
        else:
            state.move(ArmStatus.LOST)
    if never:
        exp.store.notice(f"{len(never)} run(s) were never launched ({', '.join(never[:8])}): "
                         "abtui attach --resume RUN_DIR starts them (their commands come from "
                         "the run directory: only on one of your own)")
