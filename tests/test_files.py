"""Metrics an arm writes to files: Lightning's CSVLogger and TensorBoard event files,
followed by the real writers' output through appends, rewrites and torn tails."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from abtui.ingest.files import OutputFiles, cursors_from_tokens
from abtui.ingest.files.csvlog import CsvLog
from abtui.ingest.files.tfevents import EventFile, masked_crc


def _lightning_writer(log_dir: Path):  # type: ignore[no-untyped-def]
    from lightning.fabric.loggers.csv_logs import _ExperimentWriter

    return _ExperimentWriter(str(log_dir))


def test_csv_rows_survive_flushes_new_keys_rewrites_and_a_resume(tmp_path: Path) -> None:
    """Lightning's own writer: rows flushed in batches, a new key rewriting the file with a
    wider header, a follower restarted from its cursor: every row exactly once, in order."""
    writer = _lightning_writer(tmp_path / "v0")
    log = CsvLog(str(tmp_path / "v0" / "metrics.csv"))
    rng = random.Random(0)
    seen: list[tuple[int, dict[str, float]]] = []
    step = 0
    for flush in range(12):
        for _ in range(rng.randint(1, 30)):
            step += 1
            metrics = {"train_loss": 1.0 / step}
            if flush >= 4:
                metrics["lr"] = 0.1  # a new key: the next save rewrites the whole file
            if flush >= 8 and step % 5 == 0:
                metrics["val_acc"] = step / 1000
            writer.log_metrics(metrics, step)
        writer.save()
        if flush == 6:  # the monitor restarts: a new follower from the cursor it persisted
            log = CsvLog(log.path, rows=log.rows)
        seen += [(r.step, r.values) for r in log.poll()]
        assert log.poll() == []
    assert [s for s, _ in seen] == list(range(1, step + 1))
    assert all(v["loss"] == v["train_loss"] == 1.0 / s for s, v in seen)
    acc = [s for s, v in seen if "val_acc" in v]
    assert acc and all(s % 5 == 0 and dict(seen)[s]["accuracy"] == s / 1000 for s in acc)


def test_a_csv_row_being_written_waits_and_a_truncated_file_is_read_again(tmp_path: Path) -> None:
    p = tmp_path / "metrics.csv"
    p.write_text("epoch,step,train_loss\n0,1,0.5\n0,2,0.4")
    log = CsvLog(str(p))
    assert [r.step for r in log.poll()] == [1]  # step 2's row has no newline yet
    with open(p, "a") as fh:
        fh.write("\n0,3,0.3\n")
    assert [r.step for r in log.poll()] == [2, 3]
    p.write_text("epoch,step,train_loss,val_loss\n")  # rewritten: truncated, header first
    assert log.poll() == []
    p.write_text("epoch,step,train_loss,val_loss\n0,1,0.5,\n0,2,0.4,\n0,3,0.3,\n0,4,0.2,0.9\n")
    rows = log.poll()
    assert [(r.step, r.values.get("val_loss")) for r in rows] == [(4, 0.9)]


def _tb_scalars(logdir: Path, points: list[tuple[int, float]], new_style: bool = False) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(logdir))
    for step, v in points:
        w.add_scalar("train/loss", v, step, new_style=new_style)
        w.add_scalar("val/acc", v / 10, step, new_style=new_style)
    w.close()
    return next(logdir.glob("events.out.tfevents.*"))


@pytest.mark.parametrize("new_style", [False, True])
def test_tensorboard_scalars_are_read_exactly_and_a_torn_tail_waits(tmp_path: Path,
                                                                   new_style: bool) -> None:
    points = [(s, round(1.0 / s, 6)) for s in range(1, 60)]
    path = _tb_scalars(tmp_path / "tb", points, new_style)
    data = path.read_bytes()
    torn = tmp_path / "torn" / "events.out.tfevents.1"
    torn.parent.mkdir()
    cut = len(data) * 2 // 3
    torn.write_bytes(data[:cut])
    ev = EventFile(str(torn))
    first = [s for _, scalars in ev.poll() for s in scalars]
    assert 0 < ev.offset <= cut and not ev.corrupt
    with open(torn, "ab") as fh:
        fh.write(data[cut:])
    rest = [s for _, scalars in ev.poll() for s in scalars]
    got = [(s.step, s.tag, s.value) for s in first + rest]
    want = [(s, tag, v) for s, v in points for tag, v in (("train/loss", v), ("val/acc", v / 10))]
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in want]
    assert all(abs(a - b) <= 1e-6 * abs(b) for (_, _, a), (_, _, b) in zip(got, want, strict=True))
    assert ev.offset == len(data) and ev.bad_records == 0


def test_a_corrupt_event_record_is_skipped_and_a_foreign_file_is_not_followed(tmp_path: Path) -> None:
    path = _tb_scalars(tmp_path / "tb", [(1, 0.5), (2, 0.25), (3, 0.125)])
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # the last record's data: its CRC fails
    path.write_bytes(bytes(data))
    ev = EventFile(str(path))
    steps = sorted({s.step for _, sc in ev.poll() for s in sc})
    assert steps == [1, 2, 3] and ev.bad_records == 1  # step 3's other scalar is intact
    foreign = tmp_path / "events.out.tfevents.x"
    foreign.write_bytes(b"not a tfrecord at all, just text\n" * 4)
    ev2 = EventFile(str(foreign))
    assert ev2.poll() == [] and ev2.corrupt
    assert masked_crc(b"123456789") == (((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xA282EAD8
                                        ) & 0xFFFFFFFF  # CRC-32C's check value, masked


def test_output_files_turn_both_formats_into_protocol_lines_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "out"
    writer = _lightning_writer(out / "lightning_logs" / "version_0")
    for s in range(1, 11):
        writer.log_metrics({"train_loss": 1.0 / s}, s)
    writer.save()
    _tb_scalars(out / "tb", [(s, 0.5) for s in range(1, 6)])
    (out / "link.csv").symlink_to(out / "lightning_logs" / "version_0" / "metrics.csv")
    files = OutputFiles(out)
    lines, tokens = files.poll()
    records = [json.loads(x) for x in lines]
    csv = [r for r, t in zip(records, tokens, strict=True) if t["file"].endswith(".csv")]
    tb = [r for r, t in zip(records, tokens, strict=True) if "tfevents" in t["file"]]
    assert [r["step"] for r in csv] == list(range(1, 11)) and csv[0]["loss"] == 1.0
    assert [r["step"] for r in tb] == [1, 2, 3, 4, 5]
    assert tb[0]["loss"] == 0.5 and tb[0]["accuracy"] == pytest.approx(0.05)
    assert len(files.followers) == 2  # the symbolic link is not followed
    for s in range(11, 16):
        writer.log_metrics({"train_loss": 1.0 / s}, s)
    writer.save()
    again = OutputFiles(out, cursors_from_tokens(tokens))  # a restarted monitor
    more, _ = again.poll()
    assert [json.loads(x)["step"] for x in more] == list(range(11, 16))
