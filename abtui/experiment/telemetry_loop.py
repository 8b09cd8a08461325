"""The telemetry thread: sample GPUs and host at the spec's interval, persist, feed the store."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

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

    def run(self) -> None:
        exp = self.exp
        try:
            from abtui.telemetry import TelemetrySampler

            self.sampler = TelemetrySampler(
                exp.rundir.telemetry_path, interval=exp.spec.telemetry.interval_s,
                docker_client=getattr(exp.backend, "client", None))
            self.refresh()
            if not self.sampler.available:
                exp.store.notice(f"no GPU telemetry: {self.sampler.reason_unavailable or 'NVML unavailable'}")

            def on_sample(sample: dict[str, Any]) -> None:
                exp.store.add_telemetry(sample)
                self.refresh()

            self.sampler.run(exp.stop_event, on_sample)
        except Exception:  # telemetry must never take the experiment down
            log.exception("telemetry stopped")
            exp.store.notice("telemetry stopped after an error (details in monitor.log)")
        finally:
            if self.sampler is not None:
                self.sampler.close()

    def refresh(self) -> None:
        """Map GPUs, PIDs and containers to the runs active now (replicates take turns)."""
        exp, sampler = self.exp, self.sampler
        owners: dict[int, str] = {}
        for run in exp.runs:
            state = exp.store.arms.get(run.run_id)
            handle = exp.handles.get(run.run_id)
            if state is None or handle is None or state.status in ArmStatus.ENDED:
                continue
            for g in run.gpus:
                owners[g] = run.run_id
            ref = handle.ref
            if ref.get("container_id"):
                sampler.set_arm_container(run.run_id, ref["container_id"])
            elif ref.get("pid"):
                sampler.set_arm_pids(run.run_id, [ref["pid"]])
        sampler.arm_of_gpu = owners
