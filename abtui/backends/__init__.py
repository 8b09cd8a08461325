"""Backends: where arms run. One interface (base.Backend), capability flags per backend."""

from __future__ import annotations

from pathlib import Path

from abtui.backends.base import ArmExit, ArmHandle, Backend, LogLine
from abtui.spec import ExperimentSpec


def make_backend(spec: ExperimentSpec, workdir: str | Path | None = None) -> Backend:
    """The backend the spec asks for (docker is imported only when used)."""
    if spec.backend == "docker" and spec.hosts:
        from abtui.backends.docker_hosts import DockerHostsBackend

        return DockerHostsBackend(spec, workdir=workdir)
    if spec.backend == "docker":
        from abtui.backends.docker import DockerBackend

        return DockerBackend(spec, workdir=workdir)
    if spec.backend == "slurm":
        from abtui.backends.slurm import SlurmBackend

        return SlurmBackend(spec, workdir)
    from abtui.backends.local import LocalBackend

    return LocalBackend(spec, workdir)


__all__ = ["ArmExit", "ArmHandle", "Backend", "LogLine", "make_backend"]
