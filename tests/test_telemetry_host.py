"""Host and per-arm CPU / memory with real psutil and real processes; docker stats arithmetic."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from abtui.telemetry.containers import (
    ContainerStatsReader,
    docker_cpu_percent,
    docker_mem_used,
)
from abtui.telemetry.host import HostReader, ProcessTreeReader, process_name

# A local arm: 150 MiB touched, a child process, and a busy CPU loop.
ARM = r"""
import subprocess, sys, time
ballast = b"\x01" * (150 << 20)
child = subprocess.Popen(["sleep", "60"])
print("ready", child.pid, flush=True)
end = time.time() + 60
while time.time() < end:
    pass
"""


@pytest.fixture
def busy_arm():
    p = subprocess.Popen([sys.executable, "-c", ARM], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line[0] == "ready"
    yield p, int(line[1])
    for pid in (int(line[1]),):
        subprocess.run(["kill", str(pid)], check=False)
    p.kill()
    p.wait()


def test_host_cpu_and_memory():
    h = HostReader()
    first = h.read()
    assert first["cpu_percent"] is None  # no delta yet
    assert 0 < first["mem_used_mb"] < first["mem_total_mb"]
    time.sleep(0.1)
    second = h.read()
    assert 0.0 <= second["cpu_percent"] <= 100.0


@pytest.mark.parametrize("children_files", [True, False])
def test_arm_process_tree_rss_and_cpu(busy_arm, children_files, monkeypatch):
    """The tree is found from /proc/PID/task/TID/children and, where the kernel has no such
    files, from one scan of the process table."""
    import abtui.telemetry.host as host
    if children_files and not host._HAS_CHILDREN_FILES:
        pytest.skip("this kernel has no /proc/PID/task/TID/children")
    monkeypatch.setattr(host, "_HAS_CHILDREN_FILES", children_files)
    proc, grandchild = busy_arm
    r = ProcessTreeReader()
    arms, owner = r.read({"A": [proc.pid]})
    assert arms["A"]["pids"] == 2 and arms["A"]["cpu_percent"] is None
    assert arms["A"]["rss_mb"] >= 150
    assert owner == {proc.pid: "A", grandchild: "A"}
    time.sleep(0.5)
    arms, _ = r.read({"A": [proc.pid]}, refresh_tree=False)
    assert arms["A"]["source"] == "process"
    assert arms["A"]["cpu_percent"] > 10  # a busy loop, on a shared 2-core machine
    assert process_name(grandchild) == "sleep"


def test_arm_that_exited_reads_empty_without_error(busy_arm):
    proc, grandchild = busy_arm
    r = ProcessTreeReader()
    r.read({"A": [proc.pid]})
    proc.kill()
    proc.wait()
    subprocess.run(["kill", str(grandchild)], check=False)
    time.sleep(0.1)
    arms, owner = r.read({"A": [proc.pid]}, refresh_tree=False)
    assert arms["A"] == {"source": "process", "cpu_percent": None, "rss_mb": None, "pids": 0}
    assert owner == {}
    assert process_name(proc.pid) is None


# cpu_stats / memory_stats as the Docker Engine API returns them (GET /containers/{id}/stats).
PRE = {"cpu_usage": {"total_usage": 100_093_996, "percpu_usage": [1, 2, 3, 4]},
       "system_cpu_usage": 9_492_140_000_000, "online_cpus": 4}
CUR = {"cpu_usage": {"total_usage": 2_100_093_996, "percpu_usage": [1, 2, 3, 4]},
       "system_cpu_usage": 9_496_140_000_000, "online_cpus": 4}


def test_docker_cpu_percent_as_docker_stats_computes_it():
    # 2 s of container CPU over 4 s of system time (all 4 CPUs) × 4 CPUs → 200 % (two cores busy)
    assert docker_cpu_percent(CUR, PRE) == 200.0
    no_online = {**CUR, "online_cpus": 0}
    assert docker_cpu_percent(no_online, PRE) == 200.0  # falls back to len(percpu_usage)
    assert docker_cpu_percent(CUR, None) is None
    assert docker_cpu_percent(CUR, CUR) is None  # system clock did not advance


def test_docker_memory_excludes_inactive_file_cache():
    assert docker_mem_used({"usage": 600 << 20, "stats": {"inactive_file": 100 << 20}}) == 500 << 20
    assert docker_mem_used({"usage": 600 << 20, "stats": {"total_inactive_file": 200 << 20}}) == 400 << 20
    assert docker_mem_used({"usage": 600 << 20, "stats": {}}) == 600 << 20
    assert docker_mem_used({}) is None


class FakeDockerApi:
    """One-shot stats come back without precpu_stats; the reader keeps its own previous reading."""

    def __init__(self) -> None:
        self.readings = [PRE, CUR]
        self.gone: set[str] = set()

    def stats(self, cid: str, stream: bool, one_shot: bool) -> dict:
        assert stream is False and one_shot is True
        if cid in self.gone:
            raise RuntimeError(f"404 Client Error: No such container: {cid}")
        cpu = self.readings.pop(0)
        return {"cpu_stats": cpu, "precpu_stats": {"cpu_usage": {"total_usage": 0}},
                "memory_stats": {"usage": 700 << 20, "limit": 8 << 30, "stats": {"inactive_file": 200 << 20}},
                "pids_stats": {"current": 7}}

    def top(self, cid: str) -> dict:
        return {"Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
                "Processes": [["root", "4242", "4200", "99", "10:00", "?", "00:01:00", "python train.py"],
                              ["root", "4250", "4242", "0", "10:00", "?", "00:00:01", "python worker"]]}


def test_container_stats_reader(caplog):
    api = FakeDockerApi()
    r = ContainerStatsReader(SimpleNamespace(api=api))
    first = r.read({"B": "abc"})["B"]
    assert first == {"source": "container", "cpu_percent": None, "rss_mb": 500.0,
                     "mem_limit_mb": 8192.0, "pids": 7}
    assert r.read({"B": "abc"})["B"]["cpu_percent"] == 200.0
    assert r.host_pids("abc") == {4242, 4250}
    api.gone.add("abc")
    with caplog.at_level(logging.WARNING, logger="abtui.telemetry"):
        for _ in range(3):
            assert r.read({"B": "abc"})["B"]["cpu_percent"] is None
    assert len(caplog.records) == 1 and "No such container" in caplog.records[0].getMessage()


def test_a_process_first_seen_marks_its_arms_figure_partial() -> None:
    """The first read of a new process has no CPU baseline: the arm's figure says so
    (``partial``), so foreign load is not computed from it (its CPU would read as foreign)."""
    import subprocess
    import sys
    import time

    from abtui.telemetry.host import ProcessTreeReader

    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time\n"
                               "time.sleep(0.5)\n"
                               "subprocess.run([sys.executable, '-c', 'import time\\n"
                               "t = time.time()\\nwhile time.time() - t < 3: pass'])\n"])
    try:
        reader = ProcessTreeReader()
        first, _ = reader.read({"a": [parent.pid]})
        assert first["a"].get("partial") is True  # the root itself, first seen
        time.sleep(0.2)
        settled, _ = reader.read({"a": [parent.pid]})
        assert not settled["a"].get("partial")
        time.sleep(1.0)  # the busy child has started
        grown, _ = reader.read({"a": [parent.pid]}, refresh_tree=True)
        assert grown["a"]["pids"] == 2 and grown["a"].get("partial") is True
        time.sleep(0.3)
        known, _ = reader.read({"a": [parent.pid]}, refresh_tree=True)
        assert not known["a"].get("partial") and known["a"]["cpu_percent"] > 50
    finally:
        parent.kill()
        parent.wait()
