"""The nanoGPT family's log lines, as their print statements write them.

- nanoGPT: ``iter 10: loss 4.2345, time 123.45ms, mfu 12.34%`` (``mfu -100.00%`` in the
  first iterations means "not measured yet") and ``step 2000: train loss 1.0234, val loss
  1.2345``; ``tokens per iteration will be: 16,384`` at the start (the work per step);
- nanochat: ``step 00100/21400 (0.47%) | loss: 3.456789 | lrm: 1.00 | dt: 523.45ms |
  tok/sec: 524,288 | mfu: 45.12 | total time: 1.23m``;
- modded-nanogpt: ``step:125/1750 val_loss:4.1234 train_time:30000ms step_avg:240.00ms``
  (and the same with ``train_loss:``, or without a loss).

Throughput in tokens per second is mapped to ``throughput_samples_per_sec`` (the ratio
between arms is what the verdict uses; the unit is the trainer's).
"""

from __future__ import annotations

import re

from abtui.adapters.base import Parsed, number, strip_ansi

_ITER = re.compile(r"^iter (\d+): loss (-?[\d.]+(?:e-?\d+)?), time ([\d.]+)ms(?:, mfu (-?[\d.]+)%)?")
_EVAL = re.compile(r"^step (\d+): train loss (-?[\d.]+), val loss (-?[\d.]+)")
_TOKENS = re.compile(r"^tokens per iteration will be: ([\d,]+)$")
_CHAT = re.compile(r"^step (\d+)(?:/\d+)?(?: \([\d.]+%\))? \|(.*)$")
_MODDED = re.compile(r"^step:(\d+)/\d+((?: \w+:[-\d.]+(?:ms)?)+)\s*$")


def parse_nanogpt(line: str) -> Parsed | None:
    text = strip_ansi(line).strip()
    m = _ITER.match(text)
    if m:
        values = {"loss": float(m.group(2)), "step_time_ms": float(m.group(3))}
        if m.group(4) is not None and float(m.group(4)) > -100:  # -100: not measured yet
            values["mfu"] = float(m.group(4))
        return Parsed(int(m.group(1)), values)
    m = _EVAL.match(text)
    if m:
        return Parsed(int(m.group(1)), {"train_loss_eval": float(m.group(2)),
                                        "val_loss": float(m.group(3))}, eval=True)
    m = _TOKENS.match(text)
    if m:  # the work of one iteration: with its ms per iteration, a throughput in tokens/s
        return Parsed(None, {"tokens_per_step": number(m.group(1))}, final=True)
    return None


_CHAT_NAMES = {"loss": "loss", "lrm": "lrm", "dt": "step_time_ms", "tok/sec": "throughput_samples_per_sec",
               "mfu": "mfu"}


def parse_nanochat(line: str) -> Parsed | None:
    text = strip_ansi(line).strip()
    m = _CHAT.match(text)
    if not m:
        return None
    values = {}
    for part in m.group(2).split("|"):
        key, sep, val = part.strip().partition(":")
        name = _CHAT_NAMES.get(key.strip())
        if not sep or name is None:
            continue
        val = val.strip().removesuffix("ms").strip()
        try:
            values[name] = number(val)
        except ValueError:
            continue
    return Parsed(int(m.group(1)), values) if "loss" in values else None


def parse_modded(line: str) -> Parsed | None:
    text = strip_ansi(line).strip()
    m = _MODDED.match(text)
    if not m:
        return None
    values = {}
    for part in m.group(2).split():
        key, _, val = part.partition(":")
        ms = val.endswith("ms")
        try:
            v = float(val.removesuffix("ms"))
        except ValueError:
            continue
        if key == "step_avg":
            values["step_time_ms"] = v
        elif key == "train_time":
            values["train_time_ms" if ms else "train_time"] = v
        else:
            values[key] = v
    is_eval = "val_loss" in values and "train_loss" not in values
    return Parsed(int(m.group(1)), values, eval=is_eval) if values else None
