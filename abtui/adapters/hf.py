"""Hugging Face ``Trainer`` log lines: Python dict literals printed by its default callback.

``{'loss': 2.3051, 'grad_norm': 1.87, 'learning_rate': 4.95e-05, 'epoch': 0.02}`` (train),
``{'eval_loss': 2.1, 'eval_accuracy': 0.61, 'eval_runtime': 1.2, 'eval_samples_per_second':
80.0, 'eval_steps_per_second': 10.0, 'epoch': 1.0}`` (eval) and ``{'train_runtime': 12.3,
'train_samples_per_second': 40.1, 'train_steps_per_second': 5.0, 'train_loss': 2.2,
'epoch': 3.0}`` (the end). Parsed with ``ast.literal_eval``, never ``eval``; values may be
numbers or numeric strings (newer versions print ``'grad_norm': '1.87'``).
"""

from __future__ import annotations

import ast
import re

from abtui.adapters.base import Parsed
from abtui.infra.metric_names import HF_TEXT, renames

RENAME = renames(HF_TEXT)  # the one alias table: abtui.infra.metric_names
MAX_LEN = 4096
# The usual line, ``'name': number`` pairs only, read without building a syntax tree (about
# 10x cheaper than literal_eval); anything else (strings, nesting, odd spacing) goes through
# literal_eval. A number as Python's repr prints it, optionally quoted as newer versions do.
_NUM = r"-?(?:\d+(?:\.\d*)?(?:e[-+]?\d+)?|inf|nan)"
_PAIR = rf"'([A-Za-z0-9_./-]+)': (?:({_NUM})|'({_NUM})')"
_PLAIN = re.compile(rf"\{{{_PAIR}(?:, {_PAIR})*\}}")
_PAIRS = re.compile(_PAIR)


def _numbers(obj: dict[object, object]) -> dict[str, float]:
    out = {}
    for k, v in obj.items():
        if not isinstance(k, str) or isinstance(v, bool):
            continue
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                continue
        if isinstance(v, (int, float)):
            out[RENAME.get(k, k)] = float(v)
    return out


def parse(line: str) -> Parsed | None:
    text = line.strip()
    if not (text.startswith("{'") and text.endswith("}")) or len(text) > MAX_LEN:
        return None
    if _PLAIN.fullmatch(text):
        values = {RENAME.get(k, k): float(v or q) for k, v, q in _PAIRS.findall(text)}
    else:
        try:
            obj = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
        if not isinstance(obj, dict):
            return None
        values = _numbers(obj)
    if not values:
        return None
    if "train_runtime" in values:
        final = {"wall_time_s": values["train_runtime"]}
        if "train_samples_per_second" in values:
            final["throughput_samples_per_sec"] = values["train_samples_per_second"]
            final["samples"] = values["train_samples_per_second"] * values["train_runtime"]
        if "train_loss" in values:
            final["final_loss"] = values["train_loss"]
        return Parsed(None, final, final=True)
    if any(k.startswith("eval_") for k in values) or "accuracy" in values:
        return Parsed(None, values, eval=True)
    if "loss" not in values:
        return None
    return Parsed(None, values)
