"""Log adapters on exact lines, as the projects' own print statements write them."""

from __future__ import annotations

import pytest

from abtui.adapters import LogAdapter, make_adapter
from abtui.adapters.hf import parse as hf
from abtui.adapters.nanogpt import parse_modded, parse_nanochat, parse_nanogpt
from abtui.adapters.pytorch_examples import parse as pytorch_examples
from abtui.adapters.torchtitan import parse as titan
from abtui.store import RunState


def test_hugging_face_trainer_train_eval_and_final_lines() -> None:
    p = hf("{'loss': 2.3051, 'grad_norm': 1.87, 'learning_rate': 4.95e-05, 'epoch': 0.02}")
    assert p.values == {"loss": 2.3051, "grad_norm": 1.87, "lr": 4.95e-05, "epoch": 0.02}
    assert p.step is None and not p.final
    p = hf("{'loss': '2.3051', 'grad_norm': '1.87', 'learning_rate': '4.95e-05', 'epoch': '0.02'}")
    assert p.values["loss"] == 2.3051  # newer transformers print numbers as strings
    e = hf("{'eval_loss': 2.1, 'eval_accuracy': 0.61, 'eval_runtime': 1.2, "
           "'eval_samples_per_second': 80.0, 'eval_steps_per_second': 10.0, 'epoch': 1.0}")
    assert e.eval and e.values["accuracy"] == 0.61 and e.values["eval_loss"] == 2.1
    f = hf("{'train_runtime': 12.3, 'train_samples_per_second': 40.1, "
           "'train_steps_per_second': 5.0, 'train_loss': 2.2, 'epoch': 3.0}")
    assert f.final and f.values["throughput_samples_per_sec"] == 40.1
    assert f.values["wall_time_s"] == 12.3 and f.values["final_loss"] == 2.2
    for line in ("{'a': __import__('os').system('id')}", "{'loss': 1} trailing", "not a dict",
                 "{'x': 'text'}", "{" + "'a': 1, " * 2000 + "}"):
        assert hf(line) is None  # literal_eval only, never eval; no numbers: not a metric


def test_nanogpt_nanochat_and_modded_nanogpt() -> None:
    p = parse_nanogpt("iter 10: loss 4.2345, time 123.45ms, mfu 12.34%")
    assert (p.step, p.values) == (10, {"loss": 4.2345, "step_time_ms": 123.45, "mfu": 12.34})
    assert "mfu" not in parse_nanogpt("iter 0: loss 10.9876, time 5000.00ms, mfu -100.00%").values
    ev = parse_nanogpt("step 2000: train loss 1.0234, val loss 1.2345")
    assert ev.eval and ev.values["val_loss"] == 1.2345
    c = parse_nanochat("step 00100/21400 (0.47%) | loss: 3.456789 | lrm: 1.00 | dt: 523.45ms | "
                       "tok/sec: 524,288 | mfu: 45.12 | total time: 1.23m")
    assert c.step == 100 and c.values["throughput_samples_per_sec"] == 524288
    assert c.values["step_time_ms"] == 523.45 and c.values["loss"] == 3.456789
    m = parse_modded("step:125/1750 val_loss:4.1234 train_time:30000ms step_avg:240.00ms")
    assert m.step == 125 and m.eval and m.values["val_loss"] == 4.1234
    assert m.values["step_time_ms"] == 240.0
    t = parse_modded("step:126/1750 train_loss:4.0 train_time:30240ms step_avg:240.00ms")
    assert not t.eval and t.values["train_loss"] == 4.0
    assert parse_nanogpt("iteration 10 done") is None and parse_nanochat("step 5 done") is None


def test_torchtitan_with_colours_and_prefix() -> None:
    line = ("\x1b[32m[titan] 2025-01-01 12:00:00,000 - root - INFO - \x1b[31mstep: 10  "
            "\x1b[32mloss:  7.12345  \x1b[33mgrad_norm:  1.2345  \x1b[38;2;180;60;0mmemory: "
            "20.15GiB(21.19%)  \x1b[34mtps: 1,234  \x1b[36mtflops: 56.78  \x1b[35mmfu: 5.74%\x1b[39m")
    p = titan(line)
    assert p.step == 10 and p.values["loss"] == 7.12345 and p.values["grad_norm"] == 1.2345
    assert p.values["throughput_samples_per_sec"] == 1234 and p.values["mfu"] == 5.74
    assert p.values["gpu_memory_mb"] == pytest.approx(20.15 * 1024)
    assert titan("[titan] 2025-01-01 - root - INFO - Training starts at step 1") is None


def test_pytorch_examples_train_and_test_lines() -> None:
    p = pytorch_examples("Train Epoch: 1 [0/60000 (0%)]\tLoss: 2.305432")
    assert p.values == {"loss": 2.305432, "epoch": 1.0, "samples_seen": 0.0} and p.step is None
    t = pytorch_examples("Test set: Average loss: 0.0450, Accuracy: 9850/10000 (98%)")
    assert t.eval and t.values == {"eval_loss": 0.045, "accuracy": 0.985}


def test_regex_adapter_from_the_spec() -> None:
    a = make_adapter({"regex": r"it=(?P<step>\d+) l=(?P<loss>[\d.]+) sps=(?P<throughput_samples_per_sec>[\d,]+)"})
    [p] = a.feed("it=7 l=0.5 sps=1,200")
    assert (p.step, p.values) == (7, {"loss": 0.5, "throughput_samples_per_sec": 1200.0})
    assert a.feed("something else") == []


def test_auto_detection_names_the_format_and_counts_steps() -> None:
    state = RunState("a", "a")
    lines = [b"Loading model...", b"{'loss': 2.30, 'learning_rate': 5e-05, 'epoch': 0.1}",
             b"{'loss': 2.10, 'learning_rate': 4e-05, 'epoch': 0.2}",
             b"{'eval_loss': 2.0, 'eval_accuracy': 0.55, 'epoch': 0.2}",
             b"{'train_runtime': 3.0, 'train_samples_per_second': 100.0, 'train_loss': 2.2}"]
    for i, raw in enumerate(lines):
        state.ingest(raw, 100.0 + i)
    assert state.adapter.name == "hf_trainer" and state.adapter.words == "Hugging Face Trainer lines"
    assert list(state.series["loss"].steps) == [1.0, 2.0]
    assert list(state.series["accuracy"].steps) == [2.0]  # eval: at the last training step
    assert state.final["throughput_samples_per_sec"] == 100.0
    logs = [text for _, text in state.recent_logs()]
    assert len(logs) == 6 and "reading Hugging Face Trainer lines as metrics" in logs[2]


def test_protocol_speakers_are_never_guessed_at() -> None:
    state = RunState("a", "a")
    state.ingest(b'{"step": 1, "loss": 1.0}', 1.0)
    state.ingest(b"iter 10: loss 4.2345, time 123.45ms, mfu 12.34%", 2.0)
    assert state.adapter.mode == "protocol" and list(state.series["loss"].values) == [1.0]
    assert LogAdapter("protocol").feed("iter 1: loss 1.0, time 1ms") == []
