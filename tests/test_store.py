"""Store: series views are bounded and right; arm state folds records in."""

from __future__ import annotations

import math

from abtui.store import BUCKETS, ArmStatus, Series, Store


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
    arm = store.add_arm("A", "A", total_steps=100)
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
