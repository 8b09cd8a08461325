"""Ingest: bytes of JSON lines -> records -> store, against the decoders alone.

The real path (LocalBackend.follow_batches, abtui/experiment/watcher.py) is, per 64 KiB
read, LineAssembler.split_batch -> EventWriter.write_many -> RunState.ingest_many. Measured
here, on ~195-byte metric lines fed in the local backend's 64 KiB reads:

(a) decode + store, batched (the target): split_batch + ingest_many per chunk (msgspec
    decoding into learned Structs, columns of doubles, appends; the buckets are folded
    when read, so (a) includes one fold of the whole store, as the first chart pays it);
    the old per-line path (iter_lines + ingest) as the naive baseline;
(b) (a) plus persistence (EventWriter.write_many per chunk), as the watcher runs it;
(c) each log adapter's lines (abtui.adapters) through the same path.

Baselines, on the same lines in the same run: msgspec alone (typed Struct: the fastest
general JSON decoder; and generic dict decoding) and a stdlib ``json.loads`` loop.
Throughput is lines per CPU-second of this one process (one core), best of several
interleaved runs.
"""

from __future__ import annotations

import json
import os
import tempfile

import msgspec
from common import Figure, at_least, best_interleaved, metric_lines, ratio

from abtui.ingest.events import EventWriter
from abtui.ingest.lines import LineAssembler
from abtui.store.run import RunState

NAME = "ingest"
CHUNK = 1 << 16  # the local backend reads 64 KiB at a time
TARGET_RATE = 1.0e6


class _MetricLine(msgspec.Struct, gc=False):
    """msgspec's best case: a Struct typed exactly for these lines."""

    step: int
    loss: float
    accuracy: float
    throughput_samples_per_sec: float
    step_time_ms: float
    lr: float
    gpu_memory_mb: int
    timestamp: str


# one line of each format, as the trainer prints it (the step and values vary per line)
_ADAPTER_LINES = {
    "hf_trainer": "{{'loss': {v:.4f}, 'grad_norm': 1.87, 'learning_rate': 4.95e-05, "
                  "'epoch': {e:.2f}}}",
    "nanogpt": "iter {i}: loss {v:.4f}, time 123.45ms, mfu 12.34%",
    "nanochat": "step {i:05d}/21400 (0.47%) | loss: {v:.6f} | grad norm: 0.4012 | lrm: 1.00 | "
                "dt: 812.33ms | tok/sec: 524,288 | mfu: 45.67 | total time: 1.23m",
    "modded_nanogpt": "step:{i}/1750 train_time:30000ms step_avg:240.00ms",
    "torchtitan": "\x1b[31m[titan] 2026-12-01 10:00:00,000 - root - INFO - \x1b[0mstep: {i}  "
                  "loss:  {v:.5f}  grad_norm:  1.2345  memory: 20.15GiB(21.19%)  tps: 1,234  "
                  "tflops: 56.78  mfu: 5.74%",
    "pytorch_examples": "Train Epoch: 1 [{i}/60000 (0%)]\tLoss: {v:.6f}",
    "timm": "Train: 0 [{i:>4d}/99999 (  0%)]  Loss: {v:#.3g} ({v:#.3g})  Time: 0.120s,  "
            "133.33/s  (0.125s,  128.00/s)  LR: 1.000e-02  Data: 0.003 (0.004)",
    "deepspeed": "steps: {i} loss: {v:0.4f} iter time (s): 0.123 samples/sec: 260.163",
    "named": "epoch 1 | step {i} | loss {v:.4f} | lr 3e-4 | tok/s 52000",
}


def adapter_contenders(n: int) -> dict[str, object]:
    """``adapter:<name>``: n lines of that format through split_batch + ingest_many."""
    out: dict[str, object] = {}
    for name, fmt in _ADAPTER_LINES.items():
        lines = [fmt.format(i=i, v=2.0 / (1 + i), e=i / 1000).encode() for i in range(1, n + 1)]
        chunks = _chunks(b"\n".join(lines) + b"\n")

        def go(chunks: list[bytes] = chunks, name: str = name) -> None:
            state, asm = RunState("A", "A"), LineAssembler()
            for chunk in chunks:
                raws, _ends, cuts = asm.split_batch(chunk)
                state.ingest_many(raws, 1.7e9, cuts)
            assert state.adapter.name == name and state.series, (name, state.adapter.name)
        out[f"adapter:{name}"] = go
    return out


