"""A grid of arms from one spec: ``grid:`` (every combination of the values) and ``zip:``
(values taken together), each point an arm named from its values.

Expanded before validation (``ExperimentSpec``'s ``_grid``), so everything after it sees
plain arms: the treatment is the grid's keys, and any other difference is a confound as for
two hand-written arms.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_POINTS = 256


def _nested(key: str, value: Any) -> dict[str, Any]:
    """``optim.lr`` -> ``{"optim": {"lr": value}}`` (a dotted key is a nested config key)."""
    out: dict[str, Any] = {}
    cur = out
    parts = key.split(".")
    for p in parts[:-1]:
        cur = cur.setdefault(p, {})
    cur[parts[-1]] = value
    return out


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def point_name(point: dict[str, Any]) -> str:
    """``{"lr": 3e-4, "optimizer": "adam"}`` -> ``lr-0.0003_optimizer-adam`` (the characters
    a run id may hold; the values in full in the arm's config)."""
    words = [f"{k.rsplit('.', 1)[-1]}-{v}" for k, v in point.items()]
    name = _UNSAFE.sub("", "_".join(words)).strip("-._")
    return name[:120] or "point"


def expand(data: dict[str, Any]) -> dict[str, Any]:
    """The spec data with ``grid`` / ``zip`` turned into ``arms`` (ValueError on a bad grid)."""
    grid, zipped = data.get("grid"), data.get("zip")
    if grid is None and zipped is None:
        return data
    if data.get("arms"):
        raise ValueError("grid / zip make the arms: give them or arms, not both")
    axes: list[list[dict[str, Any]]] = []
    for what, table in (("grid", grid), ("zip", zipped)):
        if table is None:
            continue
        if not isinstance(table, dict) or not table:
            raise ValueError(f"{what}: a mapping of config keys to lists of values")
        for key, values in table.items():
            if not isinstance(values, list) or not values:
                raise ValueError(f"{what}.{key}: a non-empty list of values")
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"{what}.{key}: a value is listed twice")
        if what == "grid":
            axes += [[{k: v} for v in vals] for k, vals in table.items()]
        else:
            lengths = {len(v) for v in table.values()}
            if len(lengths) != 1:
                raise ValueError("zip: every key needs as many values (they are taken together)")
            n = lengths.pop()
            axes.append([{k: vals[i] for k, vals in table.items()} for i in range(n)])
    points = [{k: v for part in combo for k, v in part.items()}
              for combo in itertools.product(*axes)]
    if len(points) < 2:
        raise ValueError("grid / zip give fewer than two arms: nothing to compare")
    if len(points) > MAX_POINTS:
        raise ValueError(f"grid / zip give {len(points)} arms; at most {MAX_POINTS}")
    arms: dict[str, Any] = {}
    for point in points:
        name = point_name(point)
        if name in arms:
            raise ValueError(f"two grid points are both named {name!r}: make the values differ "
                             "in their letters and digits")
        config: dict[str, Any] = {}
        for k, v in point.items():
            config = _merge(config, _nested(k, v))
        arms[name] = {"config": config}
    out = {k: v for k, v in data.items() if k not in ("grid", "zip")}
    out["arms"] = arms
    keys = [k for table in (grid, zipped) if table for k in table]
    out.setdefault("treatment", [k.split(".")[0] for k in keys])
    out["grid_keys"] = keys
    return out
