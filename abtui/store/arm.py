"""Everything known about one arm's run: series, records, status, running summaries."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from abtui.ingest.decode import (
    Decoder,
    EnvRecord,
    EventRecord,
    FinalRecord,
    MetricRecord,
    Record,
    TextRecord,
)
from abtui.store.series import Series

LOG_KEEP = 5000  # plain log lines kept in memory per arm (all of them are on disk)


class ArmStatus:
    """Life-cycle states shown in the arms table."""

    PENDING = "pending"
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    OOM = "oom-killed"
    STOPPED = "stopped"
    STALLED = "stalled"
    DETACHED = "detached"
    LOST = "lost"

    ENDED = frozenset({DONE, FAILED, OOM, STOPPED, LOST})


@dataclass
class ArmState:
    """One run (arm x replicate). Written by one ingest thread; read by front ends."""

    run_id: str
    arm: str
    replicate: int = 0
    total_steps: int | None = None
    gpus: tuple[int, ...] = ()
    status: str = ArmStatus.PENDING
    exit: dict[str, Any] | None = None
    env: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    step: int | None = None
    first_time: float | None = None
    last_time: float | None = None
    last: dict[str, float] = field(default_factory=dict)
    peak: dict[str, float] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    logs: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=LOG_KEEP))
    log_count: int = 0
    lines: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    decoder: Decoder = field(default_factory=Decoder)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    version: int = 0

    def ingest(self, raw: bytes, t: float, truncated: bool = False) -> Record:
        """Decode one line and fold it in."""
        rec = self.decoder.decode(raw, truncated)
        with self.lock:
            self.lines += 1
            self.version += 1
            if self.first_time is None:
                self.first_time = t
            self.last_time = t
            if type(rec) is MetricRecord:
                self._metric(rec, t)
            elif type(rec) is TextRecord:
                self.logs.append((t, rec.text))
                self.log_count += 1
            elif type(rec) is EnvRecord:
                self.env = rec.data
            elif type(rec) is FinalRecord:
                self.final = rec.data
            elif type(rec) is EventRecord:
                self.events.append(rec.data)
                self.logs.append((t, f"[{rec.name}] {rec.data}"))
                self.log_count += 1
        return rec

    def _metric(self, rec: MetricRecord, t: float) -> None:
        step = rec.step
        self.step = step
        series = self.series
        last, peak = self.last, self.peak
        for name, v in rec.values.items():
            s = series.get(name)
            if s is None:
                s = series[name] = Series()
            s.append(step, v, t)
            last[name] = v
            p = peak.get(name)
            if p is None or v > p:
                peak[name] = v

    @property
    def oddities(self) -> dict[str, Any]:
        return self.decoder.oddities.to_dict()

    @property
    def progress(self) -> float | None:
        if self.step is None or not self.total_steps:
            return None
        return min(1.0, self.step / self.total_steps)

    def eta_s(self) -> float | None:
        """Seconds left at the pace seen so far."""
        p = self.progress
        if not p or self.first_time is None or self.last_time is None or p >= 1:
            return None
        elapsed = self.last_time - self.first_time
        return elapsed * (1 - p) / p if elapsed > 0 else None

    def recent_logs(self, n: int = 200) -> list[tuple[float, str]]:
        with self.lock:
            return list(self.logs)[-n:]
