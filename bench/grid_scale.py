"""Many arms: the monitor and the console with 32 arms logging ~100 lines/s each, beside
the same with 2 arms in the same run (issue 30), and the console with 8 (issue 32).

The arms are a ``grid:`` of tests/fixtures/fake_runner.py (``--sleep 0.01``), telemetry at
1 Hz, measured as ``bench/monitor.py`` measures 2 arms (the monitor's own CPU over a window
after a warm-up, headless and in tmux 120x40): its CPU, its resident memory and so the
memory an arm adds, and the time ``abtui report`` takes on the run directory each leaves.
Targets: headless <= 5 % of a core, console <= 10 %.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from common import PY, REPO, Figure, at_most, ratio
from monitor import RATE, _console, _headless, _measure

NAME = "grid_scale"
HEADLESS_PCT, CONSOLE_PCT = 5.0, 10.0
SPEC = """
name: bench-grid-{n}
backend: local
workdir: {repo}
command: [{py}, -u, tests/fixtures/fake_runner.py]
steps: {steps}
concurrency: {n}  # every arm at once: the monitor's scale, not the packing onto cores
config: {{sleep: 0.01}}
grid:
  tput: [{values}]
"""


def _spec(base: Path, n: int, steps: int) -> Path:
    path = base / f"grid-{n}.yaml"
    path.write_text(SPEC.format(n=n, repo=REPO, py=PY, steps=steps,
                                values=", ".join(str(100 + i) for i in range(n))))
    return path


def _report_s(runs: Path) -> float | None:
    made = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    if not made:
        return None
    t0 = time.perf_counter()
    out = subprocess.run([PY, "-m", "abtui", "report", str(made[-1])], capture_output=True,
                         timeout=600)
    return time.perf_counter() - t0 if out.returncode in (0, 1, 3) else None


def run(quick: bool) -> list[Figure]:
    warmup, window = (4.0, 6.0) if quick else (8.0, 20.0)
    steps = int(RATE * (warmup + window + 30))
    base = Path(tempfile.mkdtemp(prefix="abtui-bench-grid-"))
    figures: list[Figure] = []
    note = f"{window:.0f} s window after {warmup:.0f} s warm-up, telemetry 1 Hz"
    try:
        got: dict[tuple[str, int], dict[str, float]] = {}
        report: dict[int, float | None] = {}
        console = importlib.util.find_spec("abtui.tui.app") is not None and shutil.which("tmux")
        for n in (2, 8, 32):  # 8: the console only (issue 32: 2, 8 and 32 arms)
            spec = _spec(base, n, steps)
            if n != 8:
                runs = base / f"runs-{n}"
                got["headless", n] = _measure(f"headless {n}", _headless(spec, runs,
                                                                         base / f"h{n}.log"),
                                              runs, warmup, window, arms_n=n)
                report[n] = _report_s(runs)
            if console:
                runs_c = base / f"runs-console-{n}"
                got["console", n] = _measure(f"console {n}", _console(spec, runs_c), runs_c,
                                             warmup, window, arms_n=n)
        h2, h32 = got["headless", 2], got["headless", 32]
        figures.append(Figure(
            "monitor CPU, 32 arms, headless", h32["monitor"], "% of a core",
            target=f"<= {HEADLESS_PCT:g} %", met=at_most(h32["monitor"], HEADLESS_PCT),
            baseline="the same with 2 arms", baseline_value=h2["monitor"],
            ratio=ratio(h32["monitor"], h2["monitor"]),
            note=f"{h32['rate']:.0f} lines/s per arm; {note}"))
        if console:
            c2 = got["console", 2]
            for n in (8, 32):
                c = got["console", n]
                figures.append(Figure(
                    f"console CPU, {n} arms, tmux 120x40", c["monitor"], "% of a core",
                    target=f"<= {CONSOLE_PCT:g} %", met=at_most(c["monitor"], CONSOLE_PCT),
                    baseline="the same with 2 arms", baseline_value=c2["monitor"],
                    ratio=ratio(c["monitor"], c2["monitor"]),
                    note=f"UI thread {c['main']:.2f} %; {c['rate']:.0f} lines/s per arm; {note}"))
        per_arm = (h32["rss_mb"] - h2["rss_mb"]) / 30
        figures.append(Figure(
            "monitor memory per arm (headless)", per_arm, "MB",
            baseline="monitor RSS with 2 arms", baseline_value=h2["rss_mb"],
            note=f"RSS {h2['rss_mb']:.0f} MB with 2 arms, {h32['rss_mb']:.0f} MB with 32"))
        figures.append(Figure(
            "abtui report of the 32-arm run", report[32], "s",
            baseline="the same of the 2-arm run", baseline_value=report[2],
            ratio=ratio(report[32], report[2]),
            note=f"{warmup + window:.0f} s of 32 x {RATE} lines/s, whole command"))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return figures
