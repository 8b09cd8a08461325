"""Store: series views are bounded and right; arm state folds records in."""

from __future__ import annotations

import json
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abtui.store import BUCKETS, ArmStatus, RunState, Series, Store


def test_view_is_exact_when_small() -> None:
    s = Series()
    for i in range(10):
        s.append(i, float(i * i), 100.0 + i)
    v = s.view(width=100)
    assert v.x == [float(i) for i in range(10)]
    assert v.y == [float(i * i) for i in range(10)]
    vt = s.view(width=100, by_time=True, t0=100.0)
    assert vt.x[0] == 0.0 and vt.x[-1] == 9.0


def test_view_of_a_long_run_is_bounded_and_keeps_mean_min_max() -> None:
    s = Series()
    n = 200_000
    for i in range(n):
        s.append(i, math.sin(i / 1000.0), float(i))
    assert len(s) == n
    assert len(s._bn) <= BUCKETS
    v = s.view(width=120)
    assert len(v.x) <= 120
    assert min(v.lo) == min(s.values) and max(v.hi) == max(s.values)
    # the mean of everything survives downsampling
    total = sum(y * c for y, c in zip(v.y, _counts(s, 120), strict=True))
    assert abs(total / n - sum(s.values) / n) < 1e-9


def _counts(s: Series, width: int) -> list[int]:
    n = len(s._bn)
    group = max(1, math.ceil(n / width))
    return [sum(s._bn[i:i + group]) for i in range(0, n, group)]


def test_smoothing_reduces_noise_and_is_zoom_independent() -> None:
    import random

    rng = random.Random(0)
    s = Series()
    for i in range(1000):
        s.append(i, 1.0 + rng.uniform(-0.5, 0.5), float(i))
    raw = s.view(width=1000)
    smooth = s.view(width=1000, smoothing=0.9)
    spread = lambda ys: max(ys[100:]) - min(ys[100:])  # noqa: E731
    assert spread(smooth.y) < 0.5 * spread(raw.y)
    # the same smoothing seen through a narrower window (bigger buckets) stays close
    narrow = s.view(width=100, smoothing=0.9)
    assert abs(narrow.y[-1] - smooth.y[-1]) < 0.1


def test_arm_state_folds_records_and_computes_eta() -> None:
    store = Store()
    arm = store.add_run("A", "A", total_steps=100)
    arm.ingest(b'{"event": "env", "torch": "2.4"}', 0.0)
    arm.ingest(b'{"step": 10, "loss": 2.0}', 10.0)
    arm.ingest(b"a plain warning", 11.0)
    arm.ingest(b'{"step": 50, "loss": 1.0}', 50.0)
    assert arm.env == {"event": "env", "torch": "2.4"}
    assert arm.step == 50 and arm.last["loss"] == 1.0 and arm.peak["loss"] == 2.0
    assert arm.log_count == 1 and arm.recent_logs()[0][1] == "a plain warning"
    assert arm.eta_s() == 50.0
    v0 = store.version
    arm.ingest(b'{"step": 51, "loss": 1.0}', 51.0)
    assert store.version > v0
    assert store.metric_names() == ["loss"]
    assert not store.all_ended()
    arm.status = ArmStatus.DONE
    assert store.all_ended()


def _columns(s: Series) -> tuple:
    """Every number a series holds, bit for bit (repr tells 0.0 from -0.0)."""
    return tuple(repr(list(a)) for a in (s.steps, s.values, s.times, s._bx, s._bt, s._bsum,
                                        s._bmin, s._bmax, s._bn)) + (s._size,)


_VALUES = st.lists(st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32),
                             st.sampled_from([0.0, -0.0, 1.0, -1.0])), max_size=400)


@settings(max_examples=60, deadline=None)
@given(_VALUES, st.lists(st.integers(1, 300), max_size=8), st.integers(0, 5000))
def test_extend_equals_append_bit_for_bit(values: list[float], cuts: list[int], pre: int
                                          ) -> None:
    """Any batching, ties of 0.0 and -0.0, buckets merging: the same columns as appends."""
    one, many = Series(), Series()
    for k in range(pre):  # a long history: buckets bigger than one point
        one.append(k, k % 7 - 3.0, k)
        many.append(k, k % 7 - 3.0, k)
    steps = [float(pre + k) for k in range(len(values))]
    for k, v in enumerate(values):
        one.append(steps[k], v, steps[k] / 2)
    i = 0
    for size in [*cuts, len(values)]:
        j = min(len(values), i + size)
        if j > i:
            top = many.extend(steps[i:j], tuple(values[i:j]), [x / 2 for x in steps[i:j]])
            assert top == max(values[i:j])
        i = j
    assert _columns(many) == _columns(one)


def test_extend_refuses_non_numbers_all_or_nothing() -> None:
    s = Series()
    with pytest.raises(TypeError):
        s.extend([1.0, 2.0], (1.0, "x"), [0.0, 0.0])
    assert len(s) == 0 and len(s.steps) == 0


