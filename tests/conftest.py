"""Shared fixtures. Docker fixtures live in docker_fixtures.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from docker_fixtures import docker_client, docker_images, docker_rundir  # noqa: F401
from slurm_fixtures import slurm_cluster  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PY = sys.executable


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture
def fake_runner() -> Path:
    """A tiny protocol-speaking script (no torch): fast end-to-end tests of the plumbing."""
    return FIXTURES / "fake_runner.py"


def write_spec(tmp_path: Path, body: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


@pytest.fixture
def abtui_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("ABTUI_RUNS_DIR", None)
    return env


def _nvml_present() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    """``gpu`` tests run only where a GPU is (the device machine); CI has none."""
    gpu_items = [i for i in items if i.get_closest_marker("gpu")]
    if gpu_items and not _nvml_present():
        skip = pytest.mark.skip(reason="needs an NVIDIA GPU (run on the GPU machine)")
        for item in gpu_items:
            item.add_marker(skip)

