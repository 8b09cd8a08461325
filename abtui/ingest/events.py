"""Raw persistence: every line an arm printed, as received, in ``events.jsonl``.

One JSON object per line: ``{"t": receive_time, "o": resume_token, "l": "the line"}``;
a line that is not valid UTF-8 is kept byte-exact as ``"b": base64`` instead of ``"l"``;
``"x": 1`` marks a line cut at the size cap. The file is append-only. A torn last line
(a crash mid-write) is detected and skipped on replay, and its line is read again from
the backend because its resume token was never recorded.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

_enc = msgspec.json.encode
_dec = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class StoredLine:
    t: float
    token: int | str | None
    raw: bytes
    truncated: bool


class EventWriter:
    """Append lines to one arm's ``events.jsonl``; flushed per batch, durable on ``sync``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._repair_torn_tail()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fh = os.fdopen(fd, "ab", buffering=1 << 16)
        self.lines_written = 0

    def _repair_torn_tail(self) -> None:
        """If the file ends without a newline, a writer died mid-line: cut that fragment."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(self.path, "rb+") as fh:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            back = min(size, 1 << 22)
            fh.seek(size - back)
            tail = fh.read(back)
            cut = tail.rfind(b"\n")
            fh.truncate(size - back + cut + 1 if cut >= 0 else size - back)

    def encode(self, raw: bytes, token: int | str | None, t: float, truncated: bool = False) -> bytes:
        try:
            body = b'"l":' + _enc(raw.decode("utf-8"))
        except UnicodeDecodeError:
            body = b'"b":"' + base64.b64encode(raw) + b'"'
        tok = _enc(token)
        extra = b',"x":1' if truncated else b""
        return b'{"t":%.6f,"o":%s,%s%s}\n' % (t, tok, body, extra)

    def write(self, raw: bytes, token: int | str | None, t: float, truncated: bool = False) -> None:
        self._fh.write(self.encode(raw, token, t, truncated))
        self.lines_written += 1

    def flush(self) -> None:
        self._fh.flush()

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        try:
            self._fh.flush()
        finally:
            self._fh.close()


def read_events(path: str | Path) -> Iterator[StoredLine]:
    """Replay an ``events.jsonl``; a torn or corrupt line is skipped, never fatal."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            if not line.endswith(b"\n"):
                return  # torn tail
            try:
                obj = _dec(line)
                raw = obj["l"].encode("utf-8") if "l" in obj else base64.b64decode(obj["b"])
                yield StoredLine(obj.get("t", 0.0), obj.get("o"), raw, bool(obj.get("x")))
            except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
                continue


def last_token(path: str | Path) -> int | str | None:
    """The resume token of the last complete line in ``path`` (reads only the tail)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    with open(path, "rb") as fh:
        back = 1 << 16
        while True:
            start = max(0, size - back)
            fh.seek(start)
            tail = fh.read(size - start)
            lines = tail.split(b"\n")
            # lines[-1] is b"" (complete) or a torn fragment; lines[0] may be partial
            for candidate in reversed(lines[1:-1] if start > 0 else lines[:-1]):
                try:
                    return _dec(candidate).get("o")
                except (msgspec.DecodeError, AttributeError):
                    continue
            if start == 0:
                return None
            back *= 4
