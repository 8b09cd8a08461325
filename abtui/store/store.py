"""The store: all arms of one experiment, plus telemetry, for the front ends to read."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, cast

from abtui.run_files import GpuInfo, Sample
from abtui.store.run import ArmStatus, RunState

TELEMETRY_KEEP = 3600  # samples kept in memory (an hour at 1 Hz); all are on disk


class Store:
    """Each run's state (``RunState``: one arm x replicate) by run id, in launch order; a
    global ``version`` for cheap change checks."""

    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}
        self.telemetry: deque[Sample] = deque(maxlen=TELEMETRY_KEEP)
        self.gpu_info: dict[int, dict[str, Any]] = {}
        self.notices: list[str] = []
        self._lock = threading.Lock()
        self._tversion = 0

    def add_run(self, run_id: str, arm: str, replicate: int = 0, total_steps: int | None = None,
                gpus: tuple[int, ...] = ()) -> RunState:
        with self._lock:
            state = self.runs.get(run_id)
            if state is None:
                state = self.runs[run_id] = RunState(run_id, arm, replicate, total_steps, gpus)
            return state

    def run(self, run_id: str) -> RunState:
        return self.runs[run_id]

    def drop_runs(self, run_ids: set[str]) -> None:
        """Forget runs that will never start (a sequential design that decided): a new
        dict, so a reader iterating the old one is never disturbed."""
        with self._lock:
            self.runs = {k: v for k, v in self.runs.items() if k not in run_ids}

    def add_telemetry(self, sample: Sample | GpuInfo) -> None:
        if sample.get("kind") == "gpu_info":
            for g in sample.get("gpus", []):
                if isinstance(idx := g.get("index"), int):
                    self.gpu_info[idx] = g
        else:
            self.telemetry.append(cast(Sample, sample))  # a line without a kind is a sample
        self._tversion += 1

    def current_gpus(self, within: int = 3) -> list[dict[str, Any]]:
        """The latest sample's GPU entries, plus a remote node's GPUs from the ``within``
        samples before it when the latest missed them (a node's samples arrive on their
        own clock: a tick may carry none), newest first per GPU."""
        seen: dict[Any, dict[str, Any]] = {}
        for k, sample in enumerate(reversed(self.telemetry)):
            if k > within:
                break
            for g in sample.get("gpus") or ():
                if k == 0 or "node_index" in g:
                    seen.setdefault(g.get("index"), g)
        return list(seen.values())

    def notice(self, text: str) -> None:
        """A one-line message for the user (shown once)."""
        with self._lock:
            if text not in self.notices:
                self.notices.append(text)

    @property
    def version(self) -> int:
        return sum(a.version for a in self.runs.values()) + self._tversion + len(self.notices)

    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for a in self.runs.values():
            for n in a.series:
                names.setdefault(n, None)
        return list(names)

    def all_ended(self) -> bool:
        return bool(self.runs) and all(a.status in ArmStatus.ENDED for a in self.runs.values())
