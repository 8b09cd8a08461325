"""Host and per-arm CPU / memory: psutil for the machine and local arms, docker stats for containers.

Every read is guarded: a process that exited, a container that is gone, a
daemon that hiccups gives ``None`` for that value, never an exception.

CPU percentages are relative to one core (100 = one core busy), as ``top`` and
``docker stats`` show them, except ``host.cpu_percent`` which is the whole
machine (100 = every core busy). Memory is MiB.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Mapping, Set
from typing import Any

import psutil

log = logging.getLogger("abtui.telemetry")

MIB = 1 << 20
_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


def process_name(pid: int) -> str | None:
    """The name of a process (``python``), or None if it is gone or not readable."""
    try:
        return psutil.Process(pid).name()
    except (*_GONE, ValueError, OSError):
        return None


def _busy(now: tuple[float, float], last: tuple[float, float]) -> float | None:
    """Busy % between two (total, idle) CPU-time readings; None when no time passed."""
    d_total = now[0] - last[0]
    if d_total <= 0:
        return None
    return round(max(0.0, 100.0 * (d_total - (now[1] - last[1])) / d_total), 1)


class HostReader:
    """Whole-machine CPU % (from cpu_times deltas, independent of other psutil callers),
    memory, the core count and the monitor's own CPU % (so that co-run load can be told
    from the experiment's: foreign = host - arms - monitor)."""

    def __init__(self) -> None:
        self._last: list[tuple[float, float]] | None = None  # each core's (total, idle) times
        self._self_last: tuple[float, float] | None = None
        self.cpus = psutil.cpu_count() or 1

    def _monitor_percent(self) -> float | None:
        t = os.times()
        now, used = time.monotonic(), t.user + t.system
        last, self._self_last = self._self_last, (now, used)
        if last is None or now <= last[0]:
            return None
        return round(100.0 * (used - last[1]) / (now - last[0]), 1)

    def read(self) -> dict[str, Any]:
        """``{"cpu_percent", "core_percent", "mem_used_mb", "mem_total_mb", "cpus",
        "monitor_cpu_percent"}``; the CPU figures are None (``core_percent`` absent) on the
        first read. ``cpu_percent`` is of the whole machine (100 = every core busy),
        ``core_percent`` each core's, ``monitor_cpu_percent`` of one core."""
        out: dict[str, Any] = {"cpu_percent": None, "mem_used_mb": None, "mem_total_mb": None,
                               "cpus": self.cpus, "monitor_cpu_percent": self._monitor_percent()}
        try:
            # each core's busy share (foreign load is judged on the cores a run was pinned
            # to, not only host-wide), and the machine's from their sums: one read of the
            # counters for both
            now = [(sum(t), t.idle + getattr(t, "iowait", 0.0))
                   for t in psutil.cpu_times(percpu=True)]
            last, self._last = self._last, now
            if last is not None and len(last) == len(now):
                out["cpu_percent"] = _busy((sum(n[0] for n in now), sum(n[1] for n in now)),
                                           (sum(x[0] for x in last), sum(x[1] for x in last)))
                out["core_percent"] = [_busy(n, x) or 0.0 for n, x in zip(now, last, strict=True)]
        except (OSError, RuntimeError):
            pass
        try:
            vm = psutil.virtual_memory()
            out["mem_used_mb"] = int((vm.total - vm.available) / MIB)
            out["mem_total_mb"] = int(vm.total / MIB)
        except (OSError, RuntimeError):
            pass
        return out



