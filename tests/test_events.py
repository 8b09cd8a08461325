"""events.jsonl: byte-exact persistence, resume tokens, torn tails."""

from __future__ import annotations

from abtui.ingest.events import EventWriter, last_token, read_events


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


def test_last_token_reads_only_the_tail_of_a_big_file(tmp_path) -> None:
    p = tmp_path / "events.jsonl"
    w = EventWriter(p)
    for i in range(50_000):
        w.write(b"x" * 50, i, float(i))
    w.close()
    assert last_token(p) == 49_999
    assert last_token(tmp_path / "missing.jsonl") is None
