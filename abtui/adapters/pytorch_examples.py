"""The PyTorch examples' lines (``examples/mnist``, ``word_language_model`` and the many
scripts that copied them).

- mnist: ``Train Epoch: 1 [640/60000 (1%)]\\tLoss: 2.305432`` and ``Test set: Average loss:
  0.0450, Accuracy: 9850/10000 (98%)``. No global step: lines are counted; the sample
  counter (``640/60000``) becomes ``samples_seen``, from which the report derives a
  throughput over receive times.
- word LM: ``| epoch   1 |   200/ 2983 batches | lr 20.00 | ms/batch 10.12 | loss  7.63 |
  ppl  2066.33``, ``| end of epoch   1 | time:  3.10s | valid loss  6.12 | valid ppl
  455.70`` and ``| End of training | test loss  6.05 | test ppl   424.25``.
"""

from __future__ import annotations

import re

from abtui.adapters.base import Parsed

_N = r"(-?[\d.]+(?:e[-+]?\d+)?|nan|inf)"
_TRAIN = re.compile(rf"^Train Epoch: (\d+) \[(\d+)/(\d+) \([\d.]+%\)\]\s+Loss: {_N}")
_TEST = re.compile(r"^Test set: Average loss: (-?[\d.]+), Accuracy: (\d+)/(\d+)")
_WORD = re.compile(rf"^\| epoch\s+(\d+) \|\s*(\d+)/\s*(\d+) batches \| lr {_N} \| ms/batch\s+{_N}"
                   rf" \| loss\s+{_N} \| ppl\s+{_N}")
_WORD_EVAL = re.compile(rf"^\| end of epoch\s+(\d+) \| time:\s*{_N}s \| valid loss\s+{_N} \|"
                        rf" valid ppl\s+{_N}")
_WORD_TEST = re.compile(rf"^\| End of training \| test loss\s+{_N} \| test ppl\s+{_N}")


def parse(line: str) -> Parsed | None:
    text = line.strip()
    m = _TRAIN.match(text)
    if m:
        epoch, seen, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return Parsed(None, {"loss": float(m.group(4)), "epoch": float(epoch),
                             "samples_seen": float((epoch - 1) * total + seen)})
    m = _TEST.match(text)
    if m:
        return Parsed(None, {"eval_loss": float(m.group(1)),
                             "accuracy": int(m.group(2)) / max(1, int(m.group(3)))}, eval=True)
    m = _WORD.match(text)
    if m:
        epoch, batch, per_epoch = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return Parsed((epoch - 1) * per_epoch + batch,
                      {"loss": float(m.group(6)), "ppl": float(m.group(7)), "lr": float(m.group(4)),
                       "step_time_ms": float(m.group(5)), "epoch": float(epoch)})
    m = _WORD_EVAL.match(text)
    if m:
        return Parsed(None, {"val_loss": float(m.group(3)), "val_ppl": float(m.group(4))}, eval=True)
    m = _WORD_TEST.match(text)
    if m:
        return Parsed(None, {"test_loss": float(m.group(1)), "test_ppl": float(m.group(2))},
                      eval=True)
    return None
