"""Which pending runs start now, and on which GPUs: a decision the orchestrator's scheduler
carries out.

A pure function of the runs waiting, the runs active and the limit, so the rules are tested
without a backend: replicates start as groups (no run of replicate r + 1 starts while a run
of replicate r is still running or waiting: the A_i B_i interleaving the manifest claims is
the one that ran), at most ``limit`` runs at once, never two runs on one GPU. Packed runs
(the spec's ``gpus_per_run`` over ``gpu_pool``) get a free GPU set as they start: the one
their place prefers (``gpu_slot``, rotated across replicates as pinned sets are), else the
first free one, so no GPU idles while a run waits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from abtui.spec import ArmRun


def gpu_sets(pool: Sequence[int], per_run: int) -> list[tuple[int, ...]]:
    """The pool cut into disjoint sets of ``per_run`` GPUs (a remainder is left unused)."""
    if per_run <= 0:
        return []
    return [tuple(pool[i:i + per_run]) for i in range(0, len(pool) - per_run + 1, per_run)]


def runs_to_start(pending: Sequence[ArmRun], active: Sequence[ArmRun], limit: int, *,
                  grouped: bool = False, sets: Sequence[tuple[int, ...]] = ()) -> list[ArmRun]:
    """The pending runs that start now, in their order (a packed one with its GPUs).

    ``grouped``: the backend queues a group and holds it to ``limit`` itself (a Slurm job
    array): the whole next replicate is handed over at once, when no run is active.
    ``sets``: the GPU sets packed runs (``extra["gpu_slot"]``) are placed on.
    """
    if not pending:
        return []
    if grouped:
        first = min(r.replicate for r in pending)
        return [] if active else [r for r in pending if r.replicate == first]
    oldest = min(r.replicate for r in [*active, *pending])
    busy = {g for r in active for g in r.gpus}
    out: list[ArmRun] = []
    for run in pending:
        if len(active) + len(out) >= limit:
            break
        if run.replicate > oldest:
            break  # the barrier: the previous replicate group has not ended
        slot = run.extra.get("gpu_slot")
        if slot is not None and sets:
            free = [s for s in sets if not busy & set(s)]
            if not free:
                break  # every set is in use: the next run waits for one, in its turn
            preferred = sets[slot % len(sets)]
            run = dataclasses.replace(run, gpus=preferred if preferred in free else free[0])
        elif busy & set(run.gpus):
            continue
        out.append(run)
        busy |= set(run.gpus)
    return out


def with_recorded_gpus(runs: Sequence[ArmRun], planned: object) -> list[ArmRun]:
    """Packed runs with the GPUs the manifest says they got (a monitor attaching again):
    only a list of GPU indices is taken from the file; anything else leaves the run as the
    spec has it (no GPUs yet: it never started)."""
    out = []
    for run in runs:
        entry = planned.get(run.run_id) if isinstance(planned, dict) else None
        gpus = entry.get("gpus") if isinstance(entry, dict) else None
        if (run.extra.get("gpu_slot") is not None and isinstance(gpus, list) and gpus
                and all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < 1024
                        for g in gpus)):
            run = dataclasses.replace(run, gpus=tuple(gpus))
        out.append(run)
    return out
