"""DeepSpeed's own progress lines, as its engines print them every ``steps_per_print``.

``steps: 10 loss: 2.3456 iter time (s): 0.123 samples/sec: 260.163`` (the pipeline engine,
extra losses may stand between loss and iter time) and ``step:    10 /   100 loss: 2.3456
iter time (s): 0.123 samples/sec: 260.163 eta: …`` (newer releases).
"""

from __future__ import annotations

import re

from abtui.adapters.base import Parsed

_N = r"(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)"
_LINE = re.compile(rf"(?:^|\s)steps?:\s*(\d+)(?:\s*/\s*\d+)?\s+loss: {_N}\s(.*?)"
                   rf"iter time \(s\): {_N} samples/sec: {_N}")
_EXTRA = re.compile(rf"(\w+): {_N}")


def parse(line: str) -> Parsed | None:
    m = _LINE.search(line)
    if not m:
        return None
    values = {"loss": float(m.group(2)), "step_time_ms": float(m.group(4)) * 1000,
              "throughput_samples_per_sec": float(m.group(5))}
    for name, val in _EXTRA.findall(m.group(3)):
        values.setdefault(name, float(val))
    return Parsed(int(m.group(1)), values)
