"""Following a TensorBoard event file (``events.out.tfevents.*``) as its writer appends.

The file is TFRecord framing around serialised ``Event`` protocol buffers::

    uint64 length | uint32 masked CRC-32C of length | data | uint32 masked CRC-32C of data

Written by hand, with a reason: reading scalars needs five protobuf fields and a CRC-32C,
while the libraries that do it (``tensorboard``, ``tensorflow``, ``protobuf``) are hundreds
of megabytes abtui does not otherwise need, and their readers do not resume from a byte
offset. A record whose bytes are not all there yet waits for the next poll; a length whose
CRC fails means the file is not what it claims and is followed no further; a record whose
data CRC fails is skipped and counted.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import Any

from crc32c import crc32c as _crc32c

from abtui.infra.safe_io import open_read
from abtui.ingest.files.names import MAX_NAME

MAX_RECORD = 16 << 20
MAX_READ = 4 << 20
_HEAD = struct.Struct("<QI")
_U32 = struct.Struct("<I")


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, in C (the ``crc32c`` package: hardware
    instructions where the CPU has them); a pure-Python loop read 8 MB/s."""
    return int(_crc32c(data))


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[i]
        i += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value: an int for varints, else bytes) of one protobuf
    message (values not interpreted)."""
    out: list[tuple[int, int, Any]] = []
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, wire, value))
        elif wire == 1:
            out.append((number, wire, buf[i:i + 8]))
            i += 8
        elif wire == 2:
            length, i = _varint(buf, i)
            out.append((number, wire, buf[i:i + length]))
            i += length
        elif wire == 5:
            out.append((number, wire, buf[i:i + 4]))
            i += 4
        else:
            raise ValueError(f"wire type {wire}")
        if i > n:
            raise ValueError("truncated field")
    return out


@dataclass
class Scalar:
    step: int
    wall_time: float
    tag: str
    value: float


def _tensor_value(buf: bytes) -> float | None:
    """A scalar TensorProto (``add_scalar(new_style=True)``): float_val (5) or double_val (6)."""
    for number, wire, v in _fields(buf):
        if number == 5 and wire == 5:
            return float(struct.unpack("<f", v)[0])
        if number == 5 and wire == 2 and len(v) >= 4:
            return float(struct.unpack_from("<f", v)[0])
        if number == 6 and wire == 1:
            return float(struct.unpack("<d", v)[0])
        if number == 6 and wire == 2 and len(v) >= 8:
            return float(struct.unpack_from("<d", v)[0])
    return None


def parse_event(data: bytes) -> list[Scalar]:
    """The scalars in one serialised ``Event`` (wall_time 1, step 2, summary 5)."""
    wall, step, summary = 0.0, 0, None
    for number, wire, v in _fields(data):
        if number == 1 and wire == 1:
            wall = struct.unpack("<d", v)[0]
        elif number == 2 and wire == 0:
            step = v - (1 << 64) if v >= 1 << 63 else v
        elif number == 5 and wire == 2:
            summary = v
    out: list[Scalar] = []
    if summary is None:
        return out
    for number, wire, value in _fields(summary):
        if number != 1 or wire != 2:
            continue
        tag, scalar = "", None
        for n2, w2, v2 in _fields(value):
            if n2 == 1 and w2 == 2:
                tag = v2.decode("utf-8", "replace")
            elif n2 == 2 and w2 == 5:
                scalar = float(struct.unpack("<f", v2)[0])
            elif n2 == 8 and w2 == 2:
                scalar = _tensor_value(v2)
        if tag and len(tag) <= MAX_NAME and scalar is not None and math.isfinite(scalar):
            out.append(Scalar(int(step), float(wall), tag, scalar))
    return out


class EventFile:
    """One event file, followed from byte ``offset`` (a resume cursor)."""

    def __init__(self, path: str, offset: int = 0) -> None:
        self.path = path
        self.offset = offset
        self.corrupt = False
        self.bad_records = 0
        self.oversized = 0  # records over MAX_RECORD, skipped
        self._want = 0  # bytes the next read needs for a record larger than MAX_READ

    def poll(self) -> list[tuple[int, list[Scalar]]]:
        """(offset after the record, its scalars) for each complete record since the last poll.

        A record larger than ``MAX_RECORD`` (an image or a histogram) is skipped whole and
        counted in ``oversized``; one larger than a read is read whole on the next poll."""
        if self.corrupt:
            return []
        try:
            fd = open_read(self.path)  # no link, no FIFO (it would block the watcher)
        except OSError:
            return []
        with os.fdopen(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(self.offset)
            data = fh.read(max(MAX_READ, self._want))
        self._want = 0
        out: list[tuple[int, list[Scalar]]] = []
        i = 0
        while len(data) - i >= _HEAD.size:
            length, head_crc = _HEAD.unpack_from(data, i)
            if masked_crc(data[i:i + 8]) != head_crc:
                self.corrupt = True  # not TFRecord framing (or a foreign file): stop here
                break
            end = i + _HEAD.size + length + 4
            if length > MAX_RECORD:
                if self.offset + end > size:
                    break  # not all written yet
                i = end  # never held in memory: skipped, counted
                self.oversized += 1
                out.append((self.offset + i, []))
                continue
            if end > len(data):
                if self.offset + end <= size:
                    self._want = end  # complete on disk: read it whole next time
                break  # torn tail: the rest of the record comes later
            body = data[i + _HEAD.size:end - 4]
            i = end
            if masked_crc(body) != _U32.unpack_from(data, end - 4)[0]:
                self.bad_records += 1
                out.append((self.offset + i, []))
                continue
            try:
                scalars = parse_event(body)
            except (ValueError, struct.error, IndexError, OverflowError):
                self.bad_records += 1
                scalars = []
            out.append((self.offset + i, scalars))
        self.offset += i
        return out
