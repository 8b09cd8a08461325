"""One stable colour per arm, the same in the arms table, the chart and the GPU panel."""

from __future__ import annotations

from collections.abc import Iterable

# Distinct on dark and light backgrounds, and still distinct when a 256-colour terminal
# rounds them. The first arm (the baseline) is always blue, the second orange.
ARM_COLOURS = ("#4c9be8", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2",
               "#edc948", "#ff9da7", "#9c755f", "#bab0ac")


def arm_colours(arms: Iterable[str]) -> dict[str, str]:
    """Arm name → hex colour, in the order the arms are given (the spec's order)."""
    out: dict[str, str] = {}
    for arm in arms:
        if arm not in out:
            out[arm] = ARM_COLOURS[len(out) % len(ARM_COLOURS)]
    return out


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """``#4c9be8`` → ``(76, 155, 232)`` (plotext takes RGB tuples)."""
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
