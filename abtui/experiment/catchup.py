"""Bring a run directory up to date without watching it: ``abtui report`` and ``diff``.

Where no monitor holds the run (it died, or detached), every arm that has ended since is
read to the end of its own output from its last recorded token (exactly once into
events.jsonl, as ``attach`` does) and its exit recorded; arms still running are left to
the next ``attach``. So the run directory alone gives the same report whichever command
reads it first. With a live monitor: a read-only replay.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from abtui.backends import make_backend
from abtui.experiment.watcher import ArmWatcher
from abtui.infra.errors import AbtuiError
from abtui.store import ArmStatus

if TYPE_CHECKING:
    from abtui.experiment.orchestrator import Experiment


def catch_up(exp: Experiment) -> Experiment:
    """``exp`` (attached with ``follow=False``) with every ended arm read to its end."""
    try:
        backend = make_backend(exp.spec, exp.manifest.get("workdir"))
    except AbtuiError:
        return exp  # the engine is gone: what the run dir has is all there is
    if not exp.take_lock():
        exp.read_only = True
        return exp
    try:
        try:
            found = backend.find(exp.rundir)
        except AbtuiError:
            found = {}
        for run_id, handle in found.items():
            state = exp.store.runs.get(run_id)
            if state is None or backend.poll(handle) is None:
                continue  # still running (or unknown): the next attach follows it
            ArmWatcher(backend, handle, state, exp.rundir, threading.Event()).run()
        ended = exp.runs and all(exp.store.run(r.run_id).status in ArmStatus.ENDED
                                 for r in exp.runs)
        if ended and exp.manifest.get("status") == "running":
            exp.manifest["status"] = "finished"
            exp.manifest["finished_at"] = max(
                (s.exit.finished_at or 0.0 for s in exp.store.runs.values()
                 if s.exit is not None), default=0.0) or time.time()
            exp.manifest["caught_up_at"] = time.time()
            exp.rundir.write_manifest(exp.manifest)
    finally:
        exp.release_lock()
    return exp
