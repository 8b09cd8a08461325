"""NVML through one guarded query helper: lazy init, "not available" instead of exceptions.

Every NVML call goes through :meth:`Nvml.query`. It initialises the library on
first use and returns :data:`NA` — never raises — when the library, the driver,
the GPU or the one sensor is missing ("Not Supported" fan speed on a
data-centre GPU, a GPU that fell off the bus mid-run, a function an old driver
lacks). ``NA`` behaves like NaN in arithmetic and formats as ``N/A``; in
telemetry.jsonl it is written as ``null``.

Without NVML (no driver, no ``libnvidia-ml.so.1``) ``available`` is False and
``reason_unavailable`` holds one line saying why (for the front end to show);
it is logged once at INFO, without a traceback, and nothing else changes:
samples simply carry no GPUs.

Slow-changing facts (name, UUID, memory total, max clocks, temperature
thresholds, enforced power limit) are read once per GPU (:class:`GpuInfo`).
Per sample we read only the cheap queries (~12 µs for six on an H100 once warm);
never PCIe throughput (21 ms). The compute process list is the slowest of ours:
the sampler asks for it only every few seconds.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

from abtui.telemetry.reasons import decode_names

log = logging.getLogger("abtui.telemetry")

MIB = 1 << 20
# Real values of the pynvml constants, used when a (fake or old) module lacks them.
_DEFAULTS = {
    "NVML_TEMPERATURE_GPU": 0,
    "NVML_CLOCK_SM": 1,
    "NVML_CLOCK_MEM": 2,
    "NVML_TEMPERATURE_THRESHOLD_SHUTDOWN": 0,
    "NVML_TEMPERATURE_THRESHOLD_SLOWDOWN": 1,
    "NVML_PERF_POLICY_POWER": 0,
    "NVML_PERF_POLICY_THERMAL": 1,
    "NVML_ERROR_NOT_SUPPORTED": 3,
    "NVML_ERROR_NO_PERMISSION": 4,
    "NVML_ERROR_DRIVER_NOT_LOADED": 9,
    "NVML_ERROR_LIBRARY_NOT_FOUND": 12,
}
PSTATE_UNKNOWN = 32


class NotAvailable:
    """The "not available" sentinel: falsy, NaN in arithmetic, ``N/A`` when formatted."""

    _instance: NotAvailable | None = None

    def __new__(cls) -> NotAvailable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NA"

    def __str__(self) -> str:
        return "N/A"

    def __format__(self, spec: str) -> str:
        return "N/A"

    def __bool__(self) -> bool:
        return False

    def __float__(self) -> float:
        return math.nan

    def _na(self, *_: Any) -> NotAvailable:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _na
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __neg__ = __abs__ = _na

    def __lt__(self, other: object) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __eq__(self, other: object) -> bool:
        return other is self

    def __hash__(self) -> int:
        return hash("abtui.NA")


NA = NotAvailable()


def or_none(value: Any) -> Any:
    """``NA`` → ``None`` (JSON ``null``); anything else unchanged."""
    return None if value is NA else value


def _scaled(value: Any, divisor: float, digits: int | None = 0) -> Any:
    if value is NA or value is None:
        return None
    scaled = value / divisor
    return int(scaled) if digits == 0 else round(scaled, digits)


def _text(value: Any) -> str | None:
    if value is NA or value is None:
        return None
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _unavailable_message(module: Any, err: BaseException) -> str:
    code = getattr(err, "value", None)
    c = {k: getattr(module, k, v) for k, v in _DEFAULTS.items()}
    if code == c["NVML_ERROR_LIBRARY_NOT_FOUND"]:
        return "no NVIDIA driver library (libnvidia-ml.so.1 not found): GPU telemetry off"
    if code == c["NVML_ERROR_DRIVER_NOT_LOADED"]:
        return "NVIDIA driver not loaded: GPU telemetry off"
    if code == c["NVML_ERROR_NO_PERMISSION"]:
        return "no permission to use NVML: GPU telemetry off"
    return f"NVML init failed ({str(err).strip() or type(err).__name__}): GPU telemetry off"


class Nvml:
    """A lazily initialised NVML session whose queries never raise.

    ``module`` is the pynvml module (a fake in tests); by default ``pynvml`` is
    imported on first use.
    """

    def __init__(self, module: Any = None) -> None:
        self._module = module
        self._lock = threading.Lock()
        self._started = False
        self._ok = False
        self.reason_unavailable: str | None = None
        self.not_supported: set[str] = set()  # functions answering "Not Supported"
        self.error_counts: dict[str, int] = {}  # function → number of other errors
        self.last_errors: dict[str, str] = {}  # function → last error message

    @property
    def module(self) -> Any:
        """The pynvml module in use (after :meth:`start`)."""
        return self._module

    @property
    def available(self) -> bool:
        """True when NVML initialised; the first access initialises it."""
        return self.start()

    def start(self) -> bool:
        """Initialise NVML once; on failure set ``reason_unavailable`` and log it once."""
        with self._lock:
            if self._started:
                return self._ok
            self._started = True
            try:
                if self._module is None:
                    self._module = importlib.import_module("pynvml")
            except ImportError:
                self.reason_unavailable = "nvidia-ml-py is not installed: GPU telemetry off"
            else:
                try:
                    self._module.nvmlInit()
                    self._ok = True
                except Exception as err:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
                    self.reason_unavailable = _unavailable_message(self._module, err)
            if not self._ok:  # said to the user by the front end through reason_unavailable
                log.info("%s", self.reason_unavailable)
            return self._ok

    def constant(self, name: str) -> Any:
        """A pynvml constant, falling back to its documented value."""
        return getattr(self._module, name, _DEFAULTS.get(name))

    def query(self, function: str | tuple[str, ...], *args: Any, **kwargs: Any) -> Any:
        """Call an NVML function by name; ``NA`` on any error, never an exception.

        A tuple of names tries each in turn while the module lacks it (new name
        first, the pre-535 name after).
        """
        if not self.start():
            return NA
        names = (function,) if isinstance(function, str) else function
        fn = None
        for name in names:
            fn = getattr(self._module, name, None)
            if fn is not None:
                break
        if fn is None:
            self.not_supported.add(names[0])
            return NA
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            self._note_error(name, err)
            return NA

    def _note_error(self, name: str, err: BaseException) -> None:
        if getattr(err, "value", None) == self.constant("NVML_ERROR_NOT_SUPPORTED"):
            self.not_supported.add(name)
            return
        message = f"{type(err).__name__}: {err}".strip()
        self.error_counts[name] = self.error_counts.get(name, 0) + 1
        if self.last_errors.get(name) != message:
            log.warning("NVML %s failed: %s (shown as N/A)", name, message)
        self.last_errors[name] = message

    def close(self) -> None:
        """Shut NVML down if it was started here."""
        with self._lock:
            if self._ok:
                # shutting down a broken NVML must not fail a run
                with contextlib.suppress(Exception):
                    self._module.nvmlShutdown()
            self._started = self._ok = False


@dataclass(frozen=True)
class GpuInfo:
    """Slow-changing facts about one GPU, read once. ``None`` where NVML has no answer."""

    index: int
    name: str | None
    uuid: str | None
    mem_total_mb: int | None
    sm_clock_max_mhz: int | None
    mem_clock_max_mhz: int | None
    temp_slowdown_c: int | None
    temp_shutdown_c: int | None
    power_limit_w: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Keys of a GPU sample that come from :class:`GpuInfo` (static).
STATIC_KEYS = tuple(k for k in GpuInfo.__dataclass_fields__ if k != "index")


class NvmlTelemetry:
    """Per-GPU reads on top of :class:`Nvml`: static info cached, dynamic fields per call."""

    def __init__(self, nvml: Nvml | None = None) -> None:
        self.nvml = nvml or Nvml()
        self._handles: dict[int, Any] = {}
        self._info: dict[int, GpuInfo] = {}
        self._count: int | None = None
        self._mem_v2: Any = None  # nvmlMemory_v2 while it works (used excludes reserved)
        self._driver: Any = NA

    @property
    def available(self) -> bool:
        """True when NVML is usable (initialises it)."""
        return self.nvml.available

    @property
    def reason_unavailable(self) -> str | None:
        """One line saying why there is no GPU telemetry, or None."""
        return self.nvml.reason_unavailable

    def gpu_indices(self) -> list[int]:
        """NVML (physical) indices of all GPUs; empty without NVML. Counted once."""
        if self._count is None:
            count = self.nvml.query("nvmlDeviceGetCount")
            self._count = count if isinstance(count, int) else 0
            if self._count and self._mem_v2 is None:
                self._mem_v2 = getattr(self.nvml.module, "nvmlMemory_v2", False)
        return list(range(self._count))

    def handle(self, index: int) -> Any:
        """The NVML handle of a GPU (cached), or ``NA``."""
        h = self._handles.get(index)
        if h is None:
            h = self.nvml.query("nvmlDeviceGetHandleByIndex", index)
            if h is not NA:
                self._handles[index] = h
        return h

    def driver_version(self) -> str | None:
        """The NVIDIA driver version, or None. Read once."""
        if self._driver is NA:
            self._driver = _text(self.nvml.query("nvmlSystemGetDriverVersion"))
        return self._driver

    def gpu_info(self, index: int) -> GpuInfo:
        """Static facts of one GPU, read from NVML the first time only."""
        info = self._info.get(index)
        if info is not None:
            return info
        q, c, h = self.nvml.query, self.nvml.constant, self.handle(index)
        mem = self._memory(h)
        info = GpuInfo(
            index=index,
            name=_text(q("nvmlDeviceGetName", h)),
            uuid=_text(q("nvmlDeviceGetUUID", h)),
            mem_total_mb=_scaled(getattr(mem, "total", NA), MIB),
            sm_clock_max_mhz=or_none(q("nvmlDeviceGetMaxClockInfo", h, c("NVML_CLOCK_SM"))),
            mem_clock_max_mhz=or_none(q("nvmlDeviceGetMaxClockInfo", h, c("NVML_CLOCK_MEM"))),
            temp_slowdown_c=or_none(
                q("nvmlDeviceGetTemperatureThreshold", h, c("NVML_TEMPERATURE_THRESHOLD_SLOWDOWN"))
            ),
            temp_shutdown_c=or_none(
                q("nvmlDeviceGetTemperatureThreshold", h, c("NVML_TEMPERATURE_THRESHOLD_SHUTDOWN"))
            ),
            power_limit_w=_scaled(q("nvmlDeviceGetEnforcedPowerLimit", h), 1000, 1),
        )
        self._info[index] = info
        return info

    def _memory(self, h: Any) -> Any:
        if self._mem_v2:
            mem = self.nvml.query("nvmlDeviceGetMemoryInfo", h, version=self._mem_v2)
            if mem is not NA:
                return mem
            self._mem_v2 = False  # old driver: v1 from now on
        return self.nvml.query("nvmlDeviceGetMemoryInfo", h)

    def read_gpu(self, index: int) -> dict[str, Any]:
        """Dynamic fields of one GPU now; ``None`` for each one NVML cannot give."""
        q, c, h = self.nvml.query, self.nvml.constant, self.handle(index)
        util = q("nvmlDeviceGetUtilizationRates", h)
        mem = self._memory(h)
        pstate = or_none(q("nvmlDeviceGetPerformanceState", h))
        reasons = or_none(
            q(("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"), h)
        )
        vp = q("nvmlDeviceGetViolationStatus", h, c("NVML_PERF_POLICY_POWER"))
        vt = q("nvmlDeviceGetViolationStatus", h, c("NVML_PERF_POLICY_THERMAL"))
        return {
            "index": index,
            "temp_c": or_none(q("nvmlDeviceGetTemperature", h, c("NVML_TEMPERATURE_GPU"))),
            "sm_clock_mhz": or_none(q("nvmlDeviceGetClockInfo", h, c("NVML_CLOCK_SM"))),
            "mem_clock_mhz": or_none(q("nvmlDeviceGetClockInfo", h, c("NVML_CLOCK_MEM"))),
            "power_w": _scaled(q("nvmlDeviceGetPowerUsage", h), 1000, 2),
            "util_gpu": or_none(getattr(util, "gpu", NA)),
            "util_mem": or_none(getattr(util, "memory", NA)),
            "mem_used_mb": _scaled(getattr(mem, "used", NA), MIB),
            "pstate": None if pstate == PSTATE_UNKNOWN else pstate,
            "fan_percent": or_none(q("nvmlDeviceGetFanSpeed", h)),
            "reasons": reasons,
            "reason_names": decode_names(reasons),
            "violation_power_ns": or_none(getattr(vp, "violationTime", NA)),
            "violation_thermal_ns": or_none(getattr(vt, "violationTime", NA)),
            "energy_mj": or_none(q("nvmlDeviceGetTotalEnergyConsumption", h)),
        }

    def read_processes(self, index: int) -> list[dict[str, Any]] | None:
        """Compute processes on one GPU: ``[{"pid", "used_mb"}]``; None if NVML cannot say."""
        procs = self.nvml.query("nvmlDeviceGetComputeRunningProcesses", self.handle(index))
        if procs is NA or procs is None:
            return None
        out = []
        for p in procs:
            used = getattr(p, "usedGpuMemory", None)
            out.append({"pid": int(p.pid), "used_mb": _scaled(used, MIB)})
        return out

    def process_name(self, pid: int) -> str | None:
        """NVML's name for a process (fallback when psutil cannot read it)."""
        name = _text(self.nvml.query("nvmlSystemGetProcessName", pid))
        return name.rsplit("/", 1)[-1] if name else None

    def close(self) -> None:
        """Shut NVML down."""
        self.nvml.close()
