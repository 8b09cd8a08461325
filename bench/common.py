"""What every benchmark shares: figures with targets, timing, realistic metric lines.

A benchmark module exposes ``NAME`` and ``run(quick: bool) -> list[Figure]``. Each figure is
printed next to its target and the baseline it is measured against; the ratio to the
baseline is taken in the same run, because absolute times drift on shared machines.
"""

from __future__ import annotations

import gc
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass
class Figure:
    """One measured figure. ``value`` None means pending or not measurable here."""

    name: str
    value: float | None
    unit: str
    target: str = ""            # e.g. ">= 1.0"; empty: informative only
    met: bool | None = None     # None: no target, or not measurable here
    baseline: str = ""          # what it is compared with
    baseline_value: float | None = None
    ratio: float | None = None  # value / baseline_value, measured in the same run
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def at_least(value: float | None, limit: float) -> bool | None:
    return None if value is None else value >= limit


def at_most(value: float | None, limit: float) -> bool | None:
    return None if value is None else value <= limit


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def pending(name: str, unit: str, target: str, why: str) -> Figure:
    """A figure that cannot be measured on this machine (no GPU, missing component)."""
    return Figure(name, None, unit, target, None, note=why)


# ---- timing -----------------------------------------------------------------------------
def cpu_time(fn: Callable[[], Any]) -> tuple[float, float]:
    """(CPU seconds of this process, wall seconds) for one call; GC collected before."""
    gc.collect()
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


def best_interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best (lowest) CPU seconds of each function, run round-robin ``repeat`` times.

    Round-robin and best-of keep ratios honest on a shared machine: a slow spell hits
    every contender, and the minimum is the run least disturbed by other processes.
    """
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], cpu_time(fn)[0])
    return best


# ---- realistic metric lines -----------------------------------------------------------
_LINE = (b'{"step": %d, "loss": %.6f, "accuracy": %.4f, "throughput_samples_per_sec": %.2f, '
         b'"step_time_ms": %.3f, "lr": %.8f, "gpu_memory_mb": %d, "timestamp": "%s"}')
METRICS_PER_LINE = 6  # loss, accuracy, throughput, step_time_ms, lr, gpu_memory_mb


def metric_line(step: int, seed: int = 0) -> bytes:
    """A ~195-byte metric record as the reference runner prints it."""
    i = step + seed
    stamp = b"2025-04-05T%02d:%02d:%02dZ" % (10 + i // 3600 % 12, i // 60 % 60, i % 60)
    return _LINE % (step, 2.5 / (1 + step * 1e-3) + 1e-3 * (i % 97), min(0.999, 0.1 + 0.1 * (i % 7)),
                    1234.5 + (i % 13) * 3.25, 51.87 + (i % 11) * 0.137, 3e-4 * (1 - step / 1e8),
                    40960 + i % 5, stamp)


def metric_lines(n: int, start: int = 1, seed: int = 0) -> list[bytes]:
    return [metric_line(s, seed) for s in range(start, start + n)]


def line_batches(n: int, batch: int, seed: int = 0) -> Iterator[list[bytes]]:
    """``n`` metric lines in lists of ``batch`` (so that all of them never sit in memory)."""
    for start in range(1, n + 1, batch):
        yield metric_lines(min(batch, n + 1 - start), start, seed)


# ---- the machine ------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = "none"
    if shutil.which("nvidia-smi"):
        gpu = "nvidia-smi present"
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": gpu,
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def fmt(value: float | None, unit: str = "") -> str:
    """A number for the table: 3 significant digits, thousands separated."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    a = abs(value)
    if a >= 1000:
        text = f"{value:,.0f}"
    elif a >= 100:
        text = f"{value:.0f}"
    elif a >= 10:
        text = f"{value:.1f}"
    elif a >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()
