"""Batches of lines through the C scanner (``abtui._speedups.scan``) into metric blocks.

The scanner reads plain metric lines of the decoder's learned shape straight into columns
of doubles and stops at the first line it does not take; that line goes through the
decoder's general path (which may learn a wider shape), and scanning goes on after it.
The result is what :meth:`Decoder.decode_many` gives on the pure-Python path: the same
records, oddities and ``last_step``.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from abtui import speedups
from abtui.ingest.records import MetricBlock, Record

if TYPE_CHECKING:
    from abtui.ingest.decode import Decoder

_decode = msgspec.json.Decoder().decode


def decode_scanned(decoder: Decoder, raws: Sequence[bytes], joined: bytes | None = None
                   ) -> list[tuple[int, Record | MetricBlock]] | None:
    """``decoder.decode_many(raws)`` by the C scanner; None when it cannot be used here
    (no scanner, or a line holds a newline, so the joined buffer would not line up)."""
    c = speedups.native
    if c is None:
        return None
    n = len(raws)
    buf = b"\n".join(raws) if joined is None else joined
    if c.newlines(buf) != n - 1 or (
            joined is not None and len(buf) != sum(map(len, raws)) + n - 1):
        return None
    scan = c.scan
    out: list[tuple[int, Record | MetricBlock]] = []
    i = pos = 0
    while i < n:
        shape = decoder._shape
        if shape is not None:
            stop, k, first, last, increasing, steps, cols, missing = scan(
                buf, pos, shape.keys, shape.codes, n - i)
            if k:
                out.append((i, _block(decoder, shape, raws, i, k, first, last, increasing,
                                      steps, cols, missing)))
                i += k
                pos = stop
                if i >= n:
                    break
        raw = raws[i]  # a line the scanner does not take: the general path decides
        out.append((i, decoder._decode_slow(raw, False)))
        pos += len(raw) + 1
        i += 1
    return out


def _block(decoder: Decoder, shape: Any, raws: Sequence[bytes], start: int, k: int, first: int,
           last: int, increasing: bool, steps: bytes, cols: list[bytes],
           missing: tuple[int, ...]) -> MetricBlock:
    before = decoder.last_step
    if not ((before is None or first > before) and increasing):
        prev = before  # rare: count exactly as line by line
        for j in range(start, start + k):
            step = _decode(raws[j])["step"]
            if prev is not None and step <= prev:
                decoder.oddities.note("step_backwards", raws[j])
            prev = step
    decoder.last_step = last
    columns = list(zip([name for name, _ in shape.metric_at], cols, strict=True))
    return MetricBlock(array("d", steps), columns, missing, last)
