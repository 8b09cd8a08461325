"""The experiment: orchestration shared by the console and the headless mode."""

from abtui.experiment.orchestrator import Experiment
from abtui.rundir import RunDir

__all__ = ["Experiment", "RunDir"]
