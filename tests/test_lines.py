"""Line assembly: chunks are not line-aligned, lines can be huge, offsets must be exact."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from abtui.ingest.lines import LineAssembler


def test_split_chunks_reassemble_exactly() -> None:
    data = b'{"step": 1}\nplain\r\n\n{"step": 2}\nend'
    rng = random.Random(1)
    for _ in range(50):
        asm = LineAssembler()
        out, i = [], 0
        while i < len(data):
            j = i + rng.randint(1, 7)
            out += asm.feed(data[i:j])
            i = j
        assert out == [b'{"step": 1}', b"plain", b"", b'{"step": 2}']
        assert asm.flush() == b"end"
        assert asm.offset == len(data)


def test_offsets_point_after_each_line() -> None:
    asm = LineAssembler()
    got = list(asm.iter_lines(b"ab\ncde\nf"))
    assert [(line, end) for line, end, _ in got] == [(b"ab", 3), (b"cde", 7)]
    assert asm.offset == 7 and asm.pending == 1


def test_huge_line_is_truncated_and_counted_but_offsets_stay_right() -> None:
    asm = LineAssembler(max_line=10)
    chunks = [b"x" * 7, b"y" * 30, b"z\nok\n"]
    lines = []
    for c in chunks:
        lines += list(asm.iter_lines(c))
    assert lines[0][0] == b"xxxxxxxyyy" and lines[0][2] is True
    assert lines[1][:2] == (b"ok", 7 + 30 + 5)
    assert asm.truncated_lines == 1


def test_memory_stays_bounded_for_a_line_without_end() -> None:
    asm = LineAssembler(max_line=1000)
    for _ in range(1000):
        asm.feed(b"a" * 10_000)
    assert len(asm._buf) <= 1001
    assert asm.pending == 10_000_000


def test_invalid_utf8_passes_through_as_bytes() -> None:
    asm = LineAssembler()
    assert asm.feed(b"\xff\xfe\x00\n") == [b"\xff\xfe\x00"]


@given(st.lists(st.binary(max_size=40), max_size=30), st.integers(1, 50))
def test_any_chunking_gives_the_same_lines(parts: list[bytes], size: int) -> None:
    data = b"".join(parts)
    whole = LineAssembler()
    expected = whole.feed(data)
    asm = LineAssembler()
    got = []
    for i in range(0, len(data), size):
        got += asm.feed(data[i:i + size])
    assert got == expected
    assert asm.offset == whole.offset


_PIECES = st.one_of(st.binary(max_size=12), st.sampled_from([b"\n", b"\r", b"\r\n", b"\n\n"]),
                    st.integers(0, 90).map(lambda n: b"x" * n))


def _state(asm: LineAssembler) -> tuple:
    return asm.offset, asm.pending, asm.truncated_lines, bytes(asm._buf)


@given(st.lists(_PIECES, max_size=40), st.lists(st.integers(1, 70), max_size=12),
       st.sampled_from([4, 16, 64, 1 << 20]), st.integers(0, 1000))
def test_split_batch_equals_iter_lines(pieces: list[bytes], sizes: list[int], cap: int,
                                       offset: int) -> None:
    """The same lines, offsets, truncation flags and state as iter_lines, under any chunking,
    huge lines (beyond the cap, across chunks) and \\r included."""
    data = b"".join(pieces)
    ref, asm = LineAssembler(cap, offset), LineAssembler(cap, offset)
    i = 0
    for size in [*sizes, len(data)]:
        chunk, i = data[i:i + size], i + size
        want = list(ref.iter_lines(chunk))
        lines, ends, cuts = asm.split_batch(chunk)
        assert lines == [w[0] for w in want] and ends == [w[1] for w in want]
        assert cuts is None or any(cuts)
        assert (cuts or [False] * len(lines)) == [w[2] for w in want]
        assert _state(asm) == _state(ref)
    assert asm.flush() == ref.flush() and _state(asm) == _state(ref)


def test_split_batch_joins_held_bytes_and_strips_a_split_carriage_return() -> None:
    asm = LineAssembler(offset=10)
    assert asm.split_batch(b'{"step": 1}\r') == ([], [], None)
    assert asm.split_batch(b"\nab\r\ncd") == ([b'{"step": 1}', b"ab"], [23, 27], None)
    assert asm.split_batch(b"ef\r\r\n") == ([b"cdef\r"], [34], None)
    assert asm.offset == 34 and asm.pending == 0


def test_split_batch_cuts_lines_over_the_cap_like_iter_lines() -> None:
    asm = LineAssembler(max_line=10)
    assert asm.split_batch(b"x" * 7) == ([], [], None)
    assert asm.split_batch(b"y" * 30) == ([], [], None)
    lines, ends, cuts = asm.split_batch(b"z\nok\n")
    assert lines == [b"xxxxxxxyyy", b"ok"] and ends == [39, 42] and cuts == [True, False]
    assert asm.truncated_lines == 1
