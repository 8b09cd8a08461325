"""The PyTorch examples' lines (``examples/mnist`` and the many scripts that copied it).

``Train Epoch: 1 [0/60000 (0%)]\\tLoss: 2.305432`` and ``Test set: Average loss: 0.0450,
Accuracy: 9850/10000 (98%)``. They carry no global step: lines are counted.
"""

from __future__ import annotations

import re

from abtui.ingest.adapters.base import Parsed, strip_ansi

_TRAIN = re.compile(r"^Train Epoch: (\d+) \[(\d+)/(\d+) \([\d.]+%\)\]\s+Loss: (-?[\d.]+(?:e-?\d+)?)")
_TEST = re.compile(r"^Test set: Average loss: (-?[\d.]+), Accuracy: (\d+)/(\d+)")


def parse(line: str) -> Parsed | None:
    text = strip_ansi(line).strip()
    m = _TRAIN.match(text)
    if m:
        return Parsed(None, {"loss": float(m.group(4)), "epoch": float(m.group(1))})
    m = _TEST.match(text)
    if m:
        return Parsed(None, {"eval_loss": float(m.group(1)),
                             "accuracy": int(m.group(2)) / max(1, int(m.group(3)))}, eval=True)
    return None
