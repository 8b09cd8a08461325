"""torchtitan's metric lines: colour codes and a logger prefix around ``key: value`` pairs.

``[titan] 2025-01-01 12:00:00,000 - root - INFO - step: 10  loss:  7.12345  grad_norm:
1.2345  memory: 20.15GiB(21.19%)  tps: 1,234  tflops: 56.78  mfu: 5.74%`` (each field in
its own colour). ``tps`` (tokens per second) maps to ``throughput_samples_per_sec``,
``memory`` (GiB) to ``gpu_memory_mb``.
"""

from __future__ import annotations

import re

from abtui.adapters.base import Parsed, number, strip_ansi

_STEP = re.compile(r"(?:^|\s)step:\s*(\d+)\s+(.*)$")
_FIELD = re.compile(r"(\w+):\s*([-\d.,]+)\s*(GiB)?(?:\([\d.]+%\))?%?")
NAMES = {"loss": "loss", "grad_norm": "grad_norm", "memory": "gpu_memory_mb",
         "tps": "throughput_samples_per_sec", "tflops": "tflops", "mfu": "mfu"}


def parse(line: str) -> Parsed | None:
    text = strip_ansi(line)
    m = _STEP.search(text)
    if not m or "loss" not in m.group(2):
        return None
    values = {}
    for key, val, gib in _FIELD.findall(m.group(2)):
        name = NAMES.get(key)
        if name is None:
            continue
        try:
            v = number(val)
        except ValueError:
            continue
        values[name] = v * 1024 if gib or name == "gpu_memory_mb" else v
    return Parsed(int(m.group(1)), values) if "loss" in values else None
