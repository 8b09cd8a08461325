"""Ingest: bytes of JSON lines -> records -> store, against the decoders alone.

The real path (LocalBackend.follow_batches, abtui/experiment/watcher.py) is, per 64 KiB
read, LineAssembler.split_batch -> EventWriter.write_many -> ArmState.ingest_many. Measured
here, on ~195-byte metric lines fed in the local backend's 64 KiB reads:

(a) decode + store: LineAssembler.iter_lines + ArmState.ingest (per line, the old watcher)
    and LineAssembler.split_batch + ArmState.ingest_many (one call per chunk, the batch APIs
    the watcher uses);
(b) the same plus persistence: EventWriter.write per line / EventWriter.write_many per chunk.

Baselines, on the same lines in the same run: msgspec alone (typed Struct, the fastest
decoder; and generic dict decoding) and a stdlib ``json.loads`` loop. Throughput is lines
per CPU-second of this one process (one core), best of several interleaved runs.
"""

from __future__ import annotations

import json
import os
import tempfile

import msgspec
from common import Figure, at_least, best_interleaved, metric_lines, ratio

from abtui.ingest.events import EventWriter
from abtui.ingest.lines import LineAssembler
from abtui.store.arm import ArmState

NAME = "ingest"
CHUNK = 1 << 16  # the local backend reads 64 KiB at a time
TARGET_RATE = 1.0e6
TARGET_VS_MSGSPEC = 0.75
TARGET_VS_JSON = 5.0


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

    def per_line() -> None:
        state, asm = ArmState("A", "A"), LineAssembler()
        ingest = state.ingest
        for chunk in chunks:
            for raw, _offset, cut in asm.iter_lines(chunk):
                ingest(raw, 1.7e9, cut)
        assert state.lines == n

    def batched() -> None:
        state, asm = ArmState("A", "A"), LineAssembler()
        split, ingest_many = asm.split_batch, state.ingest_many
        for chunk in chunks:
            raws, _ends, cuts = split(chunk)
            ingest_many(raws, 1.7e9, cuts)
        assert state.lines == n

    def per_line_persist() -> None:
        state, asm, writer = ArmState("A", "A"), LineAssembler(), EventWriter(events)
        ingest, write = state.ingest, writer.write
        for chunk in chunks:
            for raw, offset, cut in asm.iter_lines(chunk):
                write(raw, offset, 1.7e9, cut)
                ingest(raw, 1.7e9, cut)
            writer.flush()
        writer.close()
        os.unlink(events)

    def batched_persist() -> None:
        state, asm, writer = ArmState("A", "A"), LineAssembler(), EventWriter(events)
        for chunk in chunks:
            raws, ends, cuts = asm.split_batch(chunk)
            writer.write_many(raws, ends, 1.7e9, cuts)
            state.ingest_many(raws, 1.7e9, cuts)
            writer.flush()
        writer.close()
        os.unlink(events)

    try:
        best = best_interleaved({
            "msgspec_struct": msgspec_struct, "msgspec_dict": msgspec_dict, "json": json_loop,
            "per_line": per_line, "batched": batched,
            "per_line_persist": per_line_persist, "batched_persist": batched_persist,
        }, repeat)
    finally:
        if os.path.exists(events):
            os.unlink(events)
        os.rmdir(tmp)
    rate = {k: n / v for k, v in best.items()}
    m = 1e6
    figures = [
        Figure("msgspec alone, typed Struct (baseline)", rate["msgspec_struct"] / m, "M lines/s",
               note="the fastest decoder; DESIGN.md measured 1.34 M/s"),
        Figure("msgspec alone, dict (baseline)", rate["msgspec_dict"] / m, "M lines/s"),
        Figure("json.loads loop (baseline)", rate["json"] / m, "M lines/s"),
    ]
    paths = [
        ("per_line", "(a) assemble+decode+store, per line"),
        ("batched", "(a) split_batch+ingest_many per 64 KiB"),
        ("per_line_persist", "(b) (a)+EventWriter, per line"),
        ("batched_persist", "(b) (a)+write_many, batched (watcher)"),
    ]
    base = rate["msgspec_struct"]
    for key, label in paths:
        r = ratio(rate[key], base)
        figures.append(Figure(
            label, rate[key] / m, "M lines/s",
            target=f">= {TARGET_RATE / m:.1f} M/s and >= {TARGET_VS_MSGSPEC}x msgspec",
            met=bool(at_least(rate[key], TARGET_RATE) and at_least(r, TARGET_VS_MSGSPEC)),
            baseline="msgspec typed Struct", baseline_value=base / m, ratio=r,
            note=f"{ratio(rate[key], rate['msgspec_dict']):.2f}x msgspec dict decoding"))
        rj = ratio(rate[key], rate["json"])
        figures.append(Figure(
            f"{label}: vs json.loads", rj, "x", target=f">= {TARGET_VS_JSON:.0f}x",
            met=at_least(rj, TARGET_VS_JSON), baseline="json.loads loop",
            baseline_value=rate["json"] / m, ratio=rj))
    for f in figures:
        f.note = (f.note + f"; {n:,} lines of ~195 B, best of {repeat}, CPU time").lstrip("; ")
    return figures
