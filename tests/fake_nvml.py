"""A stand-in for the pynvml module that answers like an H100 box and raises pynvml's real
error classes: for the telemetry tests, the benchmarks and the GPU check's dry run
(``bench/gpu_fake``). Values measured on an H100 box; it can be told to fail a query
("Not Supported", GPU lost) or to fail init (no library)."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

import pynvml

MIB = 1 << 20


def h100(i: int, **over: Any) -> dict[str, Any]:
    gpu = {
        "name": "NVIDIA H100 80GB HBM3", "uuid": f"GPU-0000000{i}-fake-h100", "total": 81559 * MIB,
        "used": 20011 * MIB, "sm_max": 1980, "mem_max": 2619, "slowdown": 87, "shutdown": 92,
        "limit_mw": 700000, "temp": 64, "sm": 1380, "mem": 2619, "power_mw": 699120,
        "util": (100, 63), "pstate": 0, "fan": None, "reasons": 0x4,
        "viol_power": 15_300_000_000, "viol_thermal": 0, "energy": 123_456_789, "procs": [],
    }
    gpu.update(over)
    return gpu


class FakeNvml:
    """Stands in for the pynvml module; counts every call by function name."""

    def __init__(self, gpus: list[dict[str, Any]], init_error: int | None = None) -> None:
        self.gpus = gpus
        self.init_error = init_error
        self.calls: Counter[str] = Counter()
        self.fail: dict[str, int] = {}  # function name → NVML error code it raises

    def __getattr__(self, name: str) -> Any:
        if name.startswith("NVML"):  # constants and error classes are pynvml's own
            return getattr(pynvml, name)
        raise AttributeError(name)

    def _q(self, fn: str, handle: Any, key: str) -> Any:
        self.calls[fn] += 1
        if fn in self.fail:
            raise pynvml.NVMLError(self.fail[fn])
        value = self.gpus[handle.index][key] if handle is not None else None
        if value is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)
        return value

    def nvmlInit(self) -> None:
        self.calls["nvmlInit"] += 1
        if self.init_error is not None:
            raise pynvml.NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:
        self.calls["nvmlShutdown"] += 1

    def nvmlDeviceGetCount(self) -> int:
        self.calls["nvmlDeviceGetCount"] += 1
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i: int) -> Any:
        self.calls["nvmlDeviceGetHandleByIndex"] += 1
        return SimpleNamespace(index=i)

    def nvmlSystemGetDriverVersion(self) -> str:
        return "550.54.15"

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        return "/usr/bin/python3"

    def nvmlDeviceGetName(self, h):
        return self._q("nvmlDeviceGetName", h, "name")

    def nvmlDeviceGetUUID(self, h):
        return self._q("nvmlDeviceGetUUID", h, "uuid")

    def nvmlDeviceGetMemoryInfo(self, h, version=None):
        self._q("nvmlDeviceGetMemoryInfo", h, "total")
        g = self.gpus[h.index]
        return SimpleNamespace(total=g["total"], used=g["used"], free=g["total"] - g["used"])

    def nvmlDeviceGetMaxClockInfo(self, h, kind):
        return self._q("nvmlDeviceGetMaxClockInfo", h, "sm_max" if kind == pynvml.NVML_CLOCK_SM else "mem_max")

    def nvmlDeviceGetClockInfo(self, h, kind):
        return self._q("nvmlDeviceGetClockInfo", h, "sm" if kind == pynvml.NVML_CLOCK_SM else "mem")

    def nvmlDeviceGetTemperatureThreshold(self, h, kind):
        key = "slowdown" if kind == pynvml.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN else "shutdown"
        return self._q("nvmlDeviceGetTemperatureThreshold", h, key)

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return self._q("nvmlDeviceGetEnforcedPowerLimit", h, "limit_mw")

    def nvmlDeviceGetTemperature(self, h, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self._q("nvmlDeviceGetTemperature", h, "temp")

    def nvmlDeviceGetPowerUsage(self, h):
        return self._q("nvmlDeviceGetPowerUsage", h, "power_mw")

    def nvmlDeviceGetUtilizationRates(self, h):
        gpu, mem = self._q("nvmlDeviceGetUtilizationRates", h, "util")
        return SimpleNamespace(gpu=gpu, memory=mem)

    def nvmlDeviceGetPerformanceState(self, h):
        return self._q("nvmlDeviceGetPerformanceState", h, "pstate")

    def nvmlDeviceGetFanSpeed(self, h):
        return self._q("nvmlDeviceGetFanSpeed", h, "fan")

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return self._q("nvmlDeviceGetCurrentClocksEventReasons", h, "reasons")

    def nvmlDeviceGetViolationStatus(self, h, policy):
        key = "viol_power" if policy == pynvml.NVML_PERF_POLICY_POWER else "viol_thermal"
        return SimpleNamespace(referenceTime=1, violationTime=self._q("nvmlDeviceGetViolationStatus", h, key))

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        return self._q("nvmlDeviceGetTotalEnergyConsumption", h, "energy")

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        procs = self._q("nvmlDeviceGetComputeRunningProcesses", h, "procs")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in procs]
