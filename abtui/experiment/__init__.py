"""The experiment: orchestration shared by the TUI and the headless mode."""

from __future__ import annotations

from typing import Any

__all__ = ["Experiment", "RunDir"]


def __getattr__(name: str) -> Any:
    # lazy, so that backends can import abtui.experiment.rundir without a cycle
    if name == "Experiment":
        from abtui.experiment.orchestrator import Experiment

        return Experiment
    if name == "RunDir":
        from abtui.experiment.rundir import RunDir

        return RunDir
    raise AttributeError(name)
