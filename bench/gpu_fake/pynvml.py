"""The GPU check's dry run only: a ``pynvml`` that answers like one H100.

``bench/gpu_check.py --dry-run`` puts this folder first on the PYTHONPATH of everything it
starts, so abtui's real NVML code (``abtui.telemetry.nvml``) runs unchanged against the
fake of ``tests/fake_nvml.py``. The real nvidia-ml-py is loaded under this name's
shadow for its constants and error classes, which the fake raises.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))


def _load(name: str, spec: Any) -> Any:
    if spec is None or spec.loader is None:
        raise ImportError(f"the dry run's pynvml needs {name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_real = _load("nvidia-ml-py", importlib.machinery.PathFinder.find_spec(
    "pynvml", [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]))
_me = sys.modules[__name__]
sys.modules["pynvml"] = _real  # the fake's own ``import pynvml`` gets the real one
try:
    _fake = _load("tests/fake_nvml.py", importlib.util.spec_from_file_location(
        "abtui_dry_run_fake_nvml", os.path.join(_REPO, "tests", "fake_nvml.py")))
finally:
    sys.modules["pynvml"] = _me
FAKE = _fake.FakeNvml([_fake.h100(0)])
GPU = _fake.h100(0)  # the values the fake answers (the fake nvidia-smi prints the same)


def __getattr__(name: str) -> Any:
    if name.startswith("nvml"):
        return getattr(FAKE, name)
    return getattr(_real, name)