class ForeignProcesses:
    """The processes outside the experiment that take the most CPU, named for a finding.

    A scan of the whole process table is costly, so it runs only while foreign load is
    present and at most every ``every_s`` seconds; CPU % comes from cpu_times deltas
    between two scans (the first scan only primes them).
    """

    def __init__(self, every_s: float = 3.0, top: int = 3, min_percent: float = 10.0) -> None:
        self.every_s, self.top, self.min_percent = every_s, top, min_percent
        self._prev: dict[int, float] = {}
        self._prev_t: float | None = None
        self.last: list[dict[str, Any]] = []

    def read(self, exclude: Set[int], roots: Set[int] = frozenset()
             ) -> list[dict[str, Any]]:
        """The busiest processes not in ``exclude`` nor below any of ``roots``."""
        now = time.monotonic()
        if self._prev_t is not None and now - self._prev_t < self.every_s:
            return self.last
        exclude = set(exclude)
        # the arms' trees as they are now, not as last listed: down each tree's children
        # files, or one pass over /proc for every root (psutil's children() makes a pass
        # per root: 32 arms were 32 passes a scan)
        table: dict[int, list[int]] | None = None
        for root in roots:
            below = ProcessTreeReader._descendants(root)
            if below is None:
                table = ProcessTreeReader._children_map() if table is None else table
                below, todo = [], list((table or {}).get(root, ()))
                while todo:
                    pid = todo.pop()
                    below.append(pid)
                    todo += (table or {}).get(pid, ())
            exclude |= set(below)
        cur: dict[int, float] = {}
        names: dict[int, str] = {}
        for p in psutil.process_iter(["pid", "name", "cpu_times"]):
            info = p.info
            times = info.get("cpu_times")
            if times is None:
                continue
            cur[info["pid"]] = times.user + times.system
            names[info["pid"]] = info.get("name") or "?"
        if self._prev_t is not None:
            dt = now - self._prev_t
            busy = [(pid, 100.0 * (used - self._prev.get(pid, used)) / dt)
                    for pid, used in cur.items() if pid not in exclude and pid in self._prev]
            busy.sort(key=lambda x: -x[1])
            self.last = [{"pid": pid, "name": names[pid], "cpu_percent": round(pct, 1)}
                         for pid, pct in busy[:self.top] if pct >= self.min_percent]
        self._prev, self._prev_t = cur, now
        return self.last


_HAS_CHILDREN_FILES = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


class ProcessTreeReader:
    """CPU % and RSS of each local arm's whole process tree (root PIDs given).

    Finding the trees reads the roots' ``/proc/PID/task/TID/children`` files down the
    tree where the kernel has them; elsewhere every process's parent once (one pass over
    /proc for all arms, ~3.6 ms for 100 processes here). Trees are re-read only
    when asked (``refresh_tree``) or when an arm's roots change; in between only
    the known processes are read.
    ``Process`` objects are kept so CPU % is a delta since the last read; a
    process seen for the first time counts from its next read. RSS is summed
    over the tree.
    """

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._trees: dict[str, tuple[frozenset[int], list[int]]] = {}  # arm → (roots, tree pids)

    @staticmethod
    def _children_map() -> dict[int, list[int]] | None:
        """ppid → pids from one pass over /proc (Linux); None elsewhere."""
        try:
            names = os.listdir("/proc")
        except OSError:
            return None
        children: dict[int, list[int]] = {}
        for name in names:
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
        return children

    @staticmethod
    def _descendants(root: int, prune: Set[int] = frozenset()) -> list[int] | None:
        """``root``'s descendants from its threads' ``children`` files (Linux with
        CONFIG_PROC_CHILDREN): reads the tree only, not the whole process table; a child in
        ``prune`` is left out with everything below it. None where the files do not exist."""
        if not _HAS_CHILDREN_FILES:
            return None
        out: list[int] = []
        todo = [root]
        while todo:
            pid = todo.pop()
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:  # gone
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                        kids = [k for k in map(int, f.read().split()) if k not in prune]
                except (OSError, ValueError):  # the thread or the process ended
                    continue
                out += kids
                todo += kids
        return out

    def _trees_now(self, roots_by_arm: Mapping[str, frozenset[int]]) -> dict[str, list[int]]:
        """Every arm's tree (roots first): from the roots' ``children`` files, else from one
        scan of the process table."""
        children = None if _HAS_CHILDREN_FILES else self._children_map()
        out: dict[str, list[int]] = {}
        for arm, roots in roots_by_arm.items():
            pids: list[int] = []
            for root in sorted(roots):
                if not psutil.pid_exists(root):
                    continue
                walked = self._descendants(root)
                if walked is not None:
                    kids = walked
                elif children is None:  # not Linux: psutil walks the table per root
                    try:
                        kids = [c.pid for c in psutil.Process(root).children(recursive=True)]
                    except (*_GONE, ValueError):
                        continue
                else:
                    kids, todo = [], list(children.get(root, ()))
                    while todo:
                        pid = todo.pop()
                        kids.append(pid)
                        todo.extend(children.get(pid, ()))
                pids.append(root)
                pids.extend(kids)
            out[arm] = pids
        return out

    def read(
        self, arm_pids: Mapping[str, Iterable[int]], refresh_tree: bool = True
    ) -> tuple[dict[str, dict[str, Any]], dict[int, str]]:
        """Per arm ``{"source": "process", "cpu_percent", "rss_mb", "pids"}`` and pid → arm.

        ``cpu_percent`` is None until a process of the tree has been read twice;
        an arm whose processes are all gone reads ``pids: 0`` and None values.
        """
        arms: dict[str, dict[str, Any]] = {}
        owner: dict[int, str] = {}
        wanted = {arm: frozenset(pids) for arm, pids in arm_pids.items()}
        stale = {a: r for a, r in wanted.items()
                 if refresh_tree or a not in self._trees or self._trees[a][0] != r}
        if stale:
            for arm, pids in self._trees_now(stale).items():
                self._trees[arm] = (stale[arm], pids)
        for arm, roots in wanted.items():
            known = self._trees[arm]
            cpu: float | None = None
            rss = 0
            alive: list[int] = []
            partial = False
            for pid in known[1]:
                cached = self._procs.get(pid)
                fresh = cached is None
                try:
                    p = cached if cached is not None else psutil.Process(pid)
                    with p.oneshot():
                        if p.status() == psutil.STATUS_ZOMBIE:  # exited, parent has not reaped it
                            raise psutil.ZombieProcess(pid)
                        pct = p.cpu_percent(None)
                        rss += p.memory_info().rss
                except _GONE:
                    self._procs.pop(pid, None)
                    continue
                alive.append(pid)
                owner[pid] = arm
                self._procs[pid] = p
                if not fresh:
                    cpu = (cpu or 0.0) + pct
                else:
                    partial = True
            self._trees[arm] = (roots, alive)
            arms[arm] = {
                "source": "process",
                "cpu_percent": None if cpu is None else round(cpu, 1),
                "rss_mb": round(rss / MIB, 1) if alive else None,
                "pids": len(alive),
            }
            if partial:  # a process first seen now: its CPU so far is not in cpu_percent
                arms[arm]["partial"] = True
        for arm in set(self._trees) - set(arm_pids):
            del self._trees[arm]
        for pid in set(self._procs) - set(owner):
            del self._procs[pid]
        return arms, owner


