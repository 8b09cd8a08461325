"""What every log adapter shares: the parsed result, ANSI stripping, number parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")


@dataclass
class Parsed:
    """One line read as metrics. ``step`` None: the adapter counts lines. ``final``: the
    run's totals (the final record), not a metric record. ``eval``: an evaluation line (its
    step is the last training step, not a new one)."""

    step: int | None
    values: dict[str, float] = field(default_factory=dict)
    final: bool = False
    eval: bool = False


def strip_ansi(line: str) -> str:
    """Colour codes removed (torchtitan and rich loggers colour their lines)."""
    return _ANSI.sub("", line) if "\x1b" in line else line


def number(text: str) -> float:
    """``1,234`` / ``4.95e-05`` / ``12.34`` as a float (thousands separators allowed)."""
    return float(text.replace(",", ""))
