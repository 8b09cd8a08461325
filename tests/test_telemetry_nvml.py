"""NVML sampling against a fake pynvml module that raises pynvml's real error classes.

The fake answers like an H100 box (values measured on an H100 box) and can be
told to fail a query ("Not Supported", GPU lost) or to fail init (no library).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections import Counter
from types import SimpleNamespace
from typing import Any

import pynvml
import pytest
from fake_nvml import MIB, FakeNvml, h100

from abtui.telemetry import NA, Nvml, NvmlTelemetry, TelemetrySampler, read_samples
from abtui.telemetry.host import process_name
from abtui.telemetry.nvml import or_none
from abtui.telemetry.summary import confounds, summarize


def sampler_for(fake: FakeNvml, **kw: Any) -> TelemetrySampler:
    return TelemetrySampler(nvml=NvmlTelemetry(Nvml(module=fake)), **kw)


def test_normal_sample_has_every_field_in_units():
    fake = FakeNvml([h100(0, reasons=0x0, power_mw=520_400), h100(1), h100(2)])
    s = sampler_for(fake, gpu_arms={"A": [0], "B": [1]})
    assert s.available and s.reason_unavailable is None
    sample = s.sample()
    json.dumps(sample, allow_nan=False)  # strict JSON
    g0, g1, g2 = sample["gpus"]
    assert (g0["run"], g1["run"], g2["run"]) == ("A", "B", None)
    assert g1 == g1 | {
        "index": 1, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-00000001-fake-h100",
        "temp_c": 64, "temp_slowdown_c": 87, "temp_shutdown_c": 92,
        "sm_clock_mhz": 1380, "sm_clock_max_mhz": 1980, "mem_clock_mhz": 2619, "mem_clock_max_mhz": 2619,
        "power_w": 699.12, "power_limit_w": 700.0, "util_gpu": 100, "util_mem": 63,
        "mem_used_mb": 20011, "mem_total_mb": 81559, "pstate": 0, "reasons": 4,
        "reason_names": ["sw_power_cap"], "violation_power_ns": 15_300_000_000,
        "violation_thermal_ns": 0, "energy_mj": 123_456_789, "processes": [],
    }
    assert g0["power_w"] == 520.4 and g0["reasons"] == 0 and g0["reason_names"] == []
    assert sample["host"]["mem_total_mb"] > 0
    assert sample["cost_ms"] > 0 and sample["cost_cpu_ms"] > 0


def test_not_supported_fields_are_null_not_errors(caplog):
    fake = FakeNvml([h100(0, fan=None, viol_thermal=None, energy=None)])
    s = sampler_for(fake)
    with caplog.at_level(logging.INFO, logger="abtui.telemetry"):
        g = s.sample()["gpus"][0]
    assert g["fan_percent"] is None and g["violation_thermal_ns"] is None and g["energy_mj"] is None
    assert g["violation_power_ns"] == 15_300_000_000  # same function, other policy: still there
    assert "nvmlDeviceGetFanSpeed" in s.nvml.nvml.not_supported
    assert not caplog.records  # "Not Supported" is normal on data-centre GPUs: no noise


def test_query_failing_mid_run_gives_null_and_one_warning(caplog):
    fake = FakeNvml([h100(0), h100(1)])
    s = sampler_for(fake)
    assert s.sample()["gpus"][0]["power_w"] == 699.12
    fake.fail["nvmlDeviceGetPowerUsage"] = pynvml.NVML_ERROR_GPU_IS_LOST
    fake.fail["nvmlDeviceGetComputeRunningProcesses"] = pynvml.NVML_ERROR_UNKNOWN
    with caplog.at_level(logging.WARNING, logger="abtui.telemetry"):
        later = [s.sample() for _ in range(3)]
    for sample in later:
        for g in sample["gpus"]:
            assert g["power_w"] is None
            assert g["temp_c"] == 64 and g["reasons"] == 4
    warnings = [r.getMessage() for r in caplog.records]
    assert len([w for w in warnings if "nvmlDeviceGetPowerUsage" in w]) == 1
    assert "GPU is lost" in warnings[0]
    assert s.describe()["errors"]["nvmlDeviceGetPowerUsage"].startswith("NVMLError_GpuIsLost")
    assert s.nvml.nvml.error_counts["nvmlDeviceGetPowerUsage"] == 6


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, "libnvidia-ml.so.1 not found"),
        (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, "driver not loaded"),
        (pynvml.NVML_ERROR_NO_PERMISSION, "no permission"),
    ],
)
def test_no_nvml_means_host_only_samples_and_one_line(code, words, caplog, tmp_path):
    fake = FakeNvml([h100(0)], init_error=code)
    s = sampler_for(fake, path=tmp_path / "telemetry.jsonl", gpu_arms={"A": [0]})
    with caplog.at_level(logging.INFO, logger="abtui.telemetry"):
        samples = [s.sample() for _ in range(3)]
        for sample in samples:
            s.persist(sample)
    assert s.available is False
    assert words in s.reason_unavailable and "\n" not in s.reason_unavailable
    assert all(x["gpus"] == [] and x["host"]["mem_total_mb"] > 0 for x in samples)
    assert [r.getMessage() for r in caplog.records] == [s.reason_unavailable]  # said once
    assert not any(r.exc_info for r in caplog.records)
    assert fake.calls == Counter({"nvmlInit": 1})
    first = json.loads((tmp_path / "telemetry.jsonl").read_text().splitlines()[0])
    assert first["kind"] == "gpu_info" and first["available"] is False
    assert first["reason_unavailable"] == s.reason_unavailable


def test_real_pynvml_on_this_machine_never_raises():
    s = TelemetrySampler()
    sample = s.sample()
    if s.available:  # a GPU machine: the real thing must fill the fields
        assert sample["gpus"] and sample["gpus"][0]["name"]
    else:
        assert s.reason_unavailable and sample["gpus"] == []
    s.close()


def test_static_fields_read_once_dynamic_each_sample():
    fake = FakeNvml([h100(0), h100(1)])
    # the host's real foreign load would force extra listings on a busy machine: this test
    # counts NVML calls, so the foreign-load check (and its re-listing) is off
    s = sampler_for(fake, interval=1.0, process_interval=5.0, foreign_cpu=False)
    samples = [s.sample() for _ in range(10)]
    s.persist(samples[0])
    assert fake.calls["nvmlInit"] == 1 and fake.calls["nvmlDeviceGetCount"] == 1
    assert fake.calls["nvmlDeviceGetName"] == 2 and fake.calls["nvmlDeviceGetUUID"] == 2
    assert fake.calls["nvmlDeviceGetMaxClockInfo"] == 4
    assert fake.calls["nvmlDeviceGetTemperatureThreshold"] == 4
    assert fake.calls["nvmlDeviceGetEnforcedPowerLimit"] == 2
    assert fake.calls["nvmlDeviceGetHandleByIndex"] == 2
    assert fake.calls["nvmlDeviceGetTemperature"] == 20
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 20
    # the slow process listing: every 5th sample only
    assert fake.calls["nvmlDeviceGetComputeRunningProcesses"] == 4
    assert [("processes" in x["gpus"][0]) for x in samples] == [True] + [False] * 4 + [True] + [False] * 4


def test_pre_535_pynvml_name_for_reasons_is_used():
    class OldNvml(FakeNvml):
        nvmlDeviceGetCurrentClocksEventReasons = None  # not defined in old nvidia-ml-py

        def nvmlDeviceGetCurrentClocksThrottleReasons(self, h):
            return 0x44

    s = sampler_for(OldNvml([h100(0)]))
    g = s.sample()["gpus"][0]
    assert g["reasons"] == 0x44 and g["reason_names"] == ["sw_power_cap", "hw_thermal_slowdown"]


def test_memory_v2_used_while_the_driver_has_it():
    class V2Nvml(FakeNvml):
        nvmlMemory_v2 = pynvml.nvmlMemory_v2

        def nvmlDeviceGetMemoryInfo(self, h, version=None):
            if version is not None and self.gpus[h.index].get("old_driver"):
                raise pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)
            mem = super().nvmlDeviceGetMemoryInfo(h)
            if version is not None:  # v2: "used" excludes the driver's reserved memory
                mem.used -= 434 * MIB
            return mem

    assert sampler_for(V2Nvml([h100(0)])).sample()["gpus"][0]["mem_used_mb"] == 20011 - 434
    old = sampler_for(V2Nvml([h100(0, old_driver=True)])).sample()["gpus"][0]
    assert old["mem_used_mb"] == 20011 and old["mem_total_mb"] == 81559


def test_na_behaves_like_nan():
    assert NA + 1 is NA and 3 * NA is NA and NA / 2 is NA
    assert f"{NA:.1f} W" == "N/A W" and str(NA) == "N/A" and not NA
    assert float(NA) != float(NA)  # NaN
    assert not (NA > 0) and not (NA < 0)
    assert or_none(NA) is None and or_none(0) == 0


@pytest.fixture
def sleeper():
    procs = []

    def start(seconds: float = 30) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(["sleep", str(seconds)])
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_foreign_pid_on_an_arms_gpu_is_a_confound(sleeper):
    ours, other_arm, stranger, monitor = sleeper(), sleeper(), sleeper(), sleeper()
    fake = FakeNvml([
        h100(0, procs=[(ours.pid, 18000 * MIB), (monitor.pid, 300 * MIB)]),
        h100(1, procs=[(stranger.pid, 500 * MIB), (other_arm.pid, 100 * MIB)]),
        h100(2, procs=[(stranger.pid, 500 * MIB)]),  # no arm's GPU: not our business
    ])
    s = sampler_for(fake, gpu_arms={"A": [0], "B": [1]}, arm_pids={"A": [ours.pid]},
                    known_pids=[monitor.pid])
    s.set_arm_pids("C", [other_arm.pid])  # an arm without GPUs of its own (wrongly pinned)
    sample = s.sample()
    assert sample["foreign"] == [
        {"gpu": 1, "pid": stranger.pid, "name": "sleep", "used_mb": 500, "run": "B"},
        {"gpu": 1, "pid": other_arm.pid, "name": "sleep", "used_mb": 100, "run": "B", "pid_run": "C"},
    ]
    assert sample["runs"]["A"]["pids"] == 1
    sentences = confounds(summarize([sample]))
    assert f"GPU 1 is shared with PID {stranger.pid} (sleep)" in sentences
    assert f"GPU 1 (arm B) is also used by PID {other_arm.pid} (sleep) of arm C" in sentences
    assert not any("GPU 0" in x or "GPU 2" in x for x in sentences)


def test_docker_arm_processes_are_known_through_docker_top():
    class Api:
        def stats(self, cid, stream, one_shot):
            return {}

        def top(self, cid):
            return {"Titles": ["UID", "PID", "PPID", "CMD"], "Processes": [["root", "4242", "4200", "python"]]}

    fake = FakeNvml([h100(0, procs=[(4242, 18000 * MIB)])])
    s = sampler_for(fake, gpu_arms={"A": [0]}, containers={"A": "c0ffee" * 10},
                    docker_client=SimpleNamespace(api=Api()))
    assert s.sample()["foreign"] == []
    fake.gpus[0]["procs"].append((4343, 10 * MIB))
    s2 = sampler_for(fake, gpu_arms={"A": [0]}, containers={"A": "c0ffee" * 10},
                     docker_client=SimpleNamespace(api=Api()))
    foreign = s2.sample()["foreign"]
    assert [f["pid"] for f in foreign] == [4343]
    assert foreign[0]["name"] == (process_name(4343) or "python3")  # psutil's, else NVML's


def test_run_loop_round_trips_through_the_file(tmp_path):
    fake = FakeNvml([h100(0), h100(1, reasons=0x1, util=(0, 0))])
    path = tmp_path / "telemetry.jsonl"
    s = sampler_for(fake, path=path, interval=0.02, process_interval=0.1, gpu_arms={"A": [0], "B": [1]})
    got: list[dict[str, Any]] = []
    stop = threading.Event()

    def on_sample(x: dict[str, Any]) -> None:
        got.append(json.loads(json.dumps(x)))
        if len(got) == 8:
            stop.set()

    s.run(stop, on_sample)
    lines = path.read_text().splitlines()
    assert len(lines) == 9 and json.loads(lines[0])["kind"] == "gpu_info"
    assert "name" not in json.loads(lines[1])["gpus"][0]  # static facts live in gpu_info only
    assert list(read_samples(path)) == got


def test_telemetry_imports_no_textual():
    code = ("import sys, abtui.telemetry, abtui.telemetry.record, abtui.telemetry.verify; "
            "sys.exit('textual' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
