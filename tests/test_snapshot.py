"""Store snapshots: attach from ``store.snap`` + the tail of events.jsonl builds exactly the
store a full replay builds; a snapshot that is corrupt, stale or foreign is ignored."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from abtui.experiment import Experiment
from abtui.ingest.events import EventWriter, read_event_batches
from abtui.spec import parse_spec
from abtui.store import RunState
from abtui.store import snapshot as snap
from abtui.store.snapshot import load_snapshot, replay_events, snapshot_path, write_snapshot

ODD = [
    b"plain text: starting",
    b'{"step": 3, "loss": NaN, "accuracy": 0.5}',
    b'{"step": "seven", "loss": 1.0}',
    b'{"loss": 2.0}',
    b'{"step": 1, "loss": 3.0}',  # backwards
    b"\xff\xfe binary \x00 garbage",
    b'{"step": 10.0, "loss": 0.25, "phase": "eval"}',
    b'{"step": 1e400, "loss": 1}',
    b'{"event": "warning", "msg": "\\ud800 lone surrogate", "v": NaN}',
    b'{"broken": ',
    b'{"step": 99999999999999999999999, "loss": 1}',
]


def metric_lines(rng: random.Random, start: int, n: int, extra: str = "") -> list[bytes]:
    return [b'{"step": %d, "loss": %r, "accuracy": %r, "lr": 0.1%s, "timestamp": "x"}'
            % (start + i, rng.random() * 4, rng.choice([0.0, -0.0, 0.5, rng.random()]),
               extra.encode()) for i in range(n)]


def append(path: Path, raws: list[bytes], t: float, cut_at: int | None = None) -> None:
    writer = EventWriter(path)
    cut = [i == cut_at for i in range(len(raws))] if cut_at is not None else None
    for lo in range(0, len(raws), 700):  # batches, as the watcher writes them
        writer.write_many(raws[lo:lo + 700], list(range(lo, lo + len(raws[lo:lo + 700]))),
                          t + lo * 1e-3, cut[lo:lo + 700] if cut else None)
    writer.close()


def first_part(path: Path) -> None:
    rng = random.Random(1)
    append(path, [b'{"event": "env", "torch": "2.13.0", "seed": 1, "big": 12345678901234567890}']
           + metric_lines(rng, 0, 3000) + ODD[:6] + metric_lines(rng, 3000, 5000), 1.7e9)
    append(path, ODD[6:] + [b'{"step": 9000, "loss": 1.5}'] * 3, 1.7e9 + 50, cut_at=1)


def second_part(path: Path) -> None:
    rng = random.Random(2)
    append(path, metric_lines(rng, 10_000, 4000, ', "new_metric": 3')  # widens the shape
           + ODD + metric_lines(rng, 20_000, 6000)
           + [b'{"event": "final", "steps": 26000}'], 1.7e9 + 100)


def full_replay(path: Path) -> RunState:
    state = RunState("A", "A")
    for batch in read_event_batches(path):
        state.ingest_many(batch.raws, batch.times, batch.truncated)
    return state


def state_of(state: RunState) -> dict:
    """Every field a front end or the report can read, columns as raw bytes."""
    dec = state.decoder
    return {
        "scalars": (state.status, state.exit, state.env, state.final, state.step, state.first_time,
                    state.last_time, state.lines, state.log_count, state.version),
        "last": list(state.last.items()), "peak": list(state.peak.items()),
        "logs": list(state.logs), "events": repr(state.events),
        "oddities": state.oddities,
        "decoder": dec.to_state(),
        "series": [(name, s._size, s.shared, s.view(300).y,
                    [(c, getattr(s, c).typecode, getattr(s, c).tobytes()) for c in snap._COLUMNS])
                   for name, s in state.series.items()],
    }


@pytest.fixture
def events(tmp_path: Path) -> Path:
    d = tmp_path / "arms" / "A"
    d.mkdir(parents=True)
    path = d / "events.jsonl"
    first_part(path)
    return path


def snapshot_then_append(events: Path) -> int:
    assert write_snapshot(full_replay(events), events)
    covered = events.stat().st_size
    second_part(events)
    return covered


def test_snapshot_plus_tail_is_the_full_replay(events: Path) -> None:
    covered = snapshot_then_append(events)
    resumed = RunState("A", "A")
    assert load_snapshot(resumed, events) == covered  # it was really used
    for batch in read_event_batches(events, offset=covered):
        resumed.ingest_many(batch.raws, batch.times, batch.truncated)
    full = full_replay(events)
    assert state_of(resumed) == state_of(full)
    assert full.series["loss"]._size > 1  # buckets merged on both sides of the snapshot
    assert full.oddities["step_backwards"] >= 2 and full.oddities["invalid_utf8"] == 2
    assert "new_metric" in full.series and full.final == {"event": "final", "steps": 26000}
    # and the resumed store goes on exactly like the full one
    more = metric_lines(random.Random(3), 30_000, 3000)
    resumed.ingest_many(more, 1.8e9)
    full.ingest_many(more, 1.8e9)
    assert state_of(resumed) == state_of(full)


def test_snapshot_of_the_whole_file_replays_nothing(events: Path) -> None:
    second_part(events)
    full = full_replay(events)
    assert write_snapshot(full, events)
    loaded = RunState("A", "A")
    assert load_snapshot(loaded, events) == events.stat().st_size
    assert state_of(loaded) == state_of(full)
    assert math.isnan(loaded.events[0]["v"])  # NaN in an event round-trips



def test_arms_replayed_in_parallel_processes_build_the_same_stores(tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Two arms with no snapshot, each folded in its own process (and one with a torn
    tail): every field as a replay here builds, and nothing left in the run directory."""
    from abtui.store import parallel

    paths = []
    for name in ("A", "B"):
        d = tmp_path / "arms" / name
        d.mkdir(parents=True)
        paths.append(d / "events.jsonl")
        first_part(paths[-1])
        second_part(paths[-1])
    with open(paths[1], "ab") as fh:
        fh.write(b'{"t":1.0,"o":1,"l":"torn')
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    states = [RunState(n, n) for n in ("A", "B")]
    parallel.replay_arms(list(zip(states, paths, strict=True)))
    for st, p in zip(states, paths, strict=True):
        assert state_of(st) == state_of(full_replay(p))
        assert sorted(x.name for x in p.parent.iterdir()) == ["events.jsonl"]
    # a child that cannot replay (here: no such file) leaves the arm to this process
    monkeypatch.setattr(parallel, "_replay_child", lambda *a: 0)
    again = [RunState(n, n) for n in ("A", "B")]
    parallel.replay_arms(list(zip(again, paths, strict=True)))
    assert [state_of(s) for s in again] == [state_of(s) for s in states]


