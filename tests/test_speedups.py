"""The C scanner and bucket loops give what the pure-Python paths give, bit for bit.

Every line shape a runner can print (odd spacing, number spellings, escapes, nesting,
unknown or repeated keys, garbage) goes through ``decode_many`` both ways and through the
per-line decoder; the store built from them must match column for column.
"""

from __future__ import annotations

import json
import os
import random
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abtui.ingest.decode import Decoder, MetricBlock
from abtui.speedups import native, pure_python
from abtui.store import ArmState, Series

# CI (ABTUI_REQUIRE_SPEEDUPS=1) builds them: there a missing build fails, not skips
pytestmark = pytest.mark.skipif(native is None and not os.environ.get("ABTUI_REQUIRE_SPEEDUPS"),
                                reason="abtui._speedups is not built (no C compiler?)")


def test_the_c_loops_are_built() -> None:
    assert native is not None, "abtui._speedups did not build: ingest runs 3x slower"


def _records(items: list) -> list:  # type: ignore[type-arg]
    """decode_many's output with blocks unrolled into per-line (step, values) pairs."""
    out = []
    for _, item in items:
        if type(item) is MetricBlock:
            cols = [(name, list(array("d", col) if type(col) is bytes else col))
                    for name, col in item.columns]
            for k, step in enumerate(item.steps):
                values = {name: col[k] for name, col in cols if col[k] == col[k]}
                out.append(("metric", int(step), values))
        elif type(item).__name__ == "MetricRecord":
            out.append(("metric", item.step, item.values))
        else:
            out.append((type(item).__name__, None, getattr(item, "data", None)
                        or getattr(item, "text", None)))
    return out


def _per_line(raws: list[bytes]) -> tuple[list, Decoder]:  # type: ignore[type-arg]
    dec = Decoder()
    out = []
    for raw in raws:
        rec = dec.decode(raw)
        if type(rec).__name__ == "MetricRecord":
            out.append(("metric", rec.step, rec.values))  # type: ignore[union-attr]
        else:
            out.append((type(rec).__name__, None, getattr(rec, "data", None)
                        or getattr(rec, "text", None)))
    return out, dec


_NUMBERS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.integers(-2**70, 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: f"{v:.17e}"),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: f"{v:.6g}"),
    st.sampled_from(["0", "-0", "-0.0", "0.0e5", "1e999", "-1e999", "1E+2", "2.5e-310",
                     "123456789012345678901234567890", "0.1000000000000000055511151231257827",
                     "1.", "01", ".5", "+1", "1e", "-", "NaN", "Infinity", "0x10"]),
)
_OTHER = st.sampled_from(['"x"', '"a\\"b"', '"\\u00e9"', '"é"', "true", "false", "null",
                          "[1, [2, {\"a\": 3}]]", "{}", "[]", '{"k": [1, 2.5, "s"]}', "[1,]",
                          '"tab\\tand\\\\"', '"\x01"', "[" * 40 + "]" * 40])
_KEYS = st.sampled_from(["step", "loss", "accuracy", "lr", "timestamp", "phase", "rank",
                         "gpu_memory_mb", "new_metric", 'lo\\"ss', "épsilon", "\\ud800x"])
_WS = st.sampled_from(["", " ", "  ", "\t", "\r"])


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # not a metric line at all
        return draw(st.sampled_from([b"", b"plain text", b"{", b'{"event": "final"}', b"{}",
                                     b'{"step": 1} {"step": 2}', b'{"step": 1},{"step": 2}',
                                     b'{"loss": 1.0}', b"\xff\xfe", b"[1, 2]"]))
    parts = []
    step = draw(st.one_of(st.integers(0, 50).map(str), _NUMBERS)) if kind == 1 else \
        str(draw(st.integers(0, 10**6)))
    keys = draw(st.lists(_KEYS, max_size=6))
    if "step" not in keys or kind > 2:
        keys = ["step"] + [k for k in keys if k != "step"]
    for key in keys:
        value = step if key == "step" else draw(st.one_of(_NUMBERS, _OTHER) if kind < 5
                                                else _NUMBERS)
        ws = draw(_WS)
        parts.append(f'{ws}"{key}"{ws}:{draw(_WS)}{value}{ws}')
    text = draw(_WS) + "{" + ",".join(parts) + "}" + draw(_WS)
    return text.encode()


@st.composite
def _lines(draw: st.DrawFn) -> list[bytes]:
    base = draw(st.lists(_line(), max_size=40))
    # long runs of one clean shape, as real runners print, around the odd lines
    clean = [json.dumps({"step": s, "loss": s / 7, "lr": 1e-3, "timestamp": "t"}).encode()
             for s in range(draw(st.integers(0, 60)))]
    cut = draw(st.integers(0, len(base)))
    return base[:cut] + clean + base[cut:]


@settings(max_examples=400, deadline=None)
@given(_lines())
def test_scanner_gives_the_records_of_the_per_line_decoder(raws: list[bytes]) -> None:
    ref, ref_dec = _per_line(raws)
    dec = Decoder()
    got = _records(dec.decode_many(raws))
    assert got == ref
    assert dec.oddities.to_dict() == ref_dec.oddities.to_dict()
    assert dec.last_step == ref_dec.last_step


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e300, 1e300), min_size=1, max_size=30),
       st.sampled_from(["{!r}", "{:.17g}", "{:.3e}", "{:.8f}", "{:.15g}", "{:.1f}"]))
