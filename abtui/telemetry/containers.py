"""Per-container CPU and memory from the Docker daemon's stats (the docker backend's arms),
read as ``host.py`` reads local arms: a container that is gone, or a daemon that hiccups,
gives ``None`` for that value, never an exception. CPU % is of one core; memory is MiB."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from abtui.telemetry.host import MIB

log = logging.getLogger("abtui.telemetry")


def docker_cpu_percent(cur: Mapping[str, Any], prev: Mapping[str, Any] | None) -> float | None:
    """CPU % of a container between two ``cpu_stats`` readings, as ``docker stats`` computes it.

    (container delta / system delta) × online CPUs × 100, so 100 = one core;
    None when there is no previous reading or the system clock did not advance.
    """
    if not prev:
        return None
    try:
        cpu_delta = cur["cpu_usage"]["total_usage"] - prev["cpu_usage"]["total_usage"]
        sys_delta = cur["system_cpu_usage"] - prev["system_cpu_usage"]
        online = cur.get("online_cpus") or len(cur["cpu_usage"].get("percpu_usage") or ())
    except (KeyError, TypeError):
        return None
    if sys_delta <= 0:
        return None
    return round(max(cpu_delta, 0) / sys_delta * online * 100.0, 1)


def docker_mem_used(memory_stats: Mapping[str, Any]) -> int | None:
    """Memory use in bytes as ``docker stats`` shows it: usage minus inactive file cache."""
    usage = memory_stats.get("usage")
    if usage is None:
        return None
    stats = memory_stats.get("stats") or {}
    v1 = stats.get("total_inactive_file")  # cgroup v1
    if v1 is not None and v1 < usage:
        return usage - v1
    v2 = stats.get("inactive_file", 0)  # cgroup v2
    return usage - v2 if v2 < usage else usage


class ContainerStatsReader:
    """Per-arm CPU % / memory of containers through a docker client (``docker.DockerClient``).

    Uses one-shot stats (no 1 s wait inside the daemon) and computes CPU % from
    the previous reading this reader took, so reads must be taken repeatedly.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._prev: dict[str, dict[str, Any]] = {}
        self._warned: set[str] = set()

    def _api(self) -> Any:
        return getattr(self.client, "api", self.client)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)

    def read(self, containers: Mapping[str, str]) -> dict[str, dict[str, Any]]:
        """Per arm ``{"source": "container", "cpu_percent", "rss_mb", "mem_limit_mb", "pids"}``."""
        out: dict[str, dict[str, Any]] = {}
        for arm, cid in containers.items():
            entry: dict[str, Any] = {"source": "container", "cpu_percent": None, "rss_mb": None,
                                     "mem_limit_mb": None, "pids": None}
            out[arm] = entry
            try:
                stats = self._api().stats(cid, stream=False, one_shot=True)
            except Exception as err:  # gone, daemon down, old API: the value is just unknown
                self._warn_once(cid, f"docker stats for {cid[:12]} failed: {err}")
                continue
            cpu = stats.get("cpu_stats") or {}
            prev = self._prev.get(cid) or stats.get("precpu_stats")
            if prev and "system_cpu_usage" not in prev:
                prev = None
            entry["cpu_percent"] = docker_cpu_percent(cpu, prev)
            if "system_cpu_usage" in cpu:
                self._prev[cid] = cpu
            mem = stats.get("memory_stats") or {}
            used = docker_mem_used(mem)
            entry["rss_mb"] = None if used is None else round(used / MIB, 1)
            if mem.get("limit"):
                entry["mem_limit_mb"] = round(mem["limit"] / MIB, 1)
            entry["pids"] = (stats.get("pids_stats") or {}).get("current")
        return out

    def host_pids(self, container_id: str) -> set[int]:
        """Host PIDs of a container's processes (``docker top``): these appear in NVML's list."""
        try:
            top = self._api().top(container_id)
            col = top["Titles"].index("PID")
            return {int(row[col]) for row in top.get("Processes") or ()}
        except Exception as err:
            self._warn_once("top:" + container_id, f"docker top {container_id[:12]} failed: {err}")
            return set()
