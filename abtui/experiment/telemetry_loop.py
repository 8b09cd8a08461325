"""The telemetry thread: sample GPUs and host at the spec's interval, persist, feed the store."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

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
        try:
            from abtui.telemetry import TelemetrySampler
        except ImportError:
            return
        exp = self.exp
        try:
            self.sampler = TelemetrySampler.for_experiment(exp)
            if not self.sampler.available and self.sampler.reason_unavailable:
                exp.store.notice(f"GPU telemetry unavailable: {self.sampler.reason_unavailable}")
            self.sampler.run(exp.stop_event, exp.store.add_telemetry)
        except Exception:  # telemetry must never take the experiment down
            log.exception("telemetry stopped")
            exp.store.notice("telemetry stopped after an error (see the log)")
