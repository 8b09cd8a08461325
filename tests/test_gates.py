"""Gates: parsing, clear errors, and checks against the interval bound, not only the point."""

from __future__ import annotations

import pytest

from abtui.compare import GATE_METRICS, GateError, parse_gate, parse_gates
from abtui.compare import evaluate_gates as gates_of
from abtui.compare.effects import Comparison, Effect
from abtui.infra.errors import EXIT_USAGE, AbtuiError


def report(**arms: dict) -> list[Comparison]:
    """One comparison with baseline A per arm: ``arms[arm][metric] = (value, ci or None)``."""
    return [Comparison(arm, "A", {name: Effect(name, v, tuple(ci) if ci else None,
                                               calibrated=bool(ci))
                                  for name, (v, ci) in metrics.items()}, runs={})
            for arm, metrics in arms.items()]


def evaluate_gates(comparisons: list[Comparison], gates: list[str], point: bool = False) -> list:
    return gates_of(comparisons, gates, baseline="A", point=point)


def test_parse_gate_forms() -> None:
    g = parse_gate("throughput_ratio >= 0.97")
    assert (g.metric, g.op, g.threshold, g.arm) == ("throughput_ratio", ">=", 0.97, None)
    g = parse_gate("  B.accuracy_delta>=-0.005 ")
    assert (g.arm, g.metric, g.threshold) == ("B", "accuracy_delta", -0.005)
    assert parse_gate("arm.v2.memory_ratio < 1.1").arm == "arm.v2"
    assert str(parse_gate("loss_delta<=1e-3")) == "loss_delta <= 0.001"


@pytest.mark.parametrize("text", ["throughput >= 0.97", "B.speed > 1"])
def test_unknown_metric_lists_the_known_ones(text: str) -> None:
    with pytest.raises(GateError) as info:
        parse_gate(text)
    assert isinstance(info.value, AbtuiError) and info.value.exit_code == EXIT_USAGE
    msg = str(info.value)
    assert "unknown metric" in msg
    for name in GATE_METRICS:
        assert name in msg


@pytest.mark.parametrize(("text", "words"), [
    ("throughput_ratio", "expected"), ("throughput_ratio >= ", "expected"),
    (">= 0.97", "expected"), ("throughput_ratio => 0.97", "expected"),
    ("throughput_ratio == 1", "not supported"), ("throughput_ratio >= fast", "not a number"),
    ("throughput_ratio >= nan", "finite"), ("", "expected"),
])
def test_bad_syntax_is_a_usage_error(text: str, words: str) -> None:
    with pytest.raises(GateError, match=words) as info:
        parse_gate(text)
    assert info.value.exit_code == 2


def test_parse_gates_drops_duplicates_and_stops_at_the_first_bad_one() -> None:
    assert len(parse_gates(["throughput_ratio >= 0.97", "throughput_ratio>=0.97"])) == 1
    with pytest.raises(GateError):
        parse_gates(["throughput_ratio >= 0.97", "nonsense"])


def test_gate_passes_on_the_point_but_fails_on_the_bound() -> None:
    rep = report(B={"throughput_ratio": (1.01, (0.95, 1.07))})
    [res] = evaluate_gates(rep, ["throughput_ratio >= 0.97"])
    assert not res.passed
    check = res.checks[0]
    assert (check.used, check.bound, check.value) == ("ci_lower", 0.95, 1.01)
    assert res.line == "FAIL throughput_ratio >= 0.97 (B: 1.01, CI lower 0.95)"


def test_upper_bound_for_less_than_and_no_calibrated_interval_fails_closed() -> None:
    rep = report(B={"memory_ratio": (0.90, (0.85, 0.96)), "loss_delta": (0.002, None)})
    mem, loss = evaluate_gates(rep, ["memory_ratio <= 0.95", "loss_delta <= 0.01"])
    assert not mem.passed and mem.checks[0].used == "ci_upper"
    assert not loss.passed and loss.checks[0].used == "not calibrated"
    assert loss.line.startswith("FAIL loss_delta <= 0.01 (B: 0.002, failed closed: no calibrated "
                                "interval (n = 1: run-to-run variation not measured)")
    assert "--gate-point" in loss.line
    [loss] = evaluate_gates(rep, ["loss_delta <= 0.01"], point=True)
    assert loss.passed and loss.checks[0].used == "point"
    assert loss.line.startswith("PASS loss_delta <= 0.01 (B: 0.002, point estimate (--gate-point")


def test_a_within_run_interval_is_not_gated_on() -> None:
    rep = report(B={"throughput_ratio": (1.30, (1.25, 1.35))})
    rep[0].effects["throughput_ratio"].calibrated = False  # n = 1
    [res] = evaluate_gates(rep, ["throughput_ratio >= 0.97"])
    assert not res.passed and res.checks[0].used == "not calibrated"
    [res] = evaluate_gates(rep, ["throughput_ratio >= 0.97"], point=True)
    assert res.passed and res.checks[0].bound == 1.30


def test_a_gate_without_arm_must_hold_for_every_arm_and_can_name_one() -> None:
    rep = report(B={"throughput_ratio": (1.21, (1.18, 1.24))},
                 C={"throughput_ratio": (0.90, (0.88, 0.93))})
    [all_arms] = evaluate_gates(rep, ["throughput_ratio >= 0.97"])
    assert not all_arms.passed and [c.passed for c in all_arms.checks] == [True, False]
    assert "B: 1.21, CI lower 1.18" in all_arms.line and "C: 0.9" in all_arms.line
    [only_b] = evaluate_gates(rep, ["B.throughput_ratio >= 0.97"])
    assert only_b.passed and only_b.line == "PASS B.throughput_ratio >= 0.97 (B: 1.21, CI lower 1.18)"


def test_missing_value_fails_and_unknown_arm_is_a_usage_error() -> None:
    rep = report(B={"time_to_target_ratio": (None, None)})
    [res] = evaluate_gates(rep, ["time_to_target_ratio <= 1.0"])
    assert not res.passed and res.checks[0].used == "no value"
    with pytest.raises(GateError, match="baseline"):
        evaluate_gates(rep, ["A.throughput_ratio >= 1"])
    with pytest.raises(GateError, match="not a compared arm"):
        evaluate_gates(rep, ["Z.throughput_ratio >= 1"])
    d = res.to_dict()
    assert set(d) == {"gate", "text", "arm", "metric", "op", "threshold", "passed", "line", "checks",
                      "blocked"}
