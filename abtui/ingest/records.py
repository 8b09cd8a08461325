"""The typed records ingest makes of an arm's lines (see :mod:`abtui.ingest.decode`)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class MetricRecord:
    step: int
    values: dict[str, float]


@dataclass(slots=True)
class EnvRecord:
    data: dict[str, Any]


@dataclass(slots=True)
class FinalRecord:
    data: dict[str, Any]


@dataclass(slots=True)
class EventRecord:
    """Any other ``{"event": ...}`` record (warnings the runner chose to structure)."""

    name: str
    data: dict[str, Any]


@dataclass(slots=True)
class TextRecord:
    """A plain log line (not a JSON object), shown in the log pane."""

    text: str


Record = MetricRecord | EnvRecord | FinalRecord | EventRecord | TextRecord


@dataclass(slots=True)
class MetricBlock:
    """Consecutive plain metric lines, decoded column-wise by :meth:`Decoder.decode_many`:
    columns ready for the store.

    ``steps`` and each column are ``array('d')`` s, one entry per line; a line that lacks a
    metric holds ``MISSING`` (a NaN: JSON cannot carry one, so it is never a real value)
    there, and ``missing`` counts them per column.
    """

    steps: array
    columns: list[tuple[str, array]]
    missing: list[int]
    last_step: int  # exact (``steps`` are doubles)


#: Stands for "this line has no such metric" in a decoded column. A NaN object (JSON
#: cannot carry NaN, so it is never a real value) found by identity: ``col.count(MISSING)``
#: compares floats with floats, several times faster than looking for ``None``.
MISSING = float("nan")
