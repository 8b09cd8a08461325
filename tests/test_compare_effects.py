"""Effects of an arm against the baseline: replicated and n = 1 paths, sentences, verdict."""

from __future__ import annotations

import json
import random
import re

import pytest
import scipy.stats

from abtui.compare.effects import compare_arm
from abtui.compare.summary import RunSummary, summarize_run
from abtui.compare.verdict import comparison_sentences, effect_sentence, verdict_line
from abtui.store import ArmState


def make_state(records: list[dict], run_id: str, status: str) -> ArmState:
    state = ArmState(run_id, run_id.split(".")[0])
    for i, rec in enumerate(records):
        state.ingest(json.dumps(rec).encode(), 1000.0 + 0.5 * i)
    state.status = status
    return state


def run(run_id: str, *, tp: float, loss: float, acc: float, mem: float = 4000.0, seed: int = 0,
        records: int = 60, status: str = "done", noise: float = 1.0) -> RunSummary:
    rng = random.Random(seed)
    recs = [{"step": s, "throughput_samples_per_sec": tp + rng.gauss(0, noise),
             "step_time_ms": 64000.0 / tp + rng.gauss(0, 0.5), "gpu_memory_mb": mem,
             "loss": loss + rng.gauss(0, 0.001), "accuracy": acc} for s in range(1, records + 1)]
    return summarize_run(make_state(recs, run_id=run_id, status=status), target_loss=loss + 0.01)


def replicated(arm: str, tp: list[float], acc: list[float], mem: float = 4000.0) -> list[RunSummary]:
    return [run(f"{arm}.r{i}", tp=t, loss=0.5, acc=a, mem=mem, seed=i + (arm == "B") * 10)
            for i, (t, a) in enumerate(zip(tp, acc, strict=True))]


def test_replicated_effects_have_intervals_and_scipy_p_values() -> None:
    base = replicated("A", [100.0, 102.0, 99.0], [0.900, 0.905, 0.895])
    arm = replicated("B", [123.0, 125.0, 121.0], [0.915, 0.890, 0.920], mem=3500.0)
    comp = compare_arm(base, arm, arm="B", baseline="A", time_target="time_to_target_loss_s")
    tp = comp.effects["throughput_ratio"]
    a = [r.metrics["throughput_median"] for r in base]
    b = [r.metrics["throughput_median"] for r in arm]
    assert tp.value == pytest.approx(sum(b) / sum(a))
    assert tp.ci[0] < tp.value < tp.ci[1] and tp.ci[0] > 1.0
    assert tp.significant is True
    assert tp.p_value == pytest.approx(scipy.stats.ttest_ind(b, a, equal_var=False).pvalue, abs=1e-6)
    assert tp.n == {"baseline": 3, "arm": 3}
    assert "bootstrap" in tp.method and "Welch" in tp.method

    acc = comp.effects["accuracy_delta"]
    assert acc.value == pytest.approx((0.915 + 0.890 + 0.920) / 3 - (0.900 + 0.905 + 0.895) / 3)
    assert acc.ci[0] < 0 < acc.ci[1] and acc.significant is False
    assert comp.effects["memory_ratio"].value == pytest.approx(0.875)

    sentences = comparison_sentences(comp)
    assert re.fullmatch(r"throughput \+2\d % \(95 % CI \+\d+…\+\d+ %\)", sentences[0]), sentences[0]
    acc_line = next(s for s in sentences if s.startswith("accuracy"))
    assert re.fullmatch(r"accuracy \+\d\.\d pp \(95 % CI −\d\.\d…\+\d\.\d pp, "
                        r"not significant with 3 seeds\)", acc_line), acc_line


def test_n1_throughput_interval_from_records_and_no_interval_for_quality() -> None:
    base = [run("A", tp=100.0, loss=0.50, acc=0.90, seed=1)]
    arm = [run("B", tp=130.0, loss=0.45, acc=0.92, seed=2)]
    comp = compare_arm(base, arm, arm="B", baseline="A", time_target=None)
    tp = comp.effects["throughput_ratio"]
    assert tp.ci is not None and tp.ci[0] < 1.3 < tp.ci[1] and tp.significant
    assert tp.method.startswith("n = 1") and "block bootstrap" in tp.method
    for name in ("loss_delta", "accuracy_delta"):
        eff = comp.effects[name]
        assert eff.value is not None and eff.ci is None and eff.significant is None
        assert eff.note == "n = 1: no interval for quality metrics"
    assert comp.effects["memory_ratio"].ci is None
    assert comp.effects["time_to_target_ratio"].value is None
    assert any("n = 1: no interval for quality metrics" in n for n in comp.notes)
    sentences = comparison_sentences(comp)
    assert any(s.startswith("accuracy +2.0 pp (n = 1: no interval") for s in sentences)
    assert not any(s.startswith("time to target") for s in sentences)  # no target in the spec


def test_failed_runs_are_left_out_and_target_not_reached_is_said() -> None:
    base = [run("A.r0", tp=100.0, loss=0.5, acc=0.9, seed=1),
            run("A.r1", tp=101.0, loss=0.5, acc=0.9, seed=2)]
    arm = [run("B.r0", tp=120.0, loss=0.5, acc=0.9, seed=3),
           run("B.r1", tp=121.0, loss=0.5, acc=0.9, seed=4),
           run("B.r2", tp=1.0, loss=9.0, acc=0.1, seed=5, status="failed")]
    comp = compare_arm(base, arm, arm="B", baseline="A", time_target="time_to_accuracy_s")
    assert comp.runs["arm"] == ["B.r0", "B.r1"]
    assert "B.r2 left out (failed)" in comp.notes
    assert comp.effects["throughput_ratio"].value == pytest.approx(120.5 / 100.5, rel=0.02)
    ttt = comp.effects["time_to_target_ratio"]
    assert ttt.value is None and ttt.note.startswith("target not reached by")


def test_effect_sentence_for_a_ratio_without_interval() -> None:
    base = [run("A", tp=100.0, loss=0.5, acc=0.9, mem=4000.0)]
    arm = [run("B", tp=100.0, loss=0.5, acc=0.9, mem=3000.0)]
    eff = compare_arm(base, arm, arm="B", baseline="A").effects["memory_ratio"]
    assert effect_sentence(eff) == ("peak memory −25 % (4000 → 3000 MB; "
                                    "n = 1: a single value per arm, no interval)")


def test_verdict_line_mentions_gates_fairness_and_failures() -> None:
    comp = {"arm": "B", "baseline": "A", "metrics": {
        "throughput_ratio": {"value": 1.23, "ci": [1.2, 1.26], "significant": True},
        "accuracy_delta": {"value": 0.014, "ci": [-0.003, 0.031], "significant": False,
                           "baseline_value": 0.9, "arm_value": 0.914}}}
    line = verdict_line([comp], [{"passed": True}, {"passed": False}],
                        {"fair": False, "reasons": ["torch 2.3 vs 2.4"]}, ["B.r2"])
    assert line.startswith("B vs A: throughput +23 % (significant), accuracy +1.4 pp (n.s.)")
    assert "gates: 1 of 2 FAILED" in line
    assert "NOT a fair comparison: torch 2.3 vs 2.4" in line
    assert "B.r2" in line
    assert "fairness not checked" in verdict_line([comp], [], {"fair": True, "checked": False})
