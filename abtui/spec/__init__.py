"""Experiment spec: YAML -> validated models -> resolved per-arm runs."""

from abtui.spec.loader import load_spec, parse_spec
from abtui.spec.models import ArmSpec, ExperimentSpec, Resources, Slurm, Volume
from abtui.spec.resolve import ArmRun, config_flags, resolve_runs, spec_warnings

__all__ = [
    "ArmRun",
    "ArmSpec",
    "ExperimentSpec",
    "Resources",
    "Slurm",
    "Volume",
    "config_flags",
    "load_spec",
    "parse_spec",
    "resolve_runs",
    "spec_warnings",
]
