"""A run's life: its states, the moves between them, and the one way a status is written.

Every writer (the scheduler, the watchers, the telemetry thread, a re-attach) calls
``RunState.move``; the table here says which moves are real. An ended run never comes back
to life (a late "running" from a slow thread is refused, not shown), and a status read from
a run directory someone else wrote is one of these states or nothing.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import ClassVar

log = logging.getLogger("abtui.store")


class ArmStatus(StrEnum):
    """Life-cycle states shown in the arms table (strings on disk and in the report)."""

    PENDING = "pending"
    QUEUED = "queued"  # submitted, held by the cluster's scheduler (Slurm: PENDING)
    STARTING = "starting"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    OOM = "oom-killed"
    STOPPED = "stopped"
    STALLED = "stalled"
    DETACHED = "detached"
    LOST = "lost"

    ENDED: ClassVar[frozenset[str]]  # the states an arm does not leave

    @classmethod
    def read(cls, value: object) -> ArmStatus | None:
        """A status as a file states it; None for anything that is not one."""
        try:
            return cls(str(value))
        except ValueError:
            return None


ArmStatus.ENDED = frozenset({ArmStatus.DONE, ArmStatus.FAILED, ArmStatus.OOM, ArmStatus.STOPPED,
                             ArmStatus.LOST})
_ENDS = frozenset(s for s in ArmStatus if s in ArmStatus.ENDED)
_LIVE = frozenset(ArmStatus) - _ENDS

#: Where each state may go. Ended states only to another ended one (an exit record that
#: says more: failed, then oom-killed); nothing goes back to pending but a re-attach's
#: fresh state, which starts there.
MOVES: dict[ArmStatus, frozenset[ArmStatus]] = {
    ArmStatus.PENDING: frozenset(ArmStatus),
    ArmStatus.QUEUED: frozenset({ArmStatus.STARTING, ArmStatus.RUNNING, ArmStatus.STALLED,
                                 ArmStatus.DETACHED}) | _ENDS,
    ArmStatus.STARTING: frozenset({ArmStatus.QUEUED, ArmStatus.RUNNING, ArmStatus.STALLED,
                                   ArmStatus.DETACHED}) | _ENDS,
    ArmStatus.RUNNING: frozenset({ArmStatus.QUEUED, ArmStatus.STALLED,
                                  ArmStatus.DETACHED}) | _ENDS,
    ArmStatus.STALLED: frozenset({ArmStatus.RUNNING, ArmStatus.QUEUED,
                                  ArmStatus.DETACHED}) | _ENDS,
    ArmStatus.DETACHED: (_LIVE - {ArmStatus.PENDING}) | _ENDS,
    **{s: _ENDS for s in _ENDS},
}


def allowed(current: str, new: str) -> bool:
    """Whether a run in ``current`` may move to ``new`` (the same state is always allowed)."""
    if current == new:
        return True
    frm, to = ArmStatus.read(current), ArmStatus.read(new)
    return frm is not None and to is not None and to in MOVES[frm]
