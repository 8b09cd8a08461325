"""Overhead while monitoring: the monitor's CPU with 2 arms logging ~100 lines/s each.

The arms are tests/fixtures/fake_runner.py (a protocol-speaking script, --sleep 0.01),
telemetry at 1 Hz. The monitor runs as a subprocess (killed after the window, with its arms) and its CPU (psutil cpu_times, user +
system, its own threads only: the arms are separate processes) is read from outside over a
window that starts after a warm-up:

- headless: ``abtui run SPEC --headless``;
- console: ``abtui run SPEC`` inside tmux (120x40), when abtui.tui and tmux exist.

Baselines over the same windows: a ``tail -f``-like Python loop reading both arms' output
files every 0.1 s (the least any log follower does), and a ``nvidia-smi`` loop every second
where nvidia-smi exists (not on this machine: reported as n/a, the code stays for GPU hosts).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
from common import PY, REPO, Figure, at_most, ratio

NAME = "monitor"
TARGET_PCT = 2.0
RATE = 100  # lines per second per arm (fake_runner sleeps 10 ms a step)
SPEC = """
name: bench-overhead
backend: local
workdir: {repo}
command: [{py}, -u, tests/fixtures/fake_runner.py]
steps: {steps}
treatment: [tput]
config: {{sleep: 0.01}}
arms:
  A: {{config: {{tput: 100}}}}
  B: {{config: {{tput: 120}}}}
"""
TAIL = """
import sys, time, glob
files, pos, lines = {}, {}, 0
while True:
    for p in glob.glob(sys.argv[1] + "/*/arms/*/output.log"):
        fh = files.get(p) or files.setdefault(p, open(p, "rb"))
        data = fh.read()
        lines += len(data.split(b"\\n")) - 1
    time.sleep(0.1)
