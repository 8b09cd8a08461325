"""Which pending runs start now: a decision the orchestrator's scheduler carries out.

A pure function of the runs waiting, the runs active and the limit, so the rules are tested
without a backend: replicates start as groups (no run of replicate r + 1 starts while a run
of replicate r is still running or waiting: the A_i B_i interleaving the manifest claims is
the one that ran), at most ``limit`` runs at once, never two runs on one GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from abtui.spec import ArmRun


def runs_to_start(pending: Sequence[ArmRun], active: Sequence[ArmRun], limit: int, *,
                  grouped: bool = False) -> list[ArmRun]:
    """The pending runs that start now, in their order.

    ``grouped``: the backend queues a group and holds it to ``limit`` itself (a Slurm job
    array): the whole next replicate is handed over at once, when no run is active.
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
        if busy & set(run.gpus):
            continue
        if run.replicate > oldest:
            break  # the barrier: the previous replicate group has not ended
        out.append(run)
        busy |= set(run.gpus)
    return out
