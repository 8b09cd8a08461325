"""Raw persistence: every line an arm printed, as received, in ``events.jsonl``.

One JSON object per line: ``{"t": receive_time, "o": resume_token, "l": "the line"}``;
a line that is not valid UTF-8 is kept byte-exact as ``"b": base64`` instead of ``"l"``;
``"x": 1`` marks a line cut at the size cap. The file is append-only. A torn last line
(a crash mid-write) is detected and skipped on replay, and its line is read again from
the backend because its resume token was never recorded.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec

from abtui.infra.safe_io import open_append, open_read

_enc = msgspec.json.encode
_enc_lines = msgspec.json.Encoder().encode_lines
_dec = msgspec.json.Decoder().decode
_UNSET = msgspec.UNSET
BATCH_BYTES = 1 << 20  # read_event_batches reads about this much per batch


class _Out(msgspec.Struct, gc=False):
    """One events.jsonl line as write() formats it (``t`` preformatted as ``%.6f``)."""

    t: msgspec.Raw
    o: Any
    l: str  # noqa: E741 - the file format's key


class _In(msgspec.Struct, gc=False):
    """The usual events.jsonl line; anything else is read by the general code."""

    t: float | int = 0.0
    o: Any = None
    l: str | msgspec.UnsetType = msgspec.UNSET  # noqa: E741
    x: Any = None


_dec_in = msgspec.json.Decoder(_In).decode
_dec_lines_in = msgspec.json.Decoder(_In).decode_lines
_get_t, _get_o, _get_l, _get_x = (attrgetter(name) for name in "tolx")


@dataclass(frozen=True, slots=True)
class StoredLine:
    t: float
    token: int | str | None
    raw: bytes
    truncated: bool


@dataclass(slots=True)
class EventBatch:
    """Consecutive stored lines as columns (what ``RunState.ingest_many`` takes)."""

    raws: list[bytes]
    times: Sequence[float]
    tokens: list[int | str | None]
    truncated: list[bool] | None  # None: no line of the batch was cut
    end: int = 0  # the byte offset just after the batch's last line


class EventWriter:
    """Append lines to one arm's ``events.jsonl``; flushed per batch, durable on ``sync``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._repair_torn_tail()
        fd = open_append(self.path)  # never through a link planted in the run directory
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
        with open(os.open(self.path, os.O_RDWR | os.O_NOFOLLOW), "rb+") as fh:
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            # back to the last newline in 4 MiB steps, however long the fragment (cutting
            # only the last 4 MiB of a longer one left it torn, and the next line lost)
            end, keep = size, 0
            while end > 0:
                start = max(0, end - (1 << 22))
                fh.seek(start)
                cut = fh.read(end - start).rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
                end = start
            fh.truncate(keep)

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

    def write_many(self, raws: Sequence[bytes], tokens: Sequence[int | str | None], t: float,
                   truncated: Sequence[bool] | None = None) -> None:
        """Append a batch received at time ``t``: the same bytes as ``write`` line by line.

        One UTF-8 check and one msgspec call for the batch; a batch with a line that is cut,
        not UTF-8 or holds a newline is written line by line.
        """
        n = len(raws)
        strs = None
        whole = n and not (truncated and any(truncated))  # no line cut: one call for all
        if whole:
            # "\n" cannot occur inside a multi-byte sequence: valid joined, valid each
            with contextlib.suppress(UnicodeDecodeError):
                strs = b"\n".join(raws).decode("utf-8").split("\n")
        if strs is None or len(strs) != n:
            for i, raw in enumerate(raws):
                self.write(raw, tokens[i], t, bool(truncated[i]) if truncated else False)
            return
        stamp = msgspec.Raw(b"%.6f" % t)
        self._fh.write(_enc_lines(list(map(_Out, repeat(stamp, n), tokens, strs))))
        self.lines_written += n

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
    for batch in read_event_batches(path):
        truncated = batch.truncated or repeat(False)
        yield from map(StoredLine, batch.times, batch.tokens, batch.raws, truncated)


def read_event_batches(path: str | Path, batch_bytes: int = BATCH_BYTES, offset: int = 0,
                       stop: int | None = None) -> Iterator[EventBatch]:
    """``read_events`` in column batches of about ``batch_bytes`` each (the same lines).

    ``offset``: start at this byte (the start of a line, e.g. where a store snapshot ends).
    ``stop``: only the complete lines that end at or before this byte.
    """
    try:
        fh = open(open_read(path), "rb")
    except OSError:  # missing, or a link / FIFO planted in its place: nothing of ours to read
        return
    with fh:
        if offset:
            fh.seek(offset)
        pos, rest = offset, b""
        while True:
            want = batch_bytes if stop is None else min(batch_bytes, stop - pos - len(rest))
            chunk = fh.read(want) if want > 0 else b""
            buf = rest + chunk if rest else chunk
            cut = buf.rfind(b"\n") + 1  # the complete lines; what follows is torn or unread
            if not cut:
                if chunk and len(buf) < (1 << 30):  # a line longer than a batch: read on
                    rest = buf
                    continue
                return  # the end: nothing, or a torn last line (skipped)
            rest = buf[cut:]
            batch = _batch_buffer(memoryview(buf)[:cut])
            pos += cut
            batch.end = pos
            if batch.raws:
                yield batch


def _batch_buffer(buf: memoryview) -> EventBatch:
    """The complete lines of ``buf`` as a batch: one msgspec call for all of them (about
    twice as fast as splitting the lines and a call a line); a buffer with a line that
    call refuses is read line by line."""
    try:
        return _columns(_dec_lines_in(buf))
    except (msgspec.DecodeError, TypeError, ValueError):  # ValueError: a lone surrogate
        return _batch(bytes(buf).split(b"\n")[:-1])  # buf ends with its last line's newline


def _batch(lines: list[bytes]) -> EventBatch:
    try:
        return _columns(list(map(_dec_in, lines)))
    except (msgspec.DecodeError, TypeError, ValueError):  # ValueError: a lone surrogate
        return _batch_general(lines)


def _columns(stored: list[_In]) -> EventBatch:
    """Decoded lines as a batch; TypeError for a line without "l" (a base64 one)."""
    raws = list(map(str.encode, map(_get_l, stored)))
    x = list(map(_get_x, stored))
    truncated = None if x.count(None) == len(x) else [bool(v) for v in x]
    return EventBatch(raws, list(map(_get_t, stored)), list(map(_get_o, stored)), truncated)


def _batch_general(lines: list[bytes]) -> EventBatch:
    """Line by line, for batches with base64 lines or lines the fast decoder refuses."""
    raws: list[bytes] = []
    times: list[float] = []
    tokens: list[int | str | None] = []
    truncated: list[bool] = []
    for line in lines:
        try:
            obj = _dec(line)
            raw = obj["l"].encode("utf-8") if "l" in obj else base64.b64decode(obj["b"])
            t, token, cut = obj.get("t", 0.0), obj.get("o"), bool(obj.get("x"))
        except (msgspec.DecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue
        raws.append(raw)
        times.append(t)
        tokens.append(token)
        truncated.append(cut)
    return EventBatch(raws, times, tokens, truncated)


def last_token(path: str | Path) -> int | str | None:
    """The resume token of the last complete line in ``path`` (reads only the tail)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return None
    try:
        fh = open(open_read(path), "rb")
    except OSError:
        return None
    with fh:
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
