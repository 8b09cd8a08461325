"""Byte chunks -> complete lines. Chunks are not line-aligned; lines can be huge or garbage."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from operator import add

MAX_LINE = 1 << 20  # 1 MiB: longer lines are cut (and flagged) so memory stays bounded


class LineAssembler:
    """Feed arbitrary chunks, get complete lines (without ``\\n``; a trailing ``\\r`` is dropped).

    ``offset`` counts the bytes consumed through the last complete line, so a reader
    can resume a file exactly after the last line it has handed on.
    """

    def __init__(self, max_line: int = MAX_LINE, offset: int = 0) -> None:
        self.max_line = max_line
        self.offset = offset
        self.truncated_lines = 0
        self._buf = bytearray()
        self._held = 0  # bytes received for the incomplete line, dropped ones included

    @property
    def pending(self) -> int:
        """Bytes received for an incomplete line."""
        return self._held

    def iter_lines(self, data: bytes) -> Iterator[tuple[bytes, int, bool]]:
        """Yield ``(line, offset_after_line, truncated)`` for each line ``data`` completes."""
        start, n, cap = 0, len(data), self.max_line
        while start < n:
            nl = data.find(b"\n", start)
            if nl < 0:
                rest = data[start:]
                room = cap + 1 - len(self._buf)
                if room > 0:
                    self._buf += rest[:room]
                self._held += len(rest)
                return
            if self._held:
                room = cap + 1 - len(self._buf)
                if room > 0:
                    self._buf += data[start : min(nl, start + room)]
                whole = self._held + nl - start
                line = bytes(self._buf)
                self._buf.clear()
                self._held = 0
            else:
                whole = nl - start
                line = data[start:nl] if whole <= cap else data[start : start + cap + 1]
            self.offset += whole + 1
            start = nl + 1
            truncated = whole > cap
            if truncated:
                line = line[:cap]
                self.truncated_lines += 1
            elif line.endswith(b"\r"):
                line = line[:-1]
            yield line, self.offset, truncated

    def split_batch(self, data: bytes) -> tuple[list[bytes], list[int], list[bool] | None]:
        """The lines ``data`` completes as columns: ``(lines, offsets_after, truncated)``.

        The same lines, offsets and state as :meth:`iter_lines`; ``truncated`` is None when
        no line was cut. Splits in C (``bytes.split``) unless a line can exceed the cap.
        """
        held, cap = self._held, self.max_line
        if held + len(data) > cap:  # a line may be cut: the general path knows how
            got = list(self.iter_lines(data))
            cuts = [g[2] for g in got]
            return [g[0] for g in got], [g[1] for g in got], cuts if any(cuts) else None
        lines = data.split(b"\n")
        rest = lines.pop()
        if lines:
            if held:  # held <= cap: the buffer holds every byte of the first line
                lines[0] = bytes(self._buf) + lines[0]
                self._buf.clear()
            # offset after line i: offset + sum of the lengths through i, plus i + 1 newlines
            ends = list(map(add, accumulate(map(len, lines), initial=self.offset),
                            range(len(lines) + 1)))
            del ends[0]
            self.offset = ends[-1]
            if b"\r" in data or (held and lines[0].endswith(b"\r")):
                lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
            held = 0
        else:
            ends = []
        if rest:
            self._buf += rest  # fits: held + len(data) <= cap
            held += len(rest)
        self._held = held
        return lines, ends, None

    def feed(self, data: bytes) -> list[bytes]:
        """The lines completed by ``data``."""
        return [line for line, _, _ in self.iter_lines(data)]

    def flush(self) -> bytes | None:
        """The final unterminated line at end of stream, if any (consumes it)."""
        if not self._held:
            return None
        line = bytes(self._buf[: self.max_line])
        if self._held > self.max_line:
            self.truncated_lines += 1
        self.offset += self._held
        self._buf.clear()
        self._held = 0
        return line
