"""timm's ``train.py`` lines, as its ``_logger.info`` f-strings write them (INFO lines carry
no level prefix under timm's ``setup_default_logging``).

``Train: 0 [   4/40 ( 12%)]  Loss: 0.693 (0.693)  Time: 0.120s,   66.50/s  (0.125s,
64.00/s)  LR: 1.000e-02  Data: 0.003 (0.004)`` and ``Test: [   0/1]  Time: 0.050 (0.050)
Loss:   0.690 ( 0.690)  Acc@1:  50.000 ( 50.000)  Acc@5: 100.000 (100.000)``.

The step is the update index within the epoch: it restarts each epoch, so the adapter
counts updates across epochs from the epoch and the updates per epoch. The current
(not averaged) loss, rate and time are read; ``Acc@1`` (percent) is the accuracy.
"""

from __future__ import annotations

import re

from abtui.adapters.base import Parsed

_N = r"(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)"
_TRAIN = re.compile(
    rf"^Train: (\d+) \[\s*(\d+)/(\d+) \(\s*[\d.]+%\)\]\s+Loss: {_N} \({_N}\)\s+"
    rf"Time: {_N}s,\s*{_N}/s\s+\({_N}s,\s*{_N}/s\)\s+LR: {_N}")
_TEST = re.compile(rf"^Test\S*: \[\s*(\d+)/(\d+)\]\s+Time: {_N} \({_N}\)\s+Loss:\s*{_N} \(\s*{_N}\)"
                   rf"\s+Acc@1:\s*{_N} \(\s*{_N}\)")


def parse(line: str) -> Parsed | None:
    text = line.strip()
    m = _TRAIN.match(text)
    if m:
        epoch, idx, per_epoch = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return Parsed(epoch * per_epoch + idx + 1,
                      {"loss": float(m.group(4)), "step_time_ms": float(m.group(6)) * 1000,
                       "throughput_samples_per_sec": float(m.group(7)), "lr": float(m.group(10)),
                       "epoch": float(epoch)})
    m = _TEST.match(text)
    if m and m.group(1) == m.group(2):  # the last batch: the averages are the epoch's
        return Parsed(None, {"eval_loss": float(m.group(6)), "accuracy": float(m.group(8)) / 100},
                      eval=True)
    if m:
        return Parsed(None, {}, eval=True)  # claimed (timm's), nothing to keep yet
    return None
