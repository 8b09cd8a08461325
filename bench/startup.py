"""Start-up: ``abtui --help``, and the console's first frame.

- ``abtui --help`` as a subprocess (the installed entry point), best of 5, against
  ``python -c pass`` (the interpreter alone), both measured in this run.
- First frame: ``abtui attach RUN`` on a small finished run inside tmux (120x40); the time
  from launching the process to the first capture of the pane that shows the console's
  title (the experiment's name), polled every 10 ms. Baseline: ``abtui --help``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import PY, REPO, Figure, at_most, ratio

NAME = "startup"
TARGET_HELP_MS = 300.0
TARGET_FRAME_S = 1.5


def _best_ms(argv: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def _abtui() -> list[str]:
    script = Path(sys.executable).with_name("abtui")
    return [str(script)] if script.exists() else [PY, "-m", "abtui"]


def first_frame_s(root: Path, marker: str, timeout: float = 30.0) -> float:
    """Seconds from launching ``abtui attach`` in tmux until the pane shows ``marker``."""
    session = f"abtui-bench-frame-{os.getpid()}"
    cmd = f"exec {' '.join(_abtui())} attach {root}"
    t0 = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd],
                   check=True, cwd=REPO)
    try:
        while time.perf_counter() - t0 < timeout:
            screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                    capture_output=True, text=True).stdout
            if marker in screen:
                return time.perf_counter() - t0
            time.sleep(0.01)
        raise RuntimeError(f"no frame with {marker!r} within {timeout:.0f} s: {screen[-500:]!r}")
    finally:
        pane = subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
                              capture_output=True, text=True).stdout.split()
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
        for pid in pane:  # the console we started, if SIGHUP did not end it
            with contextlib.suppress(ProcessLookupError, ValueError):
                time.sleep(0.2)
                os.kill(int(pid), 9)


def run(quick: bool) -> list[Figure]:
    repeat = 5
    python_ms = _best_ms([PY, "-c", "pass"], repeat)
    help_ms = _best_ms([*_abtui(), "--help"], repeat)
    figures = [Figure("abtui --help", help_ms, "ms", target=f"<= {TARGET_HELP_MS:.0f} ms",
                      met=at_most(help_ms, TARGET_HELP_MS), baseline="python -c pass",
                      baseline_value=python_ms, ratio=ratio(help_ms, python_ms),
                      note=f"subprocess, best of {repeat}")]
    if importlib.util.find_spec("abtui.tui.app") is None or not shutil.which("tmux"):
        figures.append(Figure("console first frame", None, "s", target=f"<= {TARGET_FRAME_S} s",
                              note="pending: abtui.tui or tmux missing"))
        return figures
    from replay import make_run

    base = Path(tempfile.mkdtemp(prefix="abtui-bench-startup-"))
    try:
        root = make_run(base, 2000)
        times = [first_frame_s(root, "bench-replay") for _ in range(2 if quick else 3)]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    frame = min(times)
    figures.append(Figure(
        "console first frame (abtui attach, tmux 120x40)", frame, "s",
        target=f"<= {TARGET_FRAME_S} s", met=at_most(frame, TARGET_FRAME_S),
        baseline="abtui --help (s)", baseline_value=help_ms / 1000, ratio=ratio(frame, help_ms / 1000),
        note=f"process start to the first pane capture showing the title; best of {len(times)}; "
             f"a finished 2-arm run of 4,000 lines"))
    return figures
