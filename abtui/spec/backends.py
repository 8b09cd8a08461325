"""Where arms can run: each backend declared once, the only list.

A ``BackendKind`` is what the spec and the layers above need to know of a backend before
one is made: its name (the spec's ``backend:``, the CLI's ``--backend`` choices), the
callable that makes it (``"module:callable"`` taking the spec and the working folder,
imported only when that backend is used, so Docker's and Slurm's client libraries load
only for their arms), and the few facts the spec's checks and the run plan read:
whether arms run in an image, whether ``hosts:`` places them, whether they rotate across
``slurm.nodelist``, whether ``code: {git: REF}`` arms can run there. What a made backend
does is declared on ``abtui.backends.base.Backend`` itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abtui.spec.models import ExperimentSpec


@dataclass(frozen=True)
class BackendKind:
    """One backend, as the spec and the run plan see it."""

    name: str
    factory: str  # "package.module:callable", called as callable(spec, workdir)
    words: str  # what it is, for help and errors
    images: bool = False  # arms run in a container image: the spec names one
    hosts: bool = False  # ``hosts:`` places arms on several engines
    nodes: bool = False  # runs rotate across ``slurm.nodelist``
    git_arms: bool = True  # ``code: {git: REF}`` arms (a worktree each) can run here
    allocates_gpus: bool = False  # the cluster picks a run's GPUs; only their count is asked

    def make(self, spec: ExperimentSpec, workdir: str | Path | None = None) -> Any:
        """The backend for this spec (an ``abtui.backends.base.Backend``)."""
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)(spec, workdir)


BACKENDS: dict[str, BackendKind] = {k.name: k for k in (
    BackendKind("local", "abtui.backends.local:LocalBackend", "processes on this machine"),
    BackendKind("docker", "abtui.backends.docker_hosts:make_docker_backend",
                "one container per run, on this engine or on each of `hosts:`",
                images=True, hosts=True, git_arms=False),
    BackendKind("slurm", "abtui.backends.slurm:SlurmBackend", "one Slurm job per run",
                nodes=True, allocates_gpus=True),
)}


def register(kind: BackendKind) -> BackendKind:
    """Add (or replace) a backend: specs may name it from then on."""
    BACKENDS[kind.name] = kind
    return kind


def kind_of(name: str) -> BackendKind:
    """The declared backend called ``name`` (ValueError naming the choices otherwise)."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"backend {name!r}: one of {', '.join(BACKENDS)}") from None
