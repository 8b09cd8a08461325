"""On a machine with an NVIDIA GPU (the device machine; CI has none, so these skip there).

Run there with:  pytest -q -m gpu tests/test_gpu.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gpu
REPO = Path(__file__).resolve().parent.parent


def test_every_sampled_field_matches_nvidia_smi() -> None:
    out = subprocess.run([sys.executable, "-m", "abtui.telemetry.verify"], capture_output=True,
                         text=True, timeout=120)
    print(out.stdout)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_cuda_ab_run_reports_gpu_memory_and_telemetry(tmp_path) -> None:
    spec = tmp_path / "gpu.yaml"
    spec.write_text(
        f"name: gpu-smoke\nworkdir: {REPO}\nsteps: 200\ntreatment: [amp]\n"
        "config: {model: cnn, dataset: synthetic, image_size: 64, num_classes: 100, batch_size: 128,"
        " device: cuda, log_interval: 10, amp_dtype: bf16}\n"
        "arms:\n  fp32: {config: {amp: false}, gpus: [0]}\n  amp: {config: {amp: true}, gpus: [0]}\n")
    out = subprocess.run([sys.executable, "-m", "abtui", "run", str(spec), "--headless",
                          "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [run] = list((tmp_path / "runs").iterdir())
    report = json.loads((run / "report.json").read_text())
    for arm in ("fp32", "amp"):
        [r] = report["arms"][arm]["runs"]
        assert r["memory_metric"] == "gpu_memory_mb" and r["peak_memory"] > 0
    samples = [json.loads(line) for line in (run / "telemetry.jsonl").read_text().splitlines()]
    owned = [g for s in samples if s.get("kind") == "sample" for g in s["gpus"] if g.get("run")]
    assert owned, "no telemetry sample names the arm that owns the GPU"
    assert all(g.get("sm_clock_mhz") for g in owned)