def _fingerprint(arm) -> tuple:  # type: ignore[no-untyped-def]
    return (arm.lines, arm.step, arm.last, arm.peak, arm.log_count, list(arm.logs),
            arm.env, arm.final, arm.oddities,
            {name: _columns(s) for name, s in sorted(arm.series.items())})


def test_ingest_many_equals_ingest_line_by_line() -> None:
    """Batches with missing metrics, new keys, odd lines, per-line times: the same state."""
    rng = random.Random(5)
    lines = []
    for step in range(1, 6000):
        rec = {"step": step, "loss": rng.random(), "lr": 1e-3}
        if step % 97 == 0:
            del rec["lr"]
        if step > 3000:
            rec["accuracy"] = rng.choice([0.0, -0.0, 0.5])
        lines.append(json.dumps(rec).encode())
        if step % 500 == 0:
            lines += [b"plain text", b'{"step": 3, "loss": 1}', b'{"event": "final", "steps": 1}']
    times = [1.7e9 + k for k in range(len(lines))]
    ref, arm = RunState("A", "A"), RunState("A", "A")
    for raw, t in zip(lines, times, strict=True):
        ref.ingest(raw, t)
    i = 0
    while i < len(lines):
        j = i + rng.randint(1, 900)
        arm.ingest_many(lines[i:j], times[i:j] if j % 2 else times[i])
        if j % 2 == 0:
            times[i:j] = [times[i]] * len(times[i:j])
        i = j
    ref2 = RunState("A", "A")
    for raw, t in zip(lines, times, strict=True):
        ref2.ingest(raw, t)
    assert _fingerprint(arm) == _fingerprint(ref2)
    assert arm.oddities["step_backwards"] == ref.oddities["step_backwards"] > 0


def test_extend_keeps_the_first_of_equal_extremes_like_append() -> None:
    """0.0 and -0.0 are equal: min and max keep the first seen, so must a batch."""
    values = [-1.0] * 20 + [0.0, -0.0] + [-2.0] * 20 + [-0.0, 0.0] + [-3.0] * 30
    for pre in (0, 40_000, 70_000):  # buckets of 1, 32 and 64 points
        one, many = Series(), Series()
        for k in range(pre):
            one.append(k, -5.0, k)
            many.append(k, -5.0, k)
        for k, v in enumerate(values):
            one.append(pre + k, v, 0.0)
        many.extend([float(pre + k) for k in range(len(values))], tuple(values),
                    [0.0] * len(values))
        assert _columns(many) == _columns(one)
        assert [repr(v) for v in many._bmax] == [repr(v) for v in one._bmax]


def test_metrics_every_line_carries_share_the_arms_step_and_time_columns() -> None:
    """Held once per arm, not once per metric; a metric a line lacks gets its own copy."""
    arm = RunState("A", "A")
    lines = [json.dumps({"step": s, "loss": 1 / s, "lr": 0.1}).encode() for s in range(1, 500)]
    lines[300] = json.dumps({"step": 301, "loss": 0.5}).encode()  # no lr here
    lines += [json.dumps({"step": 600, "loss": 0.1, "lr": 0.1, "acc": 0.5}).encode()]
    arm.ingest_many(lines[:200], 1.0)
    assert arm.series["loss"].steps is arm.series["lr"].steps is arm.clock[0]
    arm.ingest_many(lines[200:], 2.0)
    loss, lr, acc = arm.series["loss"], arm.series["lr"], arm.series["acc"]
    assert loss.shared and loss.steps is arm.clock[0] and len(loss.steps) == 500
    assert not lr.shared and 301.0 not in lr.steps and len(lr.steps) == len(lr.values) == 499
    assert not acc.shared and list(acc.steps) == [600.0] and list(acc.times) == [2.0]
    assert list(loss.times[:200]) == [1.0] * 200 and list(loss.times[200:]) == [2.0] * 300


def test_a_runs_status_moves_only_as_a_run_lives() -> None:
    """One writer (``RunState.move``) and one table: an ended run never comes back to life
    (a late "running" from a slow thread is refused), an ended one may say more (failed,
    then oom-killed), and a word that is no status is never shown."""
    from abtui.store import ArmStatus, RunState

    st = RunState("a", "a")
    assert st.move(ArmStatus.STARTING) and st.move(ArmStatus.RUNNING)
    assert st.move(ArmStatus.STALLED) and st.move(ArmStatus.RUNNING)
    assert st.move(ArmStatus.FAILED)
    assert not st.move(ArmStatus.RUNNING) and st.status == ArmStatus.FAILED
    assert st.move(ArmStatus.OOM) and st.status == ArmStatus.OOM
    assert not st.move("\x1b[2Jpwned") and st.status == ArmStatus.OOM
    back = RunState("b", "b")
    assert back.move(ArmStatus.DETACHED) and back.move(ArmStatus.RUNNING)
    assert not back.move(ArmStatus.PENDING)
