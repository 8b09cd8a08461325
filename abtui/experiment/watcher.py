"""One thread per arm: follow the backend's lines, persist them raw, fold them into the store."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable

from abtui.backends.base import ArmExit, ArmHandle, Backend
from abtui.infra.errors import AbtuiError
from abtui.ingest.events import EventWriter, last_token
from abtui.rundir import RunDir
from abtui.store.run import ArmStatus, RunState
from abtui.store.snapshot import write_snapshot

log = logging.getLogger(__name__)
_FLUSH_S = 0.25
# an arm with this many lines over this many seconds and no metric yet: said while it runs
NOTHING_READ_LINES = 20
NOTHING_READ_S = 15.0


def status_for_exit(ex: ArmExit, stopped: bool = False) -> str:
    if ex.oom_killed:
        return ArmStatus.OOM
    if ex.exit_code == 0:
        return ArmStatus.DONE
    if stopped:
        return ArmStatus.STOPPED
    if ex.lost or (ex.exit_code is None and ex.error and "disappeared" in ex.error):
        return ArmStatus.LOST
    return ArmStatus.FAILED


class ArmWatcher(threading.Thread):
    """Tails one arm until it ends (or the monitor detaches), exactly once into events.jsonl."""

    def __init__(self, backend: Backend, handle: ArmHandle, state: RunState, rundir: RunDir,
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
        self.persist_error: str | None = None
        self.on_notice: Callable[[str], None] | None = None
        self.on_started: Callable[[], None] | None = None  # after the arm's first output

    def run(self) -> None:
        try:
            self._follow()
        except Exception as exc:  # a watcher must never take the monitor down
            log.exception("watcher %s failed", self.handle.run_id)
            self.error = f"{type(exc).__name__}: {exc}"
            with self.state.lock:
                self.state.logs.append((time.time(), f"[abtui] lost the log stream: {self.error}"))
                # unreachable is not gone: the arm may run on (a host behind a cut link);
                # "lost" is said only by a backend that knows the arm is gone
                if self.state.status not in ArmStatus.ENDED:
                    self.state.move(ArmStatus.DETACHED)
                self.state.version += 1
            if self.on_notice is not None:
                self.on_notice(f"arm {self.handle.run_id}: lost its log stream ({exc}); "
                               "`abtui attach` resumes where it stopped")

    def _follow(self) -> None:
        path = self.rundir.events_path(self.handle.run_id)
        writer = EventWriter(path) if self.writable else None
        resume = last_token(path)
        state = self.state
        if state.status not in ArmStatus.ENDED:
            state.move(ArmStatus.RUNNING)
        last_flush = time.monotonic()
        warned = False
        try:
            for batch in self.backend.follow_batches(self.handle, self.rundir, resume, self.stop_event):
                # the receive time as events.jsonl stores it, so that this store is the one a
                # replay of the file builds (its snapshot stands for the file)
                t = float(f"{time.time():.6f}")
                raws = [line.raw for line in batch]
                cut = [line.truncated for line in batch] if any(x.truncated for x in batch) else None
                if writer is not None:
                    try:
                        writer.write_many(raws, [line.token for line in batch], t, cut)
                        now = time.monotonic()
                        if now - last_flush > _FLUSH_S:
                            writer.flush()
                            last_flush = now
                    except OSError as exc:
                        self._stop_persisting(writer, exc)
                        writer = None
                state.ingest_many(raws, t, cut)
                if not warned and state.lines >= NOTHING_READ_LINES and not state.series and \
                        t - (state.first_time or t) >= NOTHING_READ_S:
                    warned = True  # said at once, not only in the report at the end
                    why = state.nothing_read()
                    if why and self.on_notice is not None:
                        self.on_notice(f"{why} (so far)")
                if state.status == ArmStatus.QUEUED:  # the scheduler let it run
                    state.move(ArmStatus.RUNNING)
                if self.on_started is not None:
                    started, self.on_started = self.on_started, None
                    started()
        finally:
            if writer is not None:
                try:
                    writer.close()
                except OSError as exc:
                    self._stop_persisting(writer, exc)
        if (self.stop_event.is_set() and state.status not in ArmStatus.ENDED
                and not self.stopped_by_user):
            state.move(ArmStatus.DETACHED)
            return
        self._record_exit()
        if self.writable:  # every line is in events.jsonl: cache the store beside it
            try:
                write_snapshot(state, path)
            except OSError as exc:  # only a cache: the next attach replays events.jsonl
                log.warning("no store snapshot for %s: %s", self.handle.run_id, exc)

    def _stop_persisting(self, writer: EventWriter, exc: OSError) -> None:  # noqa: D401
        """The disk is full (or gone): keep watching in memory, say so once, lose nothing.

        No resume token after the failure reaches the disk, so the next ``attach`` re-reads
        every line from the arm's own output (file or daemon log) once there is room again.
        """
        self.persist_error = f"cannot write {writer.path}: {exc.strerror or exc}"
        with contextlib.suppress(OSError):
            writer.close()
        with self.state.lock:
            self.state.logs.append((time.time(), f"[abtui] {self.persist_error}; "
                                    "still watching, will catch up on the next attach"))
            self.state.version += 1
        if self.on_notice is not None:
            self.on_notice(f"arm {self.handle.run_id}: {self.persist_error}")
        self.writable = False
        return None

    def _record_exit(self) -> None:
        if self.state.exit is not None:
            # already recorded (exit.json, read back by attach or report): how an arm ended
            # is written once. A later poll may know less (a run directory copied or moved
            # elsewhere: its exit marker is no longer where the manifest says) and rewrote
            # a finished run as "exit status unknown", failed
            return
        ex = None
        for _ in range(50):  # the process may take a moment to be reaped after its output ends
            ex = self.backend.poll(self.handle)
            if ex is not None:
                break
            time.sleep(0.1)
        if ex is None:
            return
        self.state.move(status_for_exit(ex, self.stopped_by_user))
        self.state.exit = ex = ex.recorded(self.state.status)
        self.state.version += 1
        if self.writable:
            try:
                self.rundir.write_exit(self.handle.run_id, ex)
            except (OSError, AbtuiError) as exc:
                self.persist_error = f"cannot write exit.json: {exc}"
        log.info("arm %s ended: %s", self.handle.run_id, json.dumps(ex.to_dict()))
