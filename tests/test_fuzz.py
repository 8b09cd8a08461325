"""Every reader of arm output is total: whatever bytes an arm writes, nothing raises, later
lines are still read, and memory stays bounded (hypothesis generates the input)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abtui.adapters import LogAdapter
from abtui.adapters.base import segments
from abtui.infra.untrusted import inert, inert_deep, shown
from abtui.ingest.files.csvlog import CsvLog
from abtui.ingest.files.tfevents import EventFile
from abtui.ingest.lines import LineAssembler
from abtui.store import RunState
from abtui.store.run import LOG_LINE_CHARS

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
GOOD = b'{"step": 99999, "loss": 0.5}'

odd_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
odd_json = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(2**70), max_value=2**70) | odd_text,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(odd_text, kids, max_size=5),
    max_leaves=30)


@FUZZ
@given(st.lists(st.binary(max_size=400), max_size=30))
def test_any_bytes_then_a_good_line_still_read(chunks: list[bytes]) -> None:
    state = RunState("a", "a")
    asm = LineAssembler(max_line=256)
    for chunk in [*chunks, b"\n" + GOOD + b"\n"]:
        raws, _, cuts = asm.split_batch(chunk)
        state.ingest_many(raws, 1.0, cuts)
    assert state.step == 99999 and state.last["loss"] == 0.5
    assert all(len(text) <= LOG_LINE_CHARS + 2 for _, text in state.logs)


@FUZZ
@given(odd_json, st.sampled_from(["env", "final", "custom", None]))
def test_any_record_is_folded_and_the_next_line_read(value: object, event: str | None) -> None:
    state = RunState("a", "a")
    record = {"step": 1, "x": value} if event is None else {"event": event, "data": value}
    state.ingest(json.dumps(record, allow_nan=True).encode(), 1.0)
    state.ingest(GOOD, 2.0)
    assert state.last["loss"] == 0.5


def test_a_record_nested_600_deep_never_kills_the_watcher() -> None:
    state = RunState("a", "a")
    deep: object = 1
    for _ in range(600):
        deep = {"a": deep}
    state.ingest(json.dumps({"event": "env", "x": deep}).encode(), 1.0)
    state.ingest(GOOD, 2.0)
    assert state.last["loss"] == 0.5 and state.env is not None
    nested: object = "x"
    for _ in range(40):
        nested = [nested]
    assert "nested deeper" in json.dumps(inert_deep(nested))


@FUZZ
@given(st.text(max_size=500))
def test_adapters_and_terminal_text_take_any_line(line: str) -> None:
    adapter = LogAdapter()
    adapter.feed(line)
    segments(line, rank0=True)
    for parsed in adapter.feed("iter 3: loss 1.5, time 2.0ms"):
        assert parsed.values["loss"] == 1.5


@FUZZ
@given(st.text(max_size=300))
def test_nothing_shown_carries_an_escape_or_a_hidden_character(text: str) -> None:
    for out in (inert(text), shown(text)):
        assert not any(c in out for c in "\x1b\x07\x9b\u2028\u2029\u200b\u202e\ufeff")


@FUZZ
@given(st.binary(max_size=3000))
def test_a_metrics_csv_of_any_bytes(tmp_path_factory, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("csv")) / "metrics.csv"
    path.write_bytes(b"step,loss\n" + data + b"\n7,0.25\n")
    rows = CsvLog(path).poll()
    assert rows and rows[-1].values.get("loss") == 0.25


@FUZZ
@given(st.binary(max_size=2000))
def test_a_tfevents_file_of_any_bytes_never_raises(tmp_path_factory, data: bytes) -> None:
    path = Path(tmp_path_factory.mktemp("tf")) / "events.out.tfevents.1"
    path.write_bytes(data)
    f = EventFile(path)
    for _ in range(3):
        f.poll()


def test_an_oversized_tfevents_record_is_skipped_and_the_rest_read(tmp_path: Path) -> None:
    """A record over the read size (an image, here a 5 MB text summary) is read whole, and
    one over MAX_RECORD skipped whole: every scalar around them is read."""
    import random

    from torch.utils.tensorboard import SummaryWriter

    from abtui.ingest.files import tfevents

    w = SummaryWriter(str(tmp_path))
    w.add_scalar("loss", 1.0, 1)
    rnd = random.Random(0)
    w.add_text("big", "".join(rnd.choice("abcdef") for _ in range(5_000_000)), 1)
    for step in range(2, 51):
        w.add_scalar("loss", 1.0 / step, step)
    w.close()
    [path] = list(tmp_path.glob("events.out.tfevents.*"))
    for limit in (tfevents.MAX_RECORD, 1 << 20):  # read whole; then, as too large, skipped
        old, tfevents.MAX_RECORD = tfevents.MAX_RECORD, limit
        try:
            f = EventFile(str(path))
            got = []
            for _ in range(10):
                got += [s for _, scalars in f.poll() for s in scalars if s.tag == "loss"]
        finally:
            tfevents.MAX_RECORD = old
        assert [s.step for s in got] == list(range(1, 51)) and not f.corrupt
        assert f.oversized == (0 if limit == old else 1)


def test_a_fifo_in_place_of_a_metrics_file_never_blocks(tmp_path: Path) -> None:
    import os

    for name in ("metrics.csv", "events.out.tfevents.1"):
        os.mkfifo(tmp_path / name)
    assert CsvLog(tmp_path / "metrics.csv").poll() == []
    assert EventFile(tmp_path / "events.out.tfevents.1").poll() == []


def test_a_huge_cell_or_header_in_metrics_csv(tmp_path: Path) -> None:
    """A 200 KB cell (over the csv module's limit) spoils its row only; a 100 KB header
    (a thousand logged names) is read."""
    path = tmp_path / "metrics.csv"
    rows = [f"{s},{1.0 / s}" for s in range(1, 20)]
    rows[4] = "5," + '"' + "x" * 200_000 + '"'
    path.write_text("step,loss\n" + "\n".join(rows) + "\n")
    f = CsvLog(path)
    got = f.poll()
    assert [r.step for r in got] == [s for s in range(1, 20) if s != 5] and f.bad_rows == 1
    wide = tmp_path / "wide" / "metrics.csv"
    wide.parent.mkdir()
    names = [f"metric_with_a_long_name_{i:05d}" for i in range(3000)]
    wide.write_text("step," + ",".join(names) + "\n1," + ",".join("0.5" for _ in names) + "\n")
    [row] = CsvLog(wide).poll()
    assert row.values[names[-1]] == 0.5
