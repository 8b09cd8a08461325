"""What every log adapter shares: the parsed result, the line as a terminal shows it, numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# CSI (colours, cursor moves, erase), OSC (titles, links) and two-byte escapes
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
# the prefix a launcher puts before each line of each process: torchrun / accelerate
# (``[rank0]:``, ``[default0]:`` with --tee)
# (nested: ``[default1]:[rank1]: Traceback``)
_RANK_PREFIX = re.compile(r"^\[(?:rank|default)(\d+)\]:\s?")
# a progress bar drawn before a line on the same row (tqdm's ``desc: 12%|██ | 5/40
# [00:01<00:09, 3.5it/s]``): stdout and stderr share the arm's pipe, and a trainer's line
# printed while the bar is up lands right after it
_BAR_PREFIX = re.compile(r"^[^|\n]{0,120}?\d{1,3}%\|[^|]{0,200}\|\s*[\d.]+[kMG]?/[\d.?]+[kMG]?\s*"
                         r"\[[^\]]{0,200}\]\s*")


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
    """Colour codes and other escape sequences removed."""
    return _ANSI.sub("", line) if "\x1b" in line else line


def split_line(line: str) -> list[tuple[str, bool]]:
    """The texts a terminal would have drawn on this line, oldest first, each with whether
    another rank than 0 printed it.

    A ``\\r`` returns the cursor: what follows overwrites what came before. Progress bars
    (tqdm, rich, Lightning's) write many ``\\r``-separated updates and a trainer's own line
    may land after them, on the same ``\\n``-terminated line (tqdm.write clears the bar
    with ``\\r   \\r``). Escape sequences are removed, and a launcher's rank prefixes too;
    blank segments are dropped. The last segment is what a terminal shows.
    """
    if "\r" not in line and "\x1b" not in line and "%|" not in line and line[:1] != "[":
        return [(line, False)] if line.strip() else []  # most lines: as they are
    text = strip_ansi(line)
    out = []
    for part in text.split("\r") if "\r" in text else [text]:
        other = False
        while (m := _RANK_PREFIX.match(part)) is not None:
            other = other or m.group(1) != "0"
            part = part[m.end():]
        while "%|" in part and (bar := _BAR_PREFIX.match(part)) is not None \
                and part[bar.end():].strip():
            part = part[bar.end():]  # the bar, then a line of its own: the line
        if part.strip():
            out.append((part, other))
    return out


def segments(line: str, rank0: bool = False) -> list[str]:
    """``split_line``'s texts; ``rank0``: without those another rank printed (metrics are
    rank 0's: every rank of a data-parallel job may print the same steps)."""
    return [t for t, other in split_line(line) if not (rank0 and other)]


def terminal_text(line: str) -> str:
    """The line as a terminal shows it: the text after the last ``\\r`` (unless blank),
    without escape sequences or a launcher's rank prefix."""
    parts = split_line(line)
    return parts[-1][0] if parts else ""


def number(text: str) -> float:
    """``1,234`` / ``4.95e-05`` / ``12.34`` as a float (thousands separators allowed)."""
    return float(text.replace(",", ""))
