"""Backends: where arms run. One interface (base.Backend), capability flags per backend."""

from __future__ import annotations

from pathlib import Path

from abtui.backends.base import ArmExit, ArmHandle, Backend, LogLine
from abtui.spec import ExperimentSpec
from abtui.spec.backends import kind_of


def make_backend(spec: ExperimentSpec, workdir: str | Path | None = None) -> Backend:
    """The backend the spec names, made by its declaration (``abtui.spec.backends``; the
    module of a backend is imported only when it is used)."""
    backend = kind_of(spec.backend).make(spec, workdir)
    if not isinstance(backend, Backend):
        raise TypeError(f"backend {spec.backend!r} made a {type(backend).__name__}, "
                        "not an abtui.backends.base.Backend")
    return backend


__all__ = ["ArmExit", "ArmHandle", "Backend", "LogLine", "make_backend"]
