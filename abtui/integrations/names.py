"""A framework's metric names as abtui names them (what the callbacks write)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from abtui.infra.metric_names import CALLBACKS, renames

RENAME = renames(CALLBACKS)  # the one alias table: abtui.infra.metric_names


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of ``values`` (tensors with one element included), renamed."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if hasattr(value, "item") and callable(value.item):
            try:
                value = value.item()
            except (ValueError, RuntimeError):  # a tensor of more than one element
                continue
        if isinstance(value, str):  # some versions hand on numbers formatted as text
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if math.isfinite(value):
            out[RENAME.get(str(key), str(key))] = float(value)
    return out
