"""Per-run metrics from synthetic series: warm-up, step time, memory, time to target, energy."""

from __future__ import annotations

import json

import pytest

from abtui.compare import stats
from abtui.compare.summary import (
    aggregate,
    steady_state,
    summarize_run,
    time_to_target,
    warmup_rule,
)
from abtui.store import RunState


def make_state(records: list[dict], *, run_id: str = "A", t0: float = 1000.0, dt: float = 0.5,
               final: dict | None = None, status: str = "done", total_steps: int | None = None) -> RunState:
    """An RunState fed real protocol lines, one every ``dt`` seconds after an env record at t0."""
    state = RunState(run_id, run_id.split(".")[0], total_steps=total_steps)
    state.ingest(b'{"event": "env", "python": "3.11"}', t0)
    t = t0
    for rec in records:
        t += dt
        state.ingest(json.dumps(rec).encode(), t)
    if final is not None:
        state.ingest(json.dumps({"event": "final", **final}).encode(), t)
    state.status = status
    return state


def test_warmup_rule_spec_value_else_ten_percent() -> None:
    assert warmup_rule(25, 1000).cutoff_step == 25
    assert "warmup_steps" in warmup_rule(25, 1000).text
    rule = warmup_rule(None, 1000)
    assert rule.cutoff_step == 100
    assert "10 %" in rule.text and "first record" in rule.text
    assert warmup_rule(None, None, last_step=50).cutoff_step == 5


def test_steady_state_always_drops_the_first_record() -> None:
    steps, values = [5.0, 6.0, 7.0], [1.0, 100.0, 101.0]
    assert steady_state(steps, values, cutoff_step=0).tolist() == [100.0, 101.0]
    assert steady_state(steps, values, cutoff_step=6).tolist() == [101.0]
    # a rule that leaves nothing (the run died in warm-up) falls back to all but the first
    assert steady_state(steps, values, cutoff_step=100).tolist() == [100.0, 101.0]
    assert steady_state([1.0], [3.0], 10).tolist() == [3.0]


def test_slow_first_records_do_not_drag_throughput_or_step_time() -> None:
    records = []
    for s in range(1, 101):
        slow = s <= 10  # warm-up: compile, allocator, data-loader start
        records.append({"step": s, "throughput_samples_per_sec": 10.0 if slow else 200.0 + s % 3,
                        "step_time_ms": 900.0 if slow else 50.0 + s % 5})
    m = summarize_run(make_state(records), total_steps=100).metrics.to_report()
    assert m["throughput_median"] == pytest.approx(201.0)
    assert m["throughput_records"] == 90
    assert m["step_time_p95_ms"] < 60  # with the warm-up in, p95 would be 900
    assert m["step_time_p50_ms"] == pytest.approx(52.0)
    assert m["warmup_cutoff_step"] == 10

    one_slow = [{"step": s, "throughput_samples_per_sec": 1.0 if s == 1 else 100.0,
                 "step_time_ms": 1000.0 if s == 1 else 100.0} for s in range(1, 21)]
    m = summarize_run(make_state(one_slow), warmup_steps=0).metrics.to_report()
    assert m["step_time_p95_ms"] == 100.0
    assert m["throughput_records"] == 19


def test_time_to_target_uses_the_smoothed_curve() -> None:
    steps = [float(s) for s in range(1, 101)]
    loss = [2.0 * 0.95 ** s for s in range(1, 101)]
    times = [100.0 + s for s in range(1, 101)]
    hit = time_to_target(steps, loss, times, target=0.5, lower_is_better=True, t0=100.0)
    assert hit is not None
    smoothed = stats.ema(loss, 0.1)
    first = next(i for i, v in enumerate(smoothed) if v <= 0.5)
    assert hit == (steps[first], times[first] - 100.0)
    raw_first = next(i for i, v in enumerate(loss) if v <= 0.5)
    assert first > raw_first  # smoothing lags: a noisy dip cannot count as reaching the target
    assert time_to_target(steps, loss, times, target=0.001, lower_is_better=True) is None
    acc = [s / 100 for s in range(1, 101)]
    step, _ = time_to_target(steps, acc, times, target=0.8, lower_is_better=False)
    assert 80 < step < 100


def test_a_single_noisy_dip_does_not_reach_the_target() -> None:
    loss = [1.0] * 50
    loss[10] = 0.1
    steps = [float(s) for s in range(50)]
    assert time_to_target(steps, loss, steps, target=0.5, lower_is_better=True) is None


def test_summary_of_a_full_run() -> None:
    records = [{"step": s, "loss": 2.0 * 0.97 ** s, "accuracy": min(0.95, 0.01 * s),
                "rss_mb": 300.0 + s, "throughput_samples_per_sec": 50.0} for s in range(1, 101)]
    state = make_state(records, final={"wall_time_s": 61.5, "samples": 6400}, total_steps=100)
    m = summarize_run(state, target_loss=0.5, target_accuracy=0.8,
                      energy={"energy_j": 3200.0}).metrics.to_report()
    assert (m["peak_memory"], m["memory_metric"], m["memory_unit"]) == (400.0, "rss_mb", "MB")
    assert m["accuracy_best"] == 0.95 and m["accuracy_final"] == 0.95
    assert m["final_loss_raw"] == pytest.approx(2.0 * 0.97 ** 100)
    assert m["final_loss_smoothed"] == pytest.approx(stats.ema([r["loss"] for r in records], 0.1)[-1])
    assert m["final_loss_smoothed"] > m["final_loss_raw"]  # a falling curve: the EMA lags above
    assert (m["wall_time_s"], m["wall_time_source"]) == (61.5, "final record")
    assert m["steps_to_target_loss"] is not None and m["time_to_target_loss_s"] > 0
    assert m["steps_to_target_accuracy"] is not None
    assert m["energy_per_sample_j"] == pytest.approx(0.5)
    assert m["status"] == "done" and m["records"] == 100


def test_gpu_memory_wins_and_wall_time_falls_back_to_receive_times() -> None:
    records = [{"step": s, "gpu_memory_mb": 4000.0 + s, "rss_mb": 9000.0} for s in range(1, 11)]
    m = summarize_run(make_state(records, dt=2.0)).metrics.to_report()
    assert (m["peak_memory"], m["memory_metric"]) == (4010.0, "gpu_memory_mb")
    assert (m["wall_time_s"], m["wall_time_source"]) == (20.0, "receive times")
    assert m["throughput_median"] is None and m["final_loss_smoothed"] is None
    assert m["energy_per_sample_j"] is None


def test_aggregate_uses_finished_runs_only() -> None:
    recs = lambda tp: [{"step": s, "throughput_samples_per_sec": tp} for s in range(1, 21)]  # noqa: E731
    runs = [summarize_run(make_state(recs(100.0), run_id="A.r0")),
            summarize_run(make_state(recs(110.0), run_id="A.r1")),
            summarize_run(make_state(recs(5.0), run_id="A.r2", status="failed"))]
    agg = aggregate(runs).to_report()
    assert agg["runs"] == 3 and agg["runs_used"] == ["A.r0", "A.r1"]
    for key in ("throughput", "throughput_median"):
        tp = agg[key]
        assert (tp["mean"], tp["min"], tp["max"], tp["n"]) == pytest.approx((105.0, 100.0, 110.0, 2))
        assert tp["sd"] == pytest.approx(7.0710678)
    # a t interval over two runs is wide (t_0.975 with 1 df is 12.7): that is what two runs say
    ci = agg["throughput_ci"]
    assert ci["lo"] == pytest.approx(105.0 - 12.7062047 * 5.0) and ci["calibrated"] is True
