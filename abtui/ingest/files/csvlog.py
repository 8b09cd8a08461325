"""Following a metrics CSV that its writer appends to and sometimes rewrites.

Lightning's ``CSVLogger`` writes ``metrics.csv``: a header of every key seen so far, then
one row per ``log_metrics`` call, flushed every ``flush_logs_every_n_steps``. When a new key
appears it rewrites the whole file with the wider header (the same rows, in order), then
appends. So a row is known by its index: this follower counts the rows it has handed on
and hands on only rows past that count, whether it reads an append (from its byte
offset) or, after a truncation or a new header, the file again from the start. A row
being written (no newline yet) waits for the next poll.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass

from abtui.infra.safe_io import open_read
from abtui.ingest.files.names import MAX_NAME, canonical

MAX_READ = 4 << 20  # bytes read per poll: a huge file is caught up over several polls
MAX_HEADER = 1 << 20  # a header line longer than this is not a metrics CSV


@dataclass
class Row:
    """One data row: its index in the file (0 = the first after the header) and metrics."""

    index: int
    step: int
    values: dict[str, float]


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


class CsvLog:
    """One metrics CSV. ``rows``: data rows already handed on (a resume cursor)."""

    def __init__(self, path: str, rows: int = 0) -> None:
        self.path = path
        self.rows = rows          # rows handed on
        self._offset = 0          # bytes read through the last complete line
        self._header: bytes | None = None
        self._fields: list[str] = []
        self._in_file = 0         # data rows in the file through _offset
        self.bad_rows = 0         # rows the csv module refused (a cell over its size limit)

    def poll(self) -> list[Row]:
        """Rows written since the last poll (complete lines only)."""
        try:
            fd = open_read(self.path)  # no link, no FIFO (it would block the watcher)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            first = fh.readline(MAX_HEADER)
            if not first.endswith(b"\n"):
                return []  # no complete header yet (or a header being rewritten)
            if first != self._header or size < self._offset:  # new file, or rewritten
                self._header, self._offset, self._in_file = first, len(first), 0
                self._fields = next(csv.reader([first.decode("utf-8", "replace")]), [])
            fh.seek(self._offset)
            data = fh.read(MAX_READ)
        end = data.rfind(b"\n") + 1
        if end == 0:
            return []
        self._offset += end
        out = []
        text = data[:end].decode("utf-8", "replace").splitlines()
        for line in text:
            try:  # one row at a time: a cell over the csv module's limit spoils only its row
                cells = next(csv.reader([line]), [])
            except csv.Error:
                cells = []
                self.bad_rows += 1
            index = self._in_file
            self._in_file += 1
            if index < self.rows:
                continue  # handed on before (a rewrite repeats every row)
            row = self._row(index, cells)
            self.rows = index + 1
            if row is not None:
                out.append(row)
        return out

    def _row(self, index: int, cells: list[str]) -> Row | None:
        record = dict(zip(self._fields, cells, strict=False))
        step = _number(record.pop("step", "") or "")
        if step is None or not step.is_integer() or abs(step) >= 2**53:
            return None
        values = {}
        for key, text in record.items():
            if text and len(key) <= MAX_NAME and (v := _number(text)) is not None:
                values[key] = v
        return Row(index, int(step), canonical(values)) if values else None
