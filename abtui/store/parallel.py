"""Replaying several long arms at once: one process per arm, on the machine's cores.

Decoding is CPU-bound and the GIL keeps one process on one core, so a run whose arms
left no store snapshot (a monitor that was killed, an old run directory) replays each
long arm in a child process: the child folds the arm's ``events.jsonl`` as
``replay_events`` does and writes the result as a snapshot into a private temporary
directory (never into the run directory: ``attach`` may be read-only); the parent loads
it, checked like any snapshot, and folds the lines written since. Anything that goes
wrong in a child just means that arm is replayed here, in full. The result is the state
a replay in this process builds: the snapshot carries every field of it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from abtui.adapters import LogAdapter
from abtui.infra.safe_io import open_read
from abtui.store.run import RunState
from abtui.store.snapshot import covered_size, load_snapshot, replay_events, write_snapshot

#: An arm is replayed in its own process when it has at least this many bytes of
#: events.jsonl that no snapshot covers (below it, starting a process costs more).
MIN_BYTES = 256 << 20


def _complete_through(path: Path, size: int) -> int:
    """The end of the last complete line within the first ``size`` bytes."""
    with open(open_read(path), "rb") as fh:
        back = 1 << 16
        while True:
            start = max(0, size - back)
            fh.seek(start)
            nl = fh.read(size - start).rfind(b"\n")
            if nl >= 0:
                return start + nl + 1
            if start == 0:
                return 0
            back *= 4


def _replay_child(events_path: str, mode: str, pattern: str | None, out: str) -> int:
    """In the child: fold the arm as it is now, write it to ``out``; the bytes covered."""
    path = Path(events_path)
    size = _complete_through(path, os.path.getsize(path))
    state = RunState("replay", "replay", adapter=LogAdapter(mode, pattern))
    replay_events(state, path, stop=size)
    return size if size and write_snapshot(state, path, size=size, path=Path(out)) else 0


def _uncovered(path: Path) -> int:
    try:
        size = os.path.getsize(path)
    except OSError:
        return 0
    return size - (covered_size(path) or 0)


def replay_arms(arms: list[tuple[RunState, Path]]) -> None:
    """``replay_events`` for each (fresh state, events path), long arms in parallel."""
    processes = int(os.environ.get("ABTUI_REPLAY_PROCESSES", "0") or 0) or (os.cpu_count() or 1)
    long = [(st, p) for st, p in arms if _uncovered(p) >= MIN_BYTES]
    done: dict[int, int] = {}  # id(state) -> the offset a child's snapshot covers
    whole: set[int] = set()  # id(state) of the arm replayed in full here, alongside them
    if len(long) >= 2 and processes >= 2:
        # the first long arm is replayed here while children take the others: one core
        # each, and one snapshot written and read back fewer
        here, away = long[0], long[1:]
        tmp = tempfile.mkdtemp(prefix="abtui-replay-")
        pool, jobs = None, []
        try:
            pool = ProcessPoolExecutor(max_workers=min(len(away), processes - 1),
                                       mp_context=get_context("spawn"))  # never fork threads
            jobs = [(st, p, Path(tmp) / f"{k}.snap",
                     pool.submit(_replay_child, str(p), st.adapter.mode, st.adapter.pattern,
                                 str(Path(tmp) / f"{k}.snap")))
                    for k, (st, p) in enumerate(away)]
        except Exception:  # no processes here (a sandbox): every arm is replayed in this one
            jobs = []
        try:
            if jobs:
                replay_events(*here)  # an error here is the caller's, as without children
                whole.add(id(here[0]))
            for st, p, out, job in jobs:
                with contextlib.suppress(Exception):  # the arm is replayed here instead
                    if job.result() > 0:
                        done[id(st)] = load_snapshot(st, p, out)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(tmp, ignore_errors=True)
    for st, p in arms:
        if id(st) not in whole:
            replay_events(st, p, offset=done.get(id(st)) or None)
