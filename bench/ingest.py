"""Ingest: bytes of JSON lines -> records -> store, against the decoders alone.

The real path (LocalBackend.follow_batches, abtui/experiment/watcher.py) is, per 64 KiB
read, LineAssembler.split_batch -> EventWriter.write_many -> ArmState.ingest_many. Measured
here, on ~195-byte metric lines fed in the local backend's 64 KiB reads:

(a) decode + store, batched (the target): split_batch + ingest_many per chunk, with the C
    loops of abtui/csrc/ (scanner, splitter, bucket statistics); the same with
    ABTUI_PURE_PYTHON (no C loops), and the old per-line path (iter_lines + ingest) as
    the naive baselines;
(b) (a) plus persistence (EventWriter.write_many per chunk), as the watcher runs it.

Baselines, on the same lines in the same run: msgspec alone (typed Struct: the fastest
general JSON decoder; and generic dict decoding) and a stdlib ``json.loads`` loop; and,
for transparency, the C scanner alone (abtui's own special-purpose column reader: it
decodes no JSON it has not learned). Throughput is lines per CPU-second of this one
process (one core), best of several interleaved runs.
"""

from __future__ import annotations

import json
import os
import tempfile

import msgspec
from common import Figure, at_least, best_interleaved, metric_lines, ratio

from abtui.ingest.decode import Decoder
from abtui.ingest.events import EventWriter
from abtui.ingest.lines import LineAssembler
from abtui.speedups import native, pure_python
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

    small = n // 10  # the naive per-line path is slow: a tenth of the lines (a rate)
    small_chunks = _chunks(b"\n".join(lines[:small]) + b"\n")
    shape = Decoder()
    shape.decode(lines[0])
    keys, codes = shape._shape.keys, shape._shape.codes  # type: ignore[union-attr]
    asm = LineAssembler()
    joined = [b"\n".join(asm.split_batch(chunk)[0]) for chunk in chunks]

    def scanner() -> None:
        for buf in joined:
            native.scan(buf, 0, keys, codes, len(buf))

    def per_line() -> None:
        state, asm = ArmState("A", "A"), LineAssembler()
        ingest = state.ingest
        for chunk in small_chunks:
            for raw, _offset, cut in asm.iter_lines(chunk):
                ingest(raw, 1.7e9, cut)
        assert state.lines == small

    def batched() -> None:
        state, asm = ArmState("A", "A"), LineAssembler()
        split, ingest_many = asm.split_batch, state.ingest_many
        for chunk in chunks:
            raws, _ends, cuts = split(chunk)
            ingest_many(raws, 1.7e9, cuts)
        assert state.lines == n

    def batched_pure() -> None:
        with pure_python():
            batched()

    def batched_persist() -> None:
        state, asm, writer = ArmState("A", "A"), LineAssembler(), EventWriter(events)
        for chunk in chunks:
            raws, ends, cuts = asm.split_batch(chunk)
            writer.write_many(raws, ends, 1.7e9, cuts)
            state.ingest_many(raws, 1.7e9, cuts)
            writer.flush()
        writer.close()
        os.unlink(events)

    contenders = {"msgspec_struct": msgspec_struct, "msgspec_dict": msgspec_dict,
                  "json": json_loop, "per_line": per_line, "batched": batched,
                  "batched_pure": batched_pure, "batched_persist": batched_persist}
    if native is not None:
        contenders["scanner"] = scanner
    try:
        best = best_interleaved(contenders, repeat)
    finally:
        if os.path.exists(events):
            os.unlink(events)
        os.rmdir(tmp)
    rate = {k: (small if k == "per_line" else n) / v for k, v in best.items()}
    m = 1e6
    base, dict_rate, json_rate = rate["msgspec_struct"], rate["msgspec_dict"], rate["json"]
    figures = [
        Figure("msgspec alone, typed Struct (baseline)", base / m, "M lines/s",
               note="the fastest general JSON decoder; 1.34 M/s measured on the first machine"),
        Figure("msgspec alone, dict (baseline)", dict_rate / m, "M lines/s"),
        Figure("json.loads loop (baseline)", json_rate / m, "M lines/s"),
    ]
    if "scanner" in rate:
        figures.append(Figure(
            "abtui's C scanner alone (for reference)", rate["scanner"] / m, "M lines/s",
            baseline="msgspec typed Struct", baseline_value=base / m,
            ratio=ratio(rate["scanner"], base),
            note="the learned-shape column reader inside (a); it is not a general decoder"))
    r = ratio(rate["batched"], base)
    rj = ratio(rate["batched"], json_rate)
    label = "(a) split_batch+ingest_many per 64 KiB" + ("" if native else " (no C loops built)")
    figures += [
        Figure(label, rate["batched"] / m, "M lines/s",
               target=f">= {TARGET_RATE / m:.1f} M/s and >= {TARGET_VS_MSGSPEC}x msgspec",
               met=bool(at_least(rate["batched"], TARGET_RATE) and at_least(r, TARGET_VS_MSGSPEC)),
               baseline="msgspec typed Struct", baseline_value=base / m, ratio=r,
               note=f"{ratio(rate['batched'], dict_rate):.2f}x msgspec dict decoding"),
        Figure(f"{label}: vs json.loads", rj, "x", target=f">= {TARGET_VS_JSON:.0f}x",
               met=at_least(rj, TARGET_VS_JSON), baseline="json.loads loop",
               baseline_value=json_rate / m, ratio=rj),
        Figure("(a) the same, pure Python (ABTUI_PURE_PYTHON=1)", rate["batched_pure"] / m,
               "M lines/s", baseline="(a) with the C loops", baseline_value=rate["batched"] / m,
               ratio=ratio(rate["batched_pure"], rate["batched"]),
               note="what an install without a C compiler gets"),
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
    for f in figures:
        f.note = (f.note + f"; {n:,} lines of ~195 B, best of {repeat}, CPU time").lstrip("; ")
    return figures
