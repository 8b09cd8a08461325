"""A throughput where a log implies one and prints none (the log adapters' lines).

nanoGPT prints milliseconds per iteration and, once at the start, the tokens per iteration;
the PyTorch word LM prints ``ms/batch``; mnist prints a sample counter. The rate each
implies is added to the line's metrics as ``throughput_samples_per_sec``, and ``source``
says how it was made, for the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

THROUGHPUT = "throughput_samples_per_sec"


@dataclass
class ImpliedThroughput:
    source: str | None = None  # how the rates were derived; None: none derived
    _seen: tuple[float, float] | None = field(default=None, repr=False)  # samples, time

    def add(self, values: dict[str, float], t: float, final: Mapping[str, Any] | None) -> None:
        """The rate ``values`` implies, added to them: the work per step (a
        ``tokens_per_step`` total in ``final``; else one step) over the step time, or a
        sample counter over receive times."""
        if THROUGHPUT in values:
            return
        ms = values.get("step_time_ms")
        seen = values.get("samples_seen")
        if ms is not None and ms > 0:
            work = (final or {}).get("tokens_per_step")
            if isinstance(work, (int, float)) and work > 0:
                values[THROUGHPUT] = work * 1000 / ms
                self.source = "step time × tokens per step (tokens/s)"
            else:
                values[THROUGHPUT] = 1000 / ms
                self.source = ("step time (steps/s: the log prints no work per step, so "
                               "compare arms with the same batch)")
        elif seen is not None:
            last, self._seen = self._seen, (seen, t)
            if last is not None and seen > last[0] and t > last[1]:
                values[THROUGHPUT] = (seen - last[0]) / (t - last[1])
                self.source = "sample counter over receive times (samples/s)"