def test_scanned_numbers_are_correctly_rounded(values: list[float], spelling: str) -> None:
    texts = [spelling.format(v) for v in values]
    raws = [f'{{"step": {k}, "v": {t}}}'.encode() for k, t in enumerate(texts)]
    dec = Decoder()
    dec.decode(raws[0])  # learn the shape
    items = dec.decode_many(raws[1:])
    got = [v for _, b in items
           for v in (array("d", b.columns[0][1]) if type(b) is MetricBlock
                     else b.values.values())]
    assert sum(len(b.steps) for _, b in items if type(b) is MetricBlock) >= len(texts) - 2
    want = [float(t) for t in texts[1:]]
    assert struct.pack(f"{len(got)}d", *got) == struct.pack(f"{len(want)}d", *want)


def _columns(s: Series) -> tuple:  # type: ignore[type-arg]
    return tuple(repr(list(a)) for a in (s.steps, s.values, s.times, s._bx, s._bt, s._bsum,
                                        s._bmin, s._bmax, s._bn)) + (s._size,)


def _store(raws: list[bytes], chunk: int) -> dict:  # type: ignore[type-arg]
    arm = ArmState("A", "A")
    for i in range(0, len(raws), chunk):
        arm.ingest_many(raws[i:i + chunk], 1.7e9 + i)
    return {"series": {k: _columns(s) for k, s in sorted(arm.series.items())},
            "last": arm.last, "peak": {k: repr(v) for k, v in arm.peak.items()},
            "step": arm.step, "odd": arm.oddities, "logs": list(arm.logs)}


def _run_lines(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    raws = []
    for step in range(1, n):
        rec = {"step": step, "loss": rng.choice([rng.random(), 0.0, -0.0]), "lr": 1e-3,
               "timestamp": "2025-04-05T10:00:01Z"}
        if step % 100 == 0:
            rec["val_loss"] = rng.random()  # a metric only some lines carry
        raws.append(json.dumps(rec).encode())
        if step % 777 == 0:
            raws += [b"epoch done", b'{"step": 5, "loss": 1}']
    return raws


@pytest.mark.parametrize("chunk", [1, 333, 4096])
def test_store_is_the_same_with_and_without_the_c_loops(chunk: int) -> None:
    """70 k points a metric: buckets merge several times; both paths agree exactly."""
    raws = _run_lines(70_000, chunk)
    fast = _store(raws, chunk)
    with pure_python():
        slow = _store(raws, chunk)
    assert fast == slow
    assert fast["odd"]["step_backwards"] > 0 and "val_loss" in fast["series"]


def test_c_bucket_loops_keep_python_semantics() -> None:
    """Sums left to right, the first of equal extremes, as ``sum``/``min``/``max`` give."""
    values = array("d", [0.0, -0.0, 1e16, 1.0, -1e16, 3.0, -0.0, 0.0])
    steps, times = array("d", range(8)), array("d", [0.5] * 8)

    def folded(size: int) -> tuple:  # type: ignore[type-arg]
        cols = [array("d") for _ in range(5)] + [array("l")]
        i, top = native.fold(*cols, values, steps, times, size, 2048, 0)
        assert i == 8
        return (*cols, top)

    _, _, sums, mins, maxs, counts, top = folded(8)
    assert repr(sums[0]) == repr(sum(values, -0.0)) and list(counts) == [8]
    assert repr(mins[0]) == repr(min(values)) and repr(maxs[0]) == repr(max(values))
    bx, bt, sums, mins, maxs, counts, top = folded(2)
    pairs = [values[k:k + 2] for k in range(0, 8, 2)]
    assert list(sums) == [p[0] + p[1] for p in pairs] and list(counts) == [2] * 4
    assert [repr(v) for v in mins] == [repr(min(p)) for p in pairs]
    assert [repr(v) for v in maxs] == [repr(max(p)) for p in pairs]
    assert list(bx) == [0.0, 2.0, 4.0, 6.0] and list(bt) == [0.5] * 4
    assert top == 1e16
    merged = [array("d", b) for b in native.merge(sums, mins, maxs, counts)[:3]]
    assert list(merged[0]) == [sums[0] + sums[1], sums[2] + sums[3]]
    assert [repr(v) for v in merged[1]] == [repr(min(mins[0], mins[1])),
                                             repr(min(mins[2], mins[3]))]
    with pytest.raises(ValueError):  # steps shorter than the values: refused, not read
        native.fold(*[array("d") for _ in range(5)], array("l"), values, steps[:4], times,
                    2, 2048, 0)


def test_speedups_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import abtui.speedups as sp
    monkeypatch.setenv("ABTUI_PURE_PYTHON", "1")
    assert importlib.reload(sp).native is None
    monkeypatch.delenv("ABTUI_PURE_PYTHON")
    assert importlib.reload(sp).native is not None
