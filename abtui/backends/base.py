"""The backend interface: launch / follow / wait / stop / inspect an arm, one contract for all.

Read like harlequin's adapter: a small abstract class, capability flags, own exceptions.
A backend turns an ``ArmRun`` into something running and hands back its output as
complete lines, each with a resume token, so that a monitor that died can pick up
exactly where the run directory says it stopped.
"""

from __future__ import annotations

import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from abtui.infra.errors import AbtuiError
from abtui.rundir import ArmExit, RunDir
from abtui.spec import ArmRun, ExperimentSpec

__all__ = ["ArmExit", "ArmHandle", "Backend", "LogLine"]  # ArmExit: the run directory's


class LogLine(NamedTuple):
    """One complete line of an arm's output (without the newline).

    ``token`` is where to resume *after* this line: a byte offset (local backend)
    or a daemon timestamp (docker). ``truncated`` marks a line cut at the size cap.
    A NamedTuple: one is built per line on the hot path, and tuples are the cheapest.
    """

    raw: bytes
    token: int | str
    truncated: bool = False


@dataclass
class ArmHandle:
    """What a backend needs to find an arm again: saved in the manifest as ``ref``."""

    run_id: str
    ref: dict[str, Any] = field(default_factory=dict)  # pid/pgid, or container id


class Backend(ABC):
    """Launch and watch arms. Capability flags say what a backend can do."""

    name: str = "?"
    SUPPORTS_GPUS = False
    SUPPORTS_REATTACH = True
    SUPPORTS_RESOURCE_LIMITS = False
    ISOLATES_ENVIRONMENT = False

    def prepare(self, spec: ExperimentSpec, runs: list[ArmRun], rundir: RunDir) -> dict[str, Any]:
        """Before any arm starts: resolve shared facts (image identity...) for the manifest."""
        return {}

    @abstractmethod
    def launch(self, run: ArmRun, rundir: RunDir) -> ArmHandle:
        """Start one arm. Output must outlive this process (file or daemon log)."""

    #: The backend queues a group of runs itself and holds it to a limit of runs at once
    #: (Slurm's job arrays): the scheduler hands it a replicate's runs together.
    LAUNCHES_GROUPS = False

    def launch_group(self, runs: list[ArmRun], rundir: RunDir, limit: int
                     ) -> list[ArmHandle | AbtuiError]:
        """Start ``runs`` at once, at most ``limit`` of them running together: a handle, or
        the error that kept it from starting, per run and in order. The default starts each
        on its own (only backends that declare ``LAUNCHES_GROUPS`` are given a group)."""
        out: list[ArmHandle | AbtuiError] = []
        for run in runs:
            try:
                out.append(self.launch(run, rundir))
            except AbtuiError as exc:  # one run that cannot start never stops the others
                out.append(exc)
        return out

    @abstractmethod
    def follow(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
               stop: threading.Event) -> Iterator[LogLine]:
        """Yield complete lines after ``resume`` until the arm has exited and its output is
        drained, or ``stop`` is set. Never yields a line twice for the same resume point."""

    def follow_batches(self, handle: ArmHandle, rundir: RunDir, resume: int | str | None,
                       stop: threading.Event) -> Iterator[list[LogLine]]:
        """``follow`` in batches (whatever arrived together); backends that read in chunks
        override this so the monitor persists and decodes a chunk at a time."""
        for line in self.follow(handle, rundir, resume, stop):
            yield [line]

    @abstractmethod
    def poll(self, handle: ArmHandle) -> ArmExit | None:
        """The arm's exit, or None while it runs."""

    @abstractmethod
    def stop(self, handle: ArmHandle, grace_s: float = 10.0) -> None:
        """Stop the arm: polite signal, then force after ``grace_s``."""

    #: Where a remote arm's node agent writes its samples, relative to the arm's folder.
    NODE_TELEMETRY_PATH = "node_telemetry.jsonl"

    def is_remote(self, run: ArmRun) -> bool:
        """The arm runs on another machine: this host's telemetry says nothing of it; its
        node's agent (``abtui.telemetry.node``) samples it there."""
        return False

    def queued(self, handle: ArmHandle) -> str | None:
        """Why the cluster's scheduler still holds the arm (Slurm's reason), or None when it
        runs or ended. Backends without a queue never hold one."""
        return None

    def cleanup(self, handle: ArmHandle, keep: bool = False) -> None:
        """After the end and the drain: remove what the arm left (containers)."""

    def inspect(self, handle: ArmHandle) -> dict[str, Any]:
        """Facts about the running arm for the manifest and the diff."""
        return {}

    def find(self, rundir: RunDir) -> dict[str, ArmHandle]:
        """Arms of this run that the backend can still see, by run id (for attach / stop)."""
        return {}

    # ---- what the core asks of every backend (declared here, so none is asked by name) --
    #: The backend can take the env record itself before launching an arm (``observe_env``).
    OBSERVES_ENV = False

    def observe_env(self, run: ArmRun) -> dict[str, Any] | None:
        """An env record taken before launch, for a script that prints none (the Python
        behind the command, its packages); None where the backend cannot."""
        return None

    @property
    def docker_client(self) -> Any:
        """The Docker client whose containers' stats telemetry reads; None without one."""
        return None

    def on_this_host(self, spec: ExperimentSpec) -> bool:
        """Whether every arm runs on this machine's cores (then they are pinned to disjoint
        cores, and this host's load is theirs)."""
        return False


#: abtui's ``sitecustomize`` for an arm's Python processes (see abtui/arm_site)
ARM_SITE = Path(__file__).resolve().parent.parent / "arm_site"


def arm_process_env(env: dict[str, str], rundir: RunDir, run_id: str) -> dict[str, str]:
    """What an arm's processes get on a host that shares the run directory's filesystem
    (local, Slurm): the hook that records the files each Python process writes outside
    ``$ABTUI_OUT`` (``arms/<run>/writes/``), first on PYTHONPATH, the user's own after it."""
    writes = rundir.writes_dir(run_id)
    path = env.get("PYTHONPATH")
    return {"PYTHONPATH": f"{ARM_SITE}{os.pathsep}{path}" if path else str(ARM_SITE),
            "ABTUI_WRITES_DIR": str(writes)}


def fill_out(argv: list[str], out: str) -> list[str]:
    """``{out}`` in a command: the arm's own output directory (as ``$ABTUI_OUT``), filled at
    launch, when the run directory exists."""
    return [w.replace("{out}", out) if "{out}" in w else w for w in argv]


def lightning_env(env: dict[str, str], out: str) -> dict[str, str]:
    """Where Lightning's default loggers write, for an arm whose output directory is ``out``.

    ``Trainer`` takes its defaults from ``PL_TRAINER_*`` variables. ``LightningCLI`` passes
    ``default_root_dir=None`` itself, which beats them; it reads its arguments from the
    environment when jsonargparse's ``JSONARGPARSE_DEFAULT_ENV`` is on, as
    ``PL_<SUBCOMMAND>__TRAINER__DEFAULT_ROOT_DIR``. What the user set is kept, and a
    ``--trainer.default_root_dir`` or ``--config`` on the command line still wins."""
    mine = {"PL_TRAINER_DEFAULT_ROOT_DIR": out, "JSONARGPARSE_DEFAULT_ENV": "true",
            "PL_TRAINER__DEFAULT_ROOT_DIR": out,
            **{f"PL_{sub}__TRAINER__DEFAULT_ROOT_DIR": out
               for sub in ("FIT", "VALIDATE", "TEST", "PREDICT")}}
    return {k: v for k, v in mine.items() if k not in env}
