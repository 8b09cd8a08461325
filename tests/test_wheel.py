"""Installed as users install tools: the wheel, into a clean virtual environment (what
``pipx install`` does), and ``abtui demo`` from an empty folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_runs_the_demo_from_any_folder(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "--no-build-isolation", "-w", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = list(dist.glob("abtui-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    # the pinned CPU torch (as the Makefile pins it) and the runner's extra
    import torch

    pin = f"torch=={torch.__version__.split('+')[0]}"
    got = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{wheel}[train]", pin],
                         capture_output=True, text=True, timeout=900)
    assert got.returncode == 0, got.stderr[-3000:]
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    demo = subprocess.run([str(venv / "bin" / "abtui"), "demo", "--headless"], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "verdict: adam vs sgd" in demo.stdout
    [run] = list((empty / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    assert report["fairness"]["state"] == "fair", report["fairness"]
    assert sorted(p.name for p in empty.iterdir()) == ["runs"]  # nothing else in the folder