class MonitorHelpers:
    """CPU % of the monitor's own helper processes (its descendants that are no arm's: the
    env observer, git, docker or ssh clients), so that their CPU is the monitor's, never
    foreign load on an arm's core. A helper first seen counts with its CPU since it started
    over its age (it may live only a second or two); after that, as in ``ProcessTreeReader``."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}

    def read(self, arms: Set[int]) -> float:
        """The helpers' CPU %; ``arms``: the arms' processes (local arms are the monitor's
        children too), whose trees are not walked again here."""
        kids = ProcessTreeReader._descendants(os.getpid(), prune=arms)
        if kids is None:
            try:
                kids = [c.pid for c in psutil.Process().children(recursive=True)
                        if c.pid not in arms]
            except (*_GONE, ValueError):
                kids = []
        total, seen = 0.0, {}
        for pid in kids:
            p = self._procs.get(pid)
            try:
                if p is None:  # first seen: its CPU since it started, over its age
                    p = psutil.Process(pid)
                    p.cpu_percent(None)  # the baseline for its next read
                    used = sum(p.cpu_times()[:2])
                    total += 100.0 * used / max(0.1, time.time() - p.create_time())
                else:
                    total += p.cpu_percent(None)
            except _GONE:
                continue
            seen[pid] = p
        self._procs = seen
        return round(total, 1)


def tagged_processes(experiment: str, key: str = "ABTUI_RUN_ID") -> dict[str, set[int]]:
    """The processes on this machine whose environment carries
    ``ABTUI_EXPERIMENT=<experiment>`` (every backend sets it in its arms), grouped by the
    value of ``key`` (the run id; ``SLURM_JOB_ID`` for jobs). Processes of other users
    are not readable and so not found; an arm runs as the monitor's user or as nobody."""
    needle = f"ABTUI_EXPERIMENT={experiment}".encode()
    prefix = f"{key}=".encode()
    found: dict[str, set[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue  # gone, or another user's
        if needle not in env:
            continue
        group = next((v[len(prefix):].decode(errors="replace") for v in env
                      if v.startswith(prefix)), "?")
        found.setdefault(group, set()).add(int(entry.name))
    return found
