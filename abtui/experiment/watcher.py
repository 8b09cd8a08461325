"""One thread per arm: follow the backend's lines, persist them raw, fold them into the store."""

from __future__ import annotations

import json
import logging
import threading
import time

from abtui.backends.base import ArmExit, ArmHandle, Backend
from abtui.experiment.rundir import RunDir
from abtui.ingest.events import EventWriter, last_token
from abtui.store.arm import ArmState, ArmStatus

log = logging.getLogger(__name__)
_FLUSH_S = 0.25


def status_for_exit(ex: ArmExit, stopped: bool = False) -> str:
    if ex.oom_killed:
        return ArmStatus.OOM
    if ex.exit_code == 0:
        return ArmStatus.DONE
    if stopped:
        return ArmStatus.STOPPED
    if ex.exit_code is None and ex.error and "disappeared" in ex.error:
        return ArmStatus.LOST
    return ArmStatus.FAILED


class ArmWatcher(threading.Thread):
    """Tails one arm until it ends (or the monitor detaches), exactly once into events.jsonl."""

    def __init__(self, backend: Backend, handle: ArmHandle, state: ArmState, rundir: RunDir,
                 stop: threading.Event, writable: bool = True) -> None:
        super().__init__(name=f"abtui-arm-{handle.run_id}", daemon=True)
        self.backend = backend
        self.handle = handle
        self.state = state
        self.rundir = rundir
        self.stop_event = stop
        self.writable = writable
        self.stopped_by_user = False
        self.error: str | None = None

    def run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # a watcher must never take the monitor down
            log.exception("watcher %s failed", self.handle.run_id)
            self.error = f"{type(exc).__name__}: {exc}"
            with self.state.lock:
                self.state.logs.append((time.time(), f"[abtui] lost the log stream: {self.error}"))
                self.state.version += 1

    def _follow(self) -> None:
        path = self.rundir.events_path(self.handle.run_id)
        writer = EventWriter(path) if self.writable else None
        resume = last_token(path)
        state = self.state
        if state.status not in ArmStatus.ENDED:
            state.status = ArmStatus.RUNNING
        last_flush = time.monotonic()
        try:
            for line in self.backend.follow(self.handle, self.rundir, resume, self.stop_event):
                t = time.time()
                if writer is not None:
                    writer.write(line.raw, line.token, t, line.truncated)
                state.ingest(line.raw, t, line.truncated)
                now = time.monotonic()
                if writer is not None and now - last_flush > _FLUSH_S:
                    writer.flush()
                    last_flush = now
        finally:
            if writer is not None:
                writer.close()
        if (self.stop_event.is_set() and state.status not in ArmStatus.ENDED
                and not self.stopped_by_user):
            state.status = ArmStatus.DETACHED
            return
        self._record_exit()

    def _record_exit(self) -> None:
        ex = None
        for _ in range(50):  # the process may take a moment to be reaped after its output ends
            ex = self.backend.poll(self.handle)
            if ex is not None:
                break
            time.sleep(0.1)
        if ex is None:
            return
        self.state.exit = ex.to_dict()
        self.state.status = status_for_exit(ex, self.stopped_by_user)
        self.state.version += 1
        if self.writable:
            self.rundir.write_json(self.rundir.exit_path(self.handle.run_id),
                                   {**ex.to_dict(), "status": self.state.status})
        log.info("arm %s ended: %s", self.handle.run_id, json.dumps(ex.to_dict()))