def test_columns_shared_by_metrics_logged_together_are_stored_once(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    append(events, metric_lines(random.Random(4), 0, 20_000), 1.7e9)
    full = full_replay(events)
    assert write_snapshot(full, events)
    columns = sum(len(getattr(s, c)) * 8 for s in full.series.values() for c in snap._COLUMNS)
    # steps and times once for the three metrics: 5 of 9 raw columns stored
    assert snapshot_path(events).stat().st_size < 0.6 * columns
    loaded = RunState("A", "A")
    assert load_snapshot(loaded, events) > 0 and state_of(loaded) == state_of(full)
    # each series owns its columns: growing one leaves the others as they were
    loaded.series["loss"].append(20_000, 1.0, 1.8e9)
    assert len(loaded.series["lr"].steps) == 20_000


def corrupt_variants(data: bytes) -> dict[str, bytes]:
    body = len(snap.MAGIC) + snap._PREFIX.size
    return {
        "empty": b"",
        "garbage": b"\x80\x04K\x01." * 100,  # a pickle, for instance: never loaded
        "truncated": data[: len(data) // 2],
        "one byte short": data[:-1],
        "one byte more": data + b"\0",
        "payload bit flipped": data[:-100] + bytes([data[-100] ^ 1]) + data[-99:],
        "header bit flipped": data[:body + 20] + bytes([data[body + 20] ^ 4]) + data[body + 21:],
        "magic": b"X" + data[1:],
    }


@pytest.mark.parametrize("kind", list(corrupt_variants(b"x" * 400)))
def test_a_corrupt_snapshot_is_ignored(events: Path, kind: str) -> None:
    snapshot_then_append(events)
    p = snapshot_path(events)
    p.write_bytes(corrupt_variants(p.read_bytes())[kind])
    state = RunState("A", "A")
    assert load_snapshot(state, events) == 0
    assert state_of(state) == state_of(RunState("A", "A"))  # untouched
    replay_events(state, events)
    assert state_of(state) == state_of(full_replay(events))


def test_a_snapshot_that_does_not_match_the_events_is_ignored(events: Path, monkeypatch) -> None:
    second_part(events)
    assert write_snapshot(full_replay(events), events)
    data = events.read_bytes()
    # the events file was cut short (newer snapshot than the file): ignored
    events.write_bytes(data[: len(data) // 2].rsplit(b"\n", 1)[0] + b"\n")
    state = RunState("A", "A")
    replay_events(state, events)
    assert state.lines < 20_000 and state_of(state) == state_of(full_replay(events))
    # replaced by another file at least as long: the bytes before the offset differ
    for old, new in ((b'\\"seed\\": 1', b'\\"seed\\": 2'), (b'\\"steps\\": 26000', b'\\"steps\\": 26001')):
        assert old in data
        events.write_bytes(data.replace(old, new) + b'{"t":1.0,"o":1,"l":"more"}\n')
        assert load_snapshot(RunState("A", "A"), events) == 0
    # written by another format version
    events.write_bytes(data)
    assert load_snapshot(RunState("A", "A"), events) > 0
    monkeypatch.setattr(snap, "FORMAT", snap.FORMAT + 1)
    assert load_snapshot(RunState("A", "A"), events) == 0


def test_a_snapshot_that_cannot_be_written_is_skipped(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "events.jsonl"
    assert write_snapshot(RunState("A", "A"), missing) is False
    d = tmp_path / "arms"
    d.mkdir()
    events = d / "events.jsonl"
    first_part(events)
    snapshot_path(events).mkdir()  # the rename fails (as on a full disk): no error, no litter
    assert write_snapshot(full_replay(events), events) is False
    assert sorted(p.name for p in d.iterdir()) == ["events.jsonl", "store.snap"]
    state = RunState("A", "A")
    replay_events(state, events)  # and replay does not mind
    assert state_of(state) == state_of(full_replay(events))


SPEC = """
name: snap
command: [python, {runner}]
steps: {steps}
treatment: [rate]
arms:
  A: {{config: {{rate: 1.0, garbage: true}}}}
  B: {{config: {{rate: 3.0}}}}
"""


def test_a_finished_run_leaves_snapshots_that_attach_uses(tmp_path: Path, fake_runner) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(SPEC.format(runner=fake_runner, steps=300))
    exp = Experiment.start(parse_spec(spec_path.read_text()), spec_path, tmp_path / "runs")
    assert exp.wait(timeout=60)
    exp.finish()
    live = {r: state_of(exp.store.run(r)) for r in ("A", "B")}
    paths = {r: exp.rundir.events_path(r) for r in ("A", "B")}
    for path in paths.values():
        header = snap._read_header(snapshot_path(path).open("rb"))
        assert header["events_size"] == path.stat().st_size  # the watcher wrote it
        assert load_snapshot(RunState("A", "A"), path) == path.stat().st_size
    attached = Experiment.attach(exp.rundir.root, follow=False)
    for p in paths.values():
        snapshot_path(p).unlink()
    replayed = Experiment.attach(exp.rundir.root, follow=False)
    for r in ("A", "B"):
        got, want = state_of(attached.store.run(r)), state_of(replayed.store.run(r))
        assert got == want
        assert got["scalars"][1].exit_code == 0 and got["scalars"][7] > 300
        # the live store is the replayed one (receive times as the file keeps them)
        for key in ("series", "logs", "last", "peak", "oddities", "decoder"):
            assert live[r][key] == want[key], key
    assert attached.store.run("A").oddities["malformed_json"] > 0
    assert json.loads(exp.rundir.manifest_path.read_text())["status"] == "finished"
