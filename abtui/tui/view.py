"""What the console reads from an experiment, and asks of it: a Protocol, so that the
console is typed against the few attributes it uses (the orchestrator's ``Experiment`` and
the screenshots' and tests' ``FixtureExperiment`` both satisfy it), not against ``Any``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from abtui.rundir import Manifest
from abtui.spec import ExperimentSpec
from abtui.store import Store


class RunDirView(Protocol):
    """The run directory's paths the console shows."""

    @property
    def root(self) -> Path: ...

    @property
    def report_md(self) -> Path: ...


class ExperimentView(Protocol):
    """The experiment as the console sees it."""

    spec: ExperimentSpec
    store: Store
    manifest: Manifest
    read_only: bool

    @property
    def rundir(self) -> RunDirView: ...

    def wait(self, timeout: float | None = None) -> bool:
        """True once every arm has ended (also marks stalled arms)."""

    def stop_arms(self, grace_s: float = 10.0) -> None:
        """Stop every arm (polite signal, then force)."""

    def detach(self) -> None:
        """Stop watching; the arms go on."""

    def finish(self, keep: bool = False) -> None:
        """After the end: stop telemetry, clean up, mark the run finished."""
