"""The telemetry thread: sample GPUs and host at the spec's interval, persist, feed the store."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from abtui.experiment.node_telemetry import NodeTelemetry
from abtui.run_files import Sample
from abtui.store import ArmStatus

if TYPE_CHECKING:
    from abtui.experiment.orchestrator import Experiment

log = logging.getLogger(__name__)


class TelemetryLoop(threading.Thread):
    """Runs the telemetry sampler until the experiment stops; never raises."""

    def __init__(self, exp: Experiment) -> None:
        super().__init__(name="abtui-telemetry", daemon=True)
        self.exp = exp
        self.sampler: Any = None
        self.remote: set[str] = set()  # runs on other machines (sampled by their agents)

    def run(self) -> None:
        exp = self.exp
        try:
            from abtui.telemetry import TelemetrySampler

            self.remote = {r.run_id for r in exp.runs if exp.backend.is_remote(r)}
            every = bool(self.remote) and len(self.remote) == len(exp.runs)  # Slurm: all
            self.sampler = TelemetrySampler(
                exp.rundir.telemetry_path, interval=exp.spec.telemetry.interval_s,
                docker_client=exp.backend.docker_client,
                # remote arms' GPUs and host load are sampled on their nodes, not here
                gpus=[] if every else None, foreign_cpu=not every,
                experiment=exp.rundir.name if exp.spec.hosts else None)
            self.refresh()
            nodes = None
            if self.remote:
                nodes = NodeTelemetry(exp.rundir, [r.run_id for r in exp.runs
                                                   if r.run_id in self.remote],
                                      exp.backend.NODE_TELEMETRY_PATH)
            if not every and not self.sampler.available:
                exp.store.notice(f"no GPU telemetry: {self.sampler.reason_unavailable or 'NVML unavailable'}")

            def on_sample(sample: Sample) -> None:
                exp.store.add_telemetry(sample)
                self.refresh()

            self.sampler.run(exp.stop_event, on_sample,
                             merge=nodes.merge if nodes is not None else None)
        except Exception:  # telemetry must never take the experiment down
            log.exception("telemetry stopped")
            exp.store.notice("telemetry stopped after an error (details in monitor.log)")
        finally:
            if self.sampler is not None:
                self.sampler.close()

    def _queue_state(self, run_id: str, handle: Any, state: Any) -> None:
        """An arm the cluster's scheduler still holds is "queued", with its reason."""
        if not self.remote or state.lines:
            return
        try:
            reason = self.exp.backend.queued(handle)
        except Exception:  # the controller's trouble is the backend's to report
            return
        if reason and state.status in (ArmStatus.RUNNING, ArmStatus.STARTING):
            state.move(ArmStatus.QUEUED)
            self.exp.store.notice(f"arm {run_id}: {reason}")
        elif not reason and state.status == ArmStatus.QUEUED:
            state.move(ArmStatus.RUNNING)

    def refresh(self) -> None:
        """Map GPUs, PIDs and containers to the runs active now (replicates take turns)."""
        exp, sampler = self.exp, self.sampler
        owners: dict[int, str] = {}
        for run in exp.runs:
            state = exp.store.runs.get(run.run_id)
            handle = exp.handles.get(run.run_id)
            if state is None or handle is None:
                continue
            if state.status in ArmStatus.ENDED:
                sampler.forget_arm(run.run_id)
                continue
            for g in () if run.run_id in self.remote else run.gpus:  # not this host's GPUs
                owners[g] = run.run_id
            self._queue_state(run.run_id, handle, state)
            ref = handle.ref
            if ref.get("remote"):
                continue  # on another machine: not this host's containers or processes
            if ref.get("container_id"):
                sampler.set_arm_container(run.run_id, ref["container_id"])
            elif ref.get("pid"):
                sampler.set_arm_pids(run.run_id, [ref["pid"]])
        sampler.arm_of_gpu = owners
