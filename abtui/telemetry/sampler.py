"""TelemetrySampler: one sample per interval (default 1 Hz) of GPUs, host and arms, as JSON lines.

telemetry.jsonl holds two kinds of line (one JSON object each, ``null`` where a
value is not available):

``{"kind": "gpu_info", ...}`` — written each time a sampler opens the file
(a monitor reattaching appends a new one)::

    {"kind": "gpu_info", "t": 1732300000.0, "available": true, "reason_unavailable": null,
     "driver": "550.54.15",
     "gpus": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-…", "mem_total_mb": 81559,
               "sm_clock_max_mhz": 1980, "mem_clock_max_mhz": 2619, "temp_slowdown_c": 87,
               "temp_shutdown_c": 92, "power_limit_w": 700.0}]}

``{"kind": "sample", ...}`` — one per interval; GPU entries carry only what changes::

    {"kind": "sample", "v": 2, "t": 1732300001.002,
     "host": {"cpu_percent": 12.5, "mem_used_mb": 20480, "mem_total_mb": 515000},
     "gpus": [{"index": 0, "run": "A", "temp_c": 64, "sm_clock_mhz": 1380, "mem_clock_mhz": 2619,
               "power_w": 699.1, "util_gpu": 100, "util_mem": 63, "mem_used_mb": 20011, "pstate": 0,
               "fan_percent": null, "reasons": 4, "reason_names": ["sw_power_cap"],
               "violation_power_ns": 15300000000, "violation_thermal_ns": 0,
               "energy_mj": 123456789,
               "processes": [{"pid": 4242, "used_mb": 19990}]}],
     "runs": {"A": {"source": "process", "cpu_percent": 101.0, "rss_mb": 2300.5, "pids": 3}},
     "foreign": [{"gpu": 3, "pid": 1234, "name": "python", "used_mb": 500, "run": "B"}],
     "cost_ms": 0.41, "cost_cpu_ms": 0.39}

- ``v``: the line's format (``samples.SAMPLE_VERSION``; version 1, without ``v``, said
  ``arm`` / ``pid_arm`` / ``arms``, and ``samples.upgrade`` reads it as today's).
- ``gpus[].run``: the run id owning the GPU (physical NVML index, from the spec), or null.
- ``processes`` appears only on samples where the process list was read (every
  ``process_interval`` seconds); ``foreign`` repeats the latest listing's finding:
  a process on an arm's GPU that belongs to no arm (or, with ``pid_run``, to another run).
- ``runs[].cpu_percent`` is % of one core; ``rss_mb`` is the tree's RSS (local) or
  the container's memory as ``docker stats`` shows it.
- ``cost_ms`` / ``cost_cpu_ms``: wall and CPU time this sample took.

:func:`read_samples` merges the latest ``gpu_info`` back into each GPU entry, so
a sample read back equals the dict :meth:`TelemetrySampler.sample` returned.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from abtui.telemetry.containers import ContainerStatsReader
from abtui.telemetry.host import (
    ForeignProcesses,
    HostReader,
    MonitorHelpers,
    ProcessTreeReader,
    process_name,
    tagged_processes,
)
from abtui.telemetry.nvml import NvmlTelemetry
from abtui.telemetry.samples import SAMPLE_VERSION, SampleWriter

if TYPE_CHECKING:  # types only: the telemetry agent's image holds abtui.telemetry alone
    from abtui.run_files import GpuInfo, Sample

log = logging.getLogger("abtui.telemetry")


@dataclass
class SamplerCost:
    """What sampling costs: per sample + write, wall and CPU (this thread) milliseconds."""

    samples: int = 0
    wall_ms_mean: float = 0.0
    wall_ms_max: float = 0.0
    cpu_ms_mean: float = 0.0
    cpu_ms_max: float = 0.0

    def add(self, wall_ms: float, cpu_ms: float) -> None:
        self.samples += 1
        n = self.samples
        self.wall_ms_mean += (wall_ms - self.wall_ms_mean) / n
        self.cpu_ms_mean += (cpu_ms - self.cpu_ms_mean) / n
        self.wall_ms_max = max(self.wall_ms_max, wall_ms)
        self.cpu_ms_max = max(self.cpu_ms_max, cpu_ms)

    def core_percent(self, interval: float) -> float:
        """Share of one CPU core the sampler uses at this interval."""
        return 100.0 * self.cpu_ms_mean / (interval * 1000.0) if interval > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


class TelemetrySampler:
    """Samples GPUs (NVML), the host and each arm; thread-friendly.

    ``gpu_arms`` maps run id → physical NVML GPU indices (from the spec).
    ``arm_pids`` maps run id → root PIDs of local arms; ``containers`` maps run
    id → container id (needs ``docker_client``). ``known_pids`` are PIDs that
    may use the experiment's GPUs without being a confound (e.g. the monitor).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        interval: float = 1.0,
        gpu_arms: Mapping[str, Sequence[int]] | None = None,
        arm_pids: Mapping[str, Iterable[int]] | None = None,
        containers: Mapping[str, str] | None = None,
        docker_client: Any = None,
        known_pids: Iterable[int] = (),
        process_interval: float = 5.0,
        gpus: Sequence[int] | None = None,
        nvml: NvmlTelemetry | None = None,
        foreign_cpu: bool = True,
        experiment: str | None = None,
        tag_key: str = "ABTUI_RUN_ID",
        tag_names: Mapping[str, str] | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.interval = interval
        self.process_every = max(1, round(process_interval / interval)) if interval > 0 else 1
        self.nvml = nvml or NvmlTelemetry()
        self.arm_of_gpu: dict[int, str] = {}
        for arm, indices in (gpu_arms or {}).items():
            for i in indices:
                self.arm_of_gpu.setdefault(int(i), arm)
        self._arm_pids = {a: set(p) for a, p in (arm_pids or {}).items()}
        self._containers = dict(containers or {})
        self._known = set(known_pids) | {os.getpid()}
        self._only_gpus = list(gpus) if gpus is not None else None
        self.foreign_cpu = foreign_cpu  # off where the arms do not run (remote backends)
        # the experiment's processes, found by the ABTUI_EXPERIMENT tag every arm carries
        # (arms under another engine of this machine, or the jobs beside a node agent), are
        # arms here too, never foreign load: grouped by ``tag_key``, named by ``tag_names``
        # (group value -> arm; else the value, or "KEY=value" for another key than run ids)
        self.experiment = experiment
        self.tag_key = tag_key
        self.tag_names = dict(tag_names or {})
        self.tagged: dict[str, set[int]] = {}  # arm -> PIDs, as the last listing found them
        self._host = HostReader()
        self._trees = ProcessTreeReader()
        self._foreign_procs = ForeignProcesses()
        self._helpers = MonitorHelpers()  # the env observer and the like: the monitor's own
        self._refresh_next = False
        self._docker = ContainerStatsReader(docker_client) if docker_client is not None else None
        self._container_pids: dict[int, str] = {}
        self._foreign: list[dict[str, Any]] = []
        self._static: dict[int, dict[str, Any]] = {}  # GPU index → static facts for samples
        self._count = 0
        self._lock = threading.Lock()
        self._writer: SampleWriter | None = None
        self.cost = SamplerCost()

    # -- arms come and go while the sampler runs --------------------------------------
    def set_arm_pids(self, arm: str, pids: Iterable[int]) -> None:
        """Root PIDs of a local arm (replaces earlier ones)."""
        with self._lock:
            self._arm_pids[arm] = set(pids)

    def forget_arm(self, arm: str) -> None:
        """An arm that has ended: its processes or container are no longer sampled (an
        ended arm's empty reading would otherwise hide every later foreign-load figure)."""
        with self._lock:
            self._arm_pids.pop(arm, None)
            self._containers.pop(arm, None)

    def set_arm_container(self, arm: str, container_id: str) -> None:
        """The container of a docker arm."""
        with self._lock:
            self._containers[arm] = container_id

    def add_known_pids(self, pids: Iterable[int]) -> None:
        """PIDs allowed on the experiment's GPUs without being a confound."""
        with self._lock:
            self._known.update(pids)

    # -- facts -----------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """True when GPU telemetry (NVML) works here."""
        return self.nvml.available

    @property
    def reason_unavailable(self) -> str | None:
        """One line saying why there is no GPU telemetry, or None."""
        return self.nvml.reason_unavailable

    def gpu_indices(self) -> list[int]:
        """The GPUs sampled: the ``gpus`` given, else every GPU NVML sees."""
        if not self.nvml.available:
            return []
        every = self.nvml.gpu_indices()
        return [i for i in every if i in self._only_gpus] if self._only_gpus is not None else every

    def gpu_info(self) -> GpuInfo:
        """The gpu_info record: availability, driver and static facts of each sampled GPU."""
        ok = self.nvml.available
        return {
            "kind": "gpu_info",
            "t": round(time.time(), 3),
            "available": ok,
            "reason_unavailable": self.nvml.reason_unavailable,
            "driver": self.nvml.driver_version() if ok else None,
            "gpus": [self.nvml.gpu_info(i).to_dict() for i in self.gpu_indices()],
        }

    # -- sampling --------------------------------------------------------------------
    def sample(self) -> Sample:
        """Take one sample now (see the module docstring for its shape). Never raises."""
        with self._lock:
            wall0, cpu0 = time.perf_counter(), time.thread_time()
            listing = self._count % self.process_every == 0 or self._refresh_next
            self._refresh_next = False
            self._count += 1
            if listing and self.experiment:
                self._find_tagged()
            arms, owner = self._trees.read(
                {a: p for a, p in self._arm_pids.items() if a not in self._containers},
                refresh_tree=listing,
            )
            if self._docker is not None and self._containers:
                arms.update(self._docker.read(self._containers))
                if listing:
                    self._container_pids = {
                        pid: arm for arm, cid in self._containers.items()
                        for pid in self._docker.host_pids(cid)
                    }
            owner.update(self._container_pids)
            gpus = []
            for i in self.gpu_indices():
                g = self.nvml.read_gpu(i)
                g["run"] = self.arm_of_gpu.get(i)
                if i not in self._static:
                    self._static[i] = {k: v for k, v in self.nvml.gpu_info(i).to_dict().items() if k != "index"}
                g.update(self._static[i])
                if listing:
                    g["processes"] = self.nvml.read_processes(i)
                gpus.append(g)
            if listing:
                self._foreign = self._find_foreign(gpus, owner)
            host = self._host.read()
            if host.get("monitor_cpu_percent") is not None and self.foreign_cpu:
                arm_pids = set(owner) | {p for pids in self._arm_pids.values() for p in pids}
                host["monitor_cpu_percent"] = round(
                    host["monitor_cpu_percent"] + self._helpers.read(arm_pids), 1)
            self._foreign_cpu(host, arms, owner, fresh=listing)
            sample: Sample = {
                "kind": "sample",
                "v": SAMPLE_VERSION,
                "t": round(time.time(), 3),
                "host": host,
                "gpus": gpus,
                "runs": arms,
                "foreign": list(self._foreign),
            }
            sample["cost_ms"] = round((time.perf_counter() - wall0) * 1000, 3)
            sample["cost_cpu_ms"] = round((time.thread_time() - cpu0) * 1000, 3)
            return sample

    def _find_tagged(self) -> None:
        """The experiment's processes on this machine, as arms (with ``_lock`` held)."""
        me = os.getpid()
        found = {}
        for group, pids in tagged_processes(str(self.experiment), self.tag_key).items():
            name = self.tag_names.get(group) or (
                group if self.tag_key == "ABTUI_RUN_ID" else f"{self.tag_key}={group}")
            if name not in self._containers:
                found[name] = pids - {me}
        for gone in set(self.tagged) - set(found):  # ended since the last listing
            self._arm_pids.pop(gone, None)
        self._arm_pids.update(found)
        self.tagged = found

    FOREIGN_CORES = 0.5  # foreign load above half a core names its processes

    def _foreign_cpu(self, host: dict[str, Any], arms: Mapping[str, Any],
                     owner: Mapping[int, str], fresh: bool) -> None:
        """``host["foreign_cores"]``: CPU taken by processes outside the experiment (cores),
        and while it is material ``host["foreign_top"]``, the busiest of them (local arms;
        a container's processes cannot be told from the host's here, so none are named).

        Arms' process trees are re-listed every few samples; a process an arm started since
        would count as foreign, so material foreign load is only reported from a sample
        whose trees were just listed (one is forced for the next sample otherwise)."""
        if not self.foreign_cpu:
            return
        pct, mon = host.get("cpu_percent"), host.get("monitor_cpu_percent")
        arm_pct = [a.get("cpu_percent") for a in arms.values() if isinstance(a, Mapping)]
        if pct is None or mon is None or any(v is None for v in arm_pct):
            return
        if any(isinstance(a, Mapping) and a.get("partial") for a in arms.values()):
            # a process an arm started since the last read counts only from its next read:
            # its CPU now would read as someone else's (a new arm's first second), unknown
            return
        arms_total = sum(float(v) for v in arm_pct if v is not None)  # none is None (above)
        foreign = pct * host["cpus"] / 100.0 - (arms_total + mon) / 100.0
        if foreign >= self.FOREIGN_CORES and not fresh:
            self._refresh_next = True
            return
        host["foreign_cores"] = round(max(0.0, foreign), 2)
        if foreign >= self.FOREIGN_CORES and not self._containers:
            roots = {p for pids in self._arm_pids.values() for p in pids}
            host["foreign_top"] = self._foreign_procs.read(set(owner) | self._known, roots)

    def _find_foreign(self, gpus: list[dict[str, Any]], owner: Mapping[int, str]) -> list[dict[str, Any]]:
        found = []
        for g in gpus:
            gpu_arm = g.get("run")
            for p in g.get("processes") or ():
                pid = p["pid"]
                pid_arm = owner.get(pid)
                if pid in self._known or pid_arm == gpu_arm or (gpu_arm is None and pid_arm is None):
                    continue
                entry = {"gpu": g["index"], "pid": pid,
                         "name": process_name(pid) or self.nvml.process_name(pid),
                         "used_mb": p.get("used_mb"), "run": gpu_arm}
                if pid_arm is not None:
                    entry["pid_run"] = pid_arm
                found.append(entry)
        return found

    def run(
        self,
        stop_event: threading.Event,
        on_sample: Callable[[Sample], None] | None = None,
        merge: Callable[[Sample], None] | None = None,
    ) -> None:
        """Sample every ``interval`` s until ``stop_event`` is set; persist and hand each on.

        ``merge`` adds to each sample before it is persisted (the nodes' GPUs of remote arms).

        Meant for a thread. A missed beat is skipped, not caught up in a burst; an
        exception from ``on_sample`` is logged once and sampling goes on.
        """
        next_t = time.monotonic()
        warned = False
        try:
            while not stop_event.is_set():
                wall0, cpu0 = time.perf_counter(), time.thread_time()
                sample = self.sample()
                if merge is not None:
                    try:
                        merge(sample)
                    except Exception as err:  # a node's file never stops the local sampler
                        log.warning("merging node telemetry failed: %s", err)
                self.persist(sample)
                self.cost.add((time.perf_counter() - wall0) * 1000, (time.thread_time() - cpu0) * 1000)
                if on_sample is not None:
                    try:
                        on_sample(sample)
                    except Exception as err:
                        if not warned:
                            log.warning("telemetry consumer failed: %s", err)
                            warned = True
                next_t += self.interval
                now = time.monotonic()
                if next_t < now:
                    next_t = now
                stop_event.wait(next_t - now)
        finally:
            self.close_file()

    def persist(self, sample: Sample) -> None:
        """Append a sample to ``path`` (gpu_info first); no-op without a path."""
        if self.path is None:
            return
        if self._writer is None:  # static facts are cached: gpu_info once per file opening
            self._writer = SampleWriter(self.path)
            self._writer.write_info(self.gpu_info())
        self._writer.write_sample(sample)

    def describe(self) -> dict[str, Any]:
        """What ``abtui doctor`` shows: availability, GPUs, cost, NVML queries that fail."""
        return {
            "available": self.available,
            "reason_unavailable": self.reason_unavailable,
            "gpus": len(self.gpu_indices()),
            "interval_s": self.interval,
            "cost": self.cost.to_dict(),
            "core_percent": round(self.cost.core_percent(self.interval), 3),
            "not_supported": sorted(self.nvml.nvml.not_supported),
            "errors": dict(self.nvml.nvml.last_errors),
        }

    def close_file(self) -> None:
        """Close telemetry.jsonl (the next persist reopens it and repeats gpu_info)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        """Close the file and shut NVML down."""
        self.close_file()
        self.nvml.close()