"""
NVSMI = "while true; do nvidia-smi > /dev/null; sleep 1; done"


def _cpu(p: psutil.Process, children: bool = False) -> float:
    t = p.cpu_times()
    own = t.user + t.system
    return own + (t.children_user + t.children_system if children else 0.0)


def _main_thread_cpu(p: psutil.Process) -> float:
    """CPU seconds of the process's main thread (the console's UI; idle when headless)."""
    return next((t.user_time + t.system_time for t in p.threads() if t.id == p.pid), 0.0)


def _lines(runs: Path) -> int:
    total = 0
    for p in runs.glob("*/arms/*/events.jsonl"):
        with open(p, "rb") as fh:
            total += sum(1 for _ in fh)
    return total


class _Window:
    """CPU of a set of processes between ``start`` and ``stop``."""

    def __init__(self, procs: dict[str, tuple[psutil.Process, bool]]) -> None:
        self.procs = procs
        self.cpu0 = {k: _cpu(p, c) for k, (p, c) in procs.items()}
        self.main0 = _main_thread_cpu(procs["monitor"][0])
        self.t0 = time.monotonic()

    def percent(self) -> dict[str, float]:
        dt = time.monotonic() - self.t0
        out = {k: 100 * (_cpu(p, c) - self.cpu0[k]) / dt for k, (p, c) in self.procs.items()}
        out["main"] = 100 * (_main_thread_cpu(self.procs["monitor"][0]) - self.main0) / dt
        return out


def _measure(label: str, start_monitor, runs: Path, warmup: float, window: float,  # type: ignore[no-untyped-def]
             arms_n: int = 2) -> dict[str, float]:
    """Start the monitor, wait, measure it and the baselines over ``window`` seconds."""
    monitor, stop_monitor = start_monitor()
    helpers: list[subprocess.Popen] = []
    arms: set[int] = set()
    try:
        time.sleep(warmup)
        arms |= {c.pid for c in monitor.children(recursive=True)}
        tail = subprocess.Popen([PY, "-c", TAIL, str(runs)], start_new_session=True)
        helpers.append(tail)
        procs = {"monitor": (monitor, False), "tail": (psutil.Process(tail.pid), False)}
        if shutil.which("nvidia-smi"):
            smi = subprocess.Popen(["bash", "-c", NVSMI], start_new_session=True)
            helpers.append(smi)
            procs["nvidia-smi"] = (psutil.Process(smi.pid), True)
        lines0 = _lines(runs)
        win = _Window(procs)
        time.sleep(window)
        arms |= {c.pid for c in monitor.children(recursive=True)}
        result = win.percent()
        result["rate"] = (_lines(runs) - lines0) / (time.monotonic() - win.t0) / arms_n
        result["rss_mb"] = monitor.memory_info().rss / 2**20
        if not monitor.is_running() or monitor.status() == psutil.STATUS_ZOMBIE:
            raise RuntimeError(f"{label}: the monitor exited during the window")
        return result
    finally:
        for h in helpers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(h.pid, signal.SIGTERM)  # its own group: the loop and its children
            with contextlib.suppress(subprocess.TimeoutExpired):
                h.wait(timeout=5)
        stop_monitor()
        for pid in arms:  # arms the monitor left behind (started by this benchmark)
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def _headless(spec: Path, runs: Path, log: Path):  # type: ignore[no-untyped-def]
    def start():  # type: ignore[no-untyped-def]
        out = open(log, "wb")
        proc = subprocess.Popen([PY, "-m", "abtui", "run", str(spec), "--headless",
                                 "--runs-dir", str(runs), "--stop-on-exit"],
                                cwd=spec.parent, stdout=out, stderr=subprocess.STDOUT)

        def stop() -> None:  # its arms are killed by the caller, by pid
            proc.kill()
            proc.wait()
            out.close()

        return psutil.Process(proc.pid), stop

    return start


def _console(spec: Path, runs: Path):  # type: ignore[no-untyped-def]
    session = f"abtui-bench-{os.getpid()}"

    def start():  # type: ignore[no-untyped-def]
        cmd = f"exec {PY} -m abtui run {spec} --runs-dir {runs}"
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                        cmd], check=True, cwd=spec.parent)
        pid = int(subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
                                 capture_output=True, text=True, check=True).stdout.split()[0])
        proc = psutil.Process(pid)

        def stop() -> None:  # its arms are killed by the caller, by pid
            with contextlib.suppress(psutil.Error):
                proc.kill()
                proc.wait(timeout=10)
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)

        return proc, stop

    return start


def run(quick: bool) -> list[Figure]:
    warmup, window = (3.0, 5.0) if quick else (5.0, 20.0)
    steps = int(RATE * (warmup + window + 20))
    base = Path(tempfile.mkdtemp(prefix="abtui-bench-monitor-"))
    figures: list[Figure] = []
    note = f"{window:.0f} s window after {warmup:.0f} s warm-up; 2 arms, telemetry 1 Hz"
    try:
        spec = base / "spec.yaml"
        spec.write_text(SPEC.format(repo=REPO, py=PY, steps=steps))
        runs = base / "runs"
        h = _measure("headless", _headless(spec, runs, base / "headless.log"), runs, warmup, window)
        figures.append(Figure(
            "monitor CPU, headless (abtui run --headless)", h["monitor"], "% of a core",
            target=f"<= {TARGET_PCT:g} %", met=at_most(h["monitor"], TARGET_PCT),
            baseline="tail -f-like Python loop", baseline_value=h["tail"],
            ratio=ratio(h["monitor"], h["tail"]), note=f"{h['rate']:.0f} lines/s per arm; {note}"))
        tui = importlib.util.find_spec("abtui.tui.app") is not None and shutil.which("tmux")
        if tui:
            runs2 = base / "runs-console"
            c = _measure("console", _console(spec, runs2), runs2, warmup, window)
            figures.append(Figure(
                "monitor CPU, console in tmux 120x40 (abtui run)", c["monitor"], "% of a core",
                target=f"<= {TARGET_PCT:g} %", met=at_most(c["monitor"], TARGET_PCT),
                baseline="tail -f-like Python loop", baseline_value=c["tail"],
                ratio=ratio(c["monitor"], c["tail"]),
                note=f"{c['rate']:.0f} lines/s per arm; UI (main) thread {c['main']:.2f} %, "
                     f"watcher and telemetry threads {c['monitor'] - c['main']:.2f} %; {note}"))
        else:
            figures.append(Figure("monitor CPU, console in tmux (abtui run)", None, "% of a core",
                                  target=f"<= {TARGET_PCT:g} %", note="abtui.tui or tmux missing"))
        smi = h.get("nvidia-smi")
        figures.append(Figure(
            "nvidia-smi loop, 1 s (comparison)", smi, "% of a core",
            baseline="monitor, headless", baseline_value=h["monitor"],
            ratio=ratio(smi, h["monitor"]),
            note="n/a here: no nvidia-smi on this machine (9.4 % measured on an H100 box)"
            if smi is None else "bash loop, children's CPU included"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return figures