def _chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def run(quick: bool) -> list[Figure]:
    n = 100_000 if quick else 1_000_000
    repeat = 3
    lines = metric_lines(n)
    chunks = _chunks(b"\n".join(lines) + b"\n")
    tmp = tempfile.mkdtemp(prefix="abtui-bench-ingest-")
    events = os.path.join(tmp, "events.jsonl")

    struct_decode = msgspec.json.Decoder(_MetricLine).decode
    dict_decode = msgspec.json.Decoder().decode
    loads = json.loads

    def msgspec_struct() -> None:
        for raw in lines:
            struct_decode(raw)

    def msgspec_dict() -> None:
        for raw in lines:
            dict_decode(raw)

    def json_loop() -> None:
        for raw in lines:
            loads(raw)

    small = n // 10  # the naive per-line path is slow: a tenth of the lines (a rate)
    small_chunks = _chunks(b"\n".join(lines[:small]) + b"\n")

    def per_line() -> None:
        state, asm = RunState("A", "A"), LineAssembler()
        ingest = state.ingest
        for chunk in small_chunks:
            for raw, _offset, cut in asm.iter_lines(chunk):
                ingest(raw, 1.7e9, cut)
        assert state.lines == small

    def batched() -> None:
        state, asm = RunState("A", "A"), LineAssembler()
        split, ingest_many = asm.split_batch, state.ingest_many
        for chunk in chunks:
            raws, _ends, cuts = split(chunk)
            ingest_many(raws, 1.7e9, cuts)
        assert state.lines == n
        for s in state.series.values():  # what the first look at the store folds
            s.folded()

    def batched_persist() -> None:
        state, asm, writer = RunState("A", "A"), LineAssembler(), EventWriter(events)
        for chunk in chunks:
            raws, ends, cuts = asm.split_batch(chunk)
            writer.write_many(raws, ends, 1.7e9, cuts)
            state.ingest_many(raws, 1.7e9, cuts)
            writer.flush()
        writer.close()
        os.unlink(events)

    contenders = {"msgspec_struct": msgspec_struct, "msgspec_dict": msgspec_dict,
                  "json": json_loop, "per_line": per_line, "batched": batched,
                  "batched_persist": batched_persist}
    contenders.update(adapter_contenders(n // 10))
    try:
        best = best_interleaved(contenders, repeat)
    finally:
        if os.path.exists(events):
            os.unlink(events)
        os.rmdir(tmp)
    rate = {k: (small if k == "per_line" or k.startswith("adapter:") else n) / v
            for k, v in best.items()}
    m = 1e6
    base, dict_rate, json_rate = rate["msgspec_struct"], rate["msgspec_dict"], rate["json"]
    figures = [
        Figure("msgspec alone, typed Struct (baseline)", base / m, "M lines/s",
               note="the fastest general JSON decoder; 1.34 M/s measured on the first machine"),
        Figure("msgspec alone, dict (baseline)", dict_rate / m, "M lines/s"),
        Figure("json.loads loop (baseline)", json_rate / m, "M lines/s"),
    ]
    r = ratio(rate["batched"], base)
    rj = ratio(rate["batched"], json_rate)
    label = "(a) split_batch+ingest_many per 64 KiB"
    figures += [
        Figure(label, rate["batched"] / m, "M lines/s",
               target=f">= {TARGET_RATE / m:.1f} M/s", met=at_least(rate["batched"], TARGET_RATE),
               baseline="msgspec typed Struct", baseline_value=base / m, ratio=r,
               note=f"{ratio(rate['batched'], dict_rate):.2f}x msgspec dict decoding"),
        Figure(f"{label}: vs json.loads", rj, "x", baseline="json.loads loop",
               baseline_value=json_rate / m, ratio=rj),
        Figure("(a) the naive path: iter_lines + ingest per line", rate["per_line"] / m,
               "M lines/s", baseline="(a) batched", baseline_value=rate["batched"] / m,
               ratio=ratio(rate["per_line"], rate["batched"]), note=f"{small:,} lines"),
        Figure("(b) (a) + events.jsonl write_many, as the watcher runs it",
               rate["batched_persist"] / m, "M lines/s", baseline="(a) batched",
               baseline_value=rate["batched"] / m,
               ratio=ratio(rate["batched_persist"], rate["batched"]),
               note="persistence re-encodes each line with its resume token: not part of "
                    "the ingest target, shown for its cost"),
    ]
    for k in sorted(k for k in rate if k.startswith("adapter:")):
        figures.append(Figure(f"(c) {k[8:]} lines, split_batch+ingest_many", rate[k] / m,
                              "M lines/s", baseline="(a) JSON protocol lines",
                              baseline_value=rate["batched"] / m,
                              ratio=ratio(rate[k], rate["batched"]),
                              note=f"{small:,} lines"))
    for f in figures:
        f.note = (f.note + f"; {n:,} lines of ~195 B, best of {repeat}, CPU time").lstrip("; ")
    return figures
