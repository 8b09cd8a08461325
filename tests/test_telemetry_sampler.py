"""The sampler loop for real: a real interval, a real file, real processes, its own cost."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import pynvml
import pytest

from abtui.telemetry import Nvml, NvmlTelemetry, TelemetrySampler, read_lines, read_samples


class NoDriver:
    """pynvml on a machine without the NVIDIA driver (what this CI machine is)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(pynvml, name)

    def nvmlInit(self) -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)


def host_only(**kw: Any) -> TelemetrySampler:
    return TelemetrySampler(nvml=NvmlTelemetry(Nvml(module=NoDriver())), **kw)


def run_for(sampler: TelemetrySampler, n: int, on_sample=None) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    stop = threading.Event()

    def collect(sample: dict[str, Any]) -> None:
        got.append(sample)
        if len(got) >= n:
            stop.set()
        if on_sample is not None:
            on_sample(sample)

    t = threading.Thread(target=sampler.run, args=(stop, collect), daemon=True)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive()
    return got


def test_loop_persists_one_line_per_sample_at_the_interval(tmp_path):
    path = tmp_path / "telemetry.jsonl"
    s = host_only(path=path, interval=0.05)
    got = run_for(s, 10)
    lines = path.read_text().splitlines()
    assert len(lines) == 11
    info = json.loads(lines[0])
    assert info["kind"] == "gpu_info" and info["available"] is False
    assert "libnvidia-ml.so.1" in info["reason_unavailable"]
    samples = list(read_samples(path))
    assert samples == got
    gaps = [b["t"] - a["t"] for a, b in zip(samples, samples[1:], strict=False)]
    assert 0.035 <= statistics.median(gaps) <= 0.1
    assert all(x["host"]["mem_total_mb"] > 0 for x in samples)
    assert all(x["host"]["cpu_percent"] is not None for x in samples[1:])


def test_sampler_measures_its_own_cost():
    s = host_only(interval=0.02)
    got = run_for(s, 20)
    assert s.cost.samples == 20
    assert 0 < s.cost.cpu_ms_mean <= s.cost.cpu_ms_max
    assert 0 < s.cost.wall_ms_mean <= s.cost.wall_ms_max
    assert all(x["cost_ms"] > 0 and x["cost_cpu_ms"] > 0 for x in got)
    d = s.describe()
    assert d["available"] is False and d["cost"]["samples"] == 20
    assert d["core_percent"] == pytest.approx(s.cost.core_percent(0.02), abs=1e-3)
    assert d["core_percent"] > 0


def test_a_failing_consumer_does_not_stop_sampling(caplog):
    s = host_only(interval=0.01)

    def broken(sample: dict[str, Any]) -> None:
        raise ValueError("store is full")

    got = run_for(s, 5, broken)
    assert len(got) == 5
    assert [r.getMessage() for r in caplog.records if "consumer" in r.getMessage()] == [
        "telemetry consumer failed: store is full"
    ]


def test_arm_pids_registered_while_running_show_up(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "b = b'x' * (80 << 20); import time; time.sleep(30)"])
    try:
        time.sleep(0.3)
        s = host_only(interval=0.02)
        before = s.sample()
        assert before["runs"] == {}
        s.set_arm_pids("A", [child.pid])
        s.sample()
        a = s.sample()["runs"]["A"]
        assert a["pids"] == 1 and a["rss_mb"] >= 80 and a["cpu_percent"] is not None
    finally:
        child.kill()
        child.wait()


def test_torn_last_line_is_skipped_and_appending_goes_on(tmp_path):
    path = tmp_path / "telemetry.jsonl"
    run_for(host_only(path=path, interval=0.01), 3)
    with open(path, "a") as f:
        f.write('{"kind":"sample","t":17323')  # the monitor was killed mid-write
    assert len(list(read_samples(path))) == 3
    run_for(host_only(path=path, interval=0.01), 2)  # `abtui attach` starts a new sampler
    assert len(list(read_samples(path))) == 5
    assert [x["kind"] for x in read_lines(path)].count("gpu_info") == 2


def test_sample_is_strict_json():
    s = host_only()
    for _ in range(2):
        json.dumps(s.sample(), allow_nan=False)
