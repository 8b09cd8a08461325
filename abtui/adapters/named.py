"""The fallback: ``name: number`` pairs on any line that names a loss.

What hand-written loops print: ``epoch 1 step 20 loss 2.31``, ``loss: 2.31, acc=0.61``,
``| step 100 | loss 2.31 | lr 3e-4 |``, ``Step [20/100], Loss: 2.3100``, a tqdm bar with
``set_postfix(loss=2.31)``. A line is claimed only when it names a loss (a number without
a loss is too weak a sign of a metric line); a counter named step, iter, iteration, batch
or global_step (or a tqdm bar's ``n/total``) gives the step, else lines are counted.
Auto-detection tries every specific adapter first and says when it fell back to this one.

Lightning's progress bar is left to Lightning's logger files (abtui points them at the arm's
output directory, where they carry the same values at their true steps): reading both would
store each value twice.
"""

from __future__ import annotations

import re

from abtui.adapters.base import Parsed
from abtui.infra.metric_names import ACCURACY, LOSS, LR, TEXT, renames

_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# ``name: 1.2`` / ``name=1.2`` / ``name 1.2`` (a word, then a number that ends there)
_PAIR = re.compile(rf"(?<![\w./])([A-Za-z][\w./@-]{{0,47}}?)\s*(:|=|\s)\s*({_NUM})"
                   rf"(?:\s*/\s*(\d+))?(ms|s|%)?(?![\w.])")
_COUNTERS = ("step", "global_step", "iter", "iteration", "it", "batch", "steps", "iters")
# ``Step [20/100]``, ``iter 20/100``: a counter with its total
_FRACTION = re.compile(r"\b(?:step|iter|iteration|batch)\s*[\[(]?\s*(\d+)\s*/\s*\d+", re.I)
_BAR = re.compile(r"\|\s*(\d+)/(\d+|\?)\s*\[")
_LIGHTNING_BAR = re.compile(r"^\s*(?:Epoch \d+|Validation|Sanity Checking|Testing)\b.*v_num=")
_EPOCH = re.compile(r"^\s*Epoch\s+(\d+)\s*:")
_TIMES = ("time", "dt", "step_time", "iter_time", "batch_time", "time_per_step")
_RATES = re.compile(r"^(?:tok(?:ens)?|samples?|img|images|seq|sequences|examples)(?:/s|/sec|_per_sec"
                    r"|_per_second|ps|_s)$|^throughput$")
# abtui's names, and other tools' for them (the one alias table: abtui.infra.metric_names)
KNOWN = {LOSS: LOSS, ACCURACY: ACCURACY, LR: LR, **renames(TEXT)}


def parse(line: str) -> Parsed | None:
    if "loss" not in line.lower() or len(line) > 4096 or _LIGHTNING_BAR.match(line):
        return None
    values: dict[str, float] = {}
    step: int | None = None
    named_loss = False
    for name, sep, num, total, unit in _PAIR.findall(line):
        key = name.lower().rstrip(".:")
        if sep.isspace() and not (key in _COUNTERS or "loss" in key or key in KNOWN
                                  or key in _TIMES or _RATES.match(key)
                                  or key in ("epoch", "ppl", "perplexity")):
            continue  # ``word 12`` in prose: only well-known names count without : or =
        try:
            v = float(num)
        except ValueError:
            continue
        if key in _COUNTERS and step is None and v.is_integer() and unit == "":
            step = int(v)
            continue
        if total and key != "epoch":
            continue  # ``x 3/10``: a counter of something else
        if key in _TIMES and unit in ("ms", "s"):
            values.setdefault("step_time_ms", v if unit == "ms" else v * 1000)
            continue
        if _RATES.match(key):
            values.setdefault("throughput_samples_per_sec", v)
            continue
        canon = KNOWN.get(key, key)
        if canon == "accuracy" and unit == "%":
            v /= 100
        named_loss = named_loss or "loss" in key
        values.setdefault(canon, v)
    if not named_loss:
        return None
    if step is None and (frac := _FRACTION.search(line)) is not None:
        step = int(frac.group(1))
    if step is None and (bar := _BAR.search(line)) is not None:
        step = int(bar.group(1))
        epoch = _EPOCH.match(line)
        if epoch and bar.group(2) != "?":
            step += int(epoch.group(1)) * int(bar.group(2))
    is_eval = "loss" not in values and any(
        k.startswith(("val", "eval", "test", "valid")) for k in values)
    return Parsed(None if is_eval else step, values, eval=is_eval)
