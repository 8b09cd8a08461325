"""The typed records ingest makes of an arm's lines (see :mod:`abtui.ingest.decode`)."""

from __future__ import annotations

from collections.abc import Sequence
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
    """Consecutive plain metric lines, decoded column-wise by :meth:`Decoder.decode_many`.

    ``columns`` holds one value per line for each metric, ``MISSING`` where a line lacks it.
    From the C scanner (``abtui.ingest.scan``) steps are an ``array('d')``, each column the
    bytes of its doubles (no copy on the way to the store), a missing value is a NaN, and
    ``missing`` counts them per column.
    """

    steps: Sequence[int] | Sequence[float]
    columns: list[tuple[str, Sequence[float] | bytes]]
    missing: Sequence[int] | None = None
    last_step: int | None = None  # exact, where ``steps`` are doubles


#: Stands for "this line has no such metric" in a MetricBlock column. A NaN object (JSON
#: cannot carry NaN, so it is never a real value) found by identity: ``col.count(MISSING)``
#: compares floats with floats, several times faster than looking for ``None``.
MISSING = float("nan")
