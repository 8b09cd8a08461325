"""One thread per arm: the metrics files the arm writes, followed into the store.

``OutputFiles`` (abtui.ingest.files) turns what is new in the arm's ``metrics.csv`` and
TensorBoard event files into protocol lines; this thread persists them in
``arms/<run>/files.jsonl`` (with their resume tokens, so a monitor that restarts goes on
where the file says, without a lost or doubled row) and folds them into the arm's state.
It polls every ``POLL_S`` while the arm runs and once more after it has ended.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from abtui.ingest.events import EventWriter, read_events
from abtui.ingest.files import OutputFiles, cursors_from_tokens
from abtui.rundir import RunDir
from abtui.store.run import RunState

log = logging.getLogger(__name__)
POLL_S = 1.0


class FilesWatcher(threading.Thread):
    def __init__(self, run_id: str, state: RunState, rundir: RunDir, stop: threading.Event,
                 arm_done: Callable[[], bool], writable: bool = True) -> None:
        super().__init__(name=f"abtui-files-{run_id}", daemon=True)
        self.run_id, self.state, self.rundir = run_id, state, rundir
        self.stop_event, self.arm_done, self.writable = stop, arm_done, writable
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # never takes the monitor down
            log.exception("files watcher %s failed", self.run_id)
            self.error = f"{type(exc).__name__}: {exc}"

    def _follow(self) -> None:
        path = self.rundir.files_path(self.run_id)
        tokens = [line.token for line in read_events(path)]
        files = OutputFiles(self.rundir.out_dir(self.run_id), cursors_from_tokens(tokens),
                            elsewhere=lambda: self.rundir.written_paths(self.run_id) or [])
        writer = EventWriter(path) if self.writable else None
        announced = False
        try:
            while True:
                last = self.arm_done() or self.stop_event.is_set()
                lines, toks = files.poll(final=last)
                if lines:
                    t = float(f"{time.time():.6f}")
                    end = self.state.files_offset
                    if writer is not None:
                        writer.write_many(lines, toks, t)
                        writer.flush()
                        end = path.stat().st_size
                    self.state.ingest_files(lines, t, end)
                    if not announced:
                        announced = True
                        names = ", ".join(sorted(files.followers))[:200]
                        with self.state.lock:
                            self.state.logs.append((t, f"[abtui] arm {self.run_id}: reading "
                                                       f"metrics from {names}"))
                if last:
                    return
                self.stop_event.wait(POLL_S)
        finally:
            if writer is not None:
                writer.close()
