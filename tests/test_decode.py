"""Decoding: records typed, every oddity counted, nothing ever raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from abtui.ingest.decode import Decoder, EnvRecord, FinalRecord, MetricRecord, TextRecord


def test_metric_record_keeps_numbers_only() -> None:
    d = Decoder()
    rec = d.decode(b'{"step": 3, "loss": 2.5, "accuracy": 1, "timestamp": "2025-01-01T00:00:00Z", '
                   b'"phase": "train", "flag": true}')
    assert isinstance(rec, MetricRecord)
    assert rec.step == 3 and rec.values == {"loss": 2.5, "accuracy": 1.0}
    assert d.oddities.wrong_type == 0  # annotations are not metrics, and not errors
    d.decode(b'{"step": 4, "loss": "low"}')
    assert d.oddities.wrong_type == 1  # a known metric that is not a number is


def test_env_final_and_plain_lines() -> None:
    d = Decoder()
    assert isinstance(d.decode(b'{"event": "env", "torch": "2.4"}'), EnvRecord)
    assert isinstance(d.decode(b'{"event": "final", "steps": 9}'), FinalRecord)
    rec = d.decode(b"Epoch 1: warning, something")
    assert isinstance(rec, TextRecord) and rec.text.startswith("Epoch")
    assert d.oddities.total() == 0


def test_python_nan_and_infinity_are_counted_not_stored() -> None:
    d = Decoder()
    rec = d.decode(json.dumps({"step": 1, "loss": float("nan"), "acc": float("inf"), "x": 2}).encode())
    assert isinstance(rec, MetricRecord) and rec.values == {"x": 2.0}
    assert d.oddities.non_finite == 2


def test_malformed_json_is_kept_as_text_and_counted() -> None:
    d = Decoder()
    rec = d.decode(b'{"step": 1, "loss": ')
    assert isinstance(rec, TextRecord) and d.oddities.malformed_json == 1


def test_wrong_step_types_and_backwards_steps() -> None:
    d = Decoder()
    assert isinstance(d.decode(b'{"step": "x", "loss": 1}'), TextRecord)
    assert isinstance(d.decode(b'{"loss": 1}'), TextRecord)
    assert isinstance(d.decode(b'{"step": 5.0, "loss": 1}'), MetricRecord)
    d.decode(b'{"step": 4, "loss": 1}')
    o = d.oddities
    assert (o.wrong_type, o.missing_step, o.step_backwards) == (1, 1, 1)


def test_invalid_utf8_and_huge_numbers() -> None:
    d = Decoder()
    rec = d.decode(b"\xff\xfe plain")
    assert isinstance(rec, TextRecord) and "\ufffd" in rec.text and d.oddities.invalid_utf8 == 1
    rec = d.decode(b'{"step": 1, "big": 1' + b"0" * 400 + b"}")
    assert isinstance(rec, MetricRecord) and "big" not in rec.values


def test_absurd_steps_are_wrong_types_not_crashes() -> None:
    from abtui.store import Store

    arm = Store().add_run("A", "A")
    arm.ingest(b'{"step": 1' + b"0" * 400 + b', "loss": 1.0}', 0.0)
    arm.ingest(b'{"step": 1e300, "loss": 1.0}', 0.0)
    arm.ingest_many([b'{"step": 2, "loss": 1.0}', b'{"step": 9' + b"9" * 330 + b', "loss": 2}'], 0.0)
    assert arm.step == 2 and arm.decoder.oddities.wrong_type == 3


def test_deep_nesting_does_not_crash() -> None:
    d = Decoder()
    rec = d.decode(b'{"step": 1, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert rec is not None


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_bytes_decode_without_raising(raw: bytes) -> None:
    Decoder().decode(raw)


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.booleans(), st.integers(),
                                                      st.floats(), st.text(max_size=5)), max_size=6))
def test_any_json_object_decodes_without_raising(obj: dict) -> None:
    Decoder().decode(json.dumps(obj).encode())
