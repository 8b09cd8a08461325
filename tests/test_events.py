"""events.jsonl: byte-exact persistence, resume tokens, torn tails."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from abtui.ingest.events import EventWriter, last_token, read_event_batches, read_events


def test_lines_round_trip_byte_exact(tmp_path) -> None:
    p = tmp_path / "events.jsonl"
    w = EventWriter(p)
    lines = [b'{"step": 1}', b"plain \xe2\x9c\x93", b"\xff\xfe\x00 not utf8", b"", b'quote " and \\']
    for i, raw in enumerate(lines):
        w.write(raw, i * 10, 1.5 + i, truncated=(i == 2))
    w.close()
    back = list(read_events(p))
    assert [b.raw for b in back] == lines
    assert [b.token for b in back] == [0, 10, 20, 30, 40]
    assert [b.truncated for b in back] == [False, False, True, False, False]
    assert last_token(p) == 40


def test_torn_tail_is_skipped_on_replay_and_repaired_on_reopen(tmp_path) -> None:
    p = tmp_path / "events.jsonl"
    w = EventWriter(p)
    w.write(b"one", 4, 1.0)
    w.write(b"two", 8, 2.0)
    w.close()
    with open(p, "ab") as fh:
        fh.write(b'{"t":3.0,"o":12,"l":"thr')  # a crash mid-write
    assert [b.raw for b in read_events(p)] == [b"one", b"two"]
    assert last_token(p) == 8
    w = EventWriter(p)  # a new monitor: cuts the fragment, appends cleanly
    w.write(b"three", 14, 3.0)
    w.close()
    assert [b.raw for b in read_events(p)] == [b"one", b"two", b"three"]


def test_a_torn_tail_longer_than_the_repair_window_is_cut_whole(tmp_path) -> None:
    """A monitor killed mid-write of a 9 MiB line: the whole fragment goes, not its last
    4 MiB, so the next line written is read (it was glued to the fragment's head)."""
    p = tmp_path / "events.jsonl"
    w = EventWriter(p)
    w.write(b"one", 4, 1.0)
    w.close()
    with open(p, "ab") as fh:
        fh.write(b'{"t":2.0,"o":9,"l":"' + b"x" * (9 << 20))
    w = EventWriter(p)
    w.write(b"two", 14, 3.0)
    w.close()
    assert [b.raw for b in read_events(p)] == [b"one", b"two"]
    assert p.stat().st_size < 200
    whole = tmp_path / "torn-only.jsonl"  # a file that is one torn line from its start
    whole.write_bytes(b'{"t":2.0,"l":"' + b"y" * (5 << 20))
    w = EventWriter(whole)
    w.write(b"first", 1, 1.0)
    w.close()
    assert [b.raw for b in read_events(whole)] == [b"first"]


def test_last_token_reads_only_the_tail_of_a_big_file(tmp_path) -> None:
    p = tmp_path / "events.jsonl"
    w = EventWriter(p)
    for i in range(50_000):
        w.write(b"x" * 50, i, float(i))
    w.close()
    assert last_token(p) == 49_999
    assert last_token(tmp_path / "missing.jsonl") is None


_RAW = st.one_of(
    st.binary(max_size=60),  # anything: controls, quotes, backslashes, DEL, non-UTF-8
    st.text(st.characters(max_codepoint=0x7F), max_size=60).map(str.encode),  # ASCII
    st.sampled_from([b'{"step": 1, "loss": 0.5}', b"caf\xc3\xa9", b'a\\u00e9"\\', b"\x7f\x1f\x00"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_RAW, max_size=12), max_size=6), st.floats(0, 2e9),
       st.sampled_from([0, 1, 2]))
def test_write_many_writes_and_reads_what_write_does(batches: list[list[bytes]], t: float,
                                                     tokens: int) -> None:
    """events.jsonl written in batches and line by line: the same bytes on disk, and the
    same lines, times, tokens and cut flags back, in batches of any size."""
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for one_by_one in (False, True):
            path = Path(tmp) / f"{len(files)}.jsonl"
            w = EventWriter(path)
            k = 0
            for j, raws in enumerate(batches):
                toks = ([k + i for i in range(len(raws))] if tokens == 0 else
                        [f"{k + i}-s" for i in range(len(raws))] if tokens == 1 else
                        [10**20 + i for i in range(len(raws))])
                cuts = [i == 1 for i in range(len(raws))] if j == 2 else None
                if one_by_one:
                    for i, raw in enumerate(raws):
                        w.write(raw, toks[i], t + j, bool(cuts and cuts[i]))
                else:
                    w.write_many(raws, toks, t + j, cuts)
                k += len(raws)
            w.close()
            files.append(path.read_bytes())
            back = [[(b.raws, list(b.times), b.tokens, b.truncated)
                     for b in read_event_batches(path, batch_bytes=size)] for size in (300, 1 << 20)]
            flat = [[r for b in got for r in b[0]] for got in back]
            assert flat[0] == flat[1] == [r for raws in batches for r in raws]
        assert files[0] == files[1]


def test_the_reader_takes_foreign_base64_and_respaced_lines(tmp_path: Path) -> None:
    """Foreign, base64, torn or re-spaced lines are read too: nothing is lost."""
    p = tmp_path / "events.jsonl"
    p.write_bytes(b'{"t":1.5,"o":3,"l":"a\\"b"}\n'
                  b'{"t": 2.0, "o": 4, "l": "spaced"}\n'
                  b'{"t":3.0,"o":"x","b":"/w=="}\n'
                  b'{"t":4.0,"o":9,"l":"\\u00e9 not ascii"}\n'
                  b'{"t":5.0,"o":10,"l":"cut","x":1}\n')
    got = [(s.raw, s.t, s.token, s.truncated) for s in read_events(p)]
    assert got == [(b'a"b', 1.5, 3, False), (b"spaced", 2.0, 4, False),
                   (b"\xff", 3.0, "x", False), ("é not ascii".encode(), 4.0, 9, False),
                   (b"cut", 5.0, 10, True)]
