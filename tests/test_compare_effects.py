"""Effects of an arm against the baseline: replicated and n = 1 paths, sentences, verdict."""

from __future__ import annotations

import json
import math
import random
import re

import numpy as np
import pytest
import scipy.stats

from abtui.compare.effects import N1_WARNING, Comparison, Effect, compare_arm
from abtui.compare.gates import GateResult, parse_gate
from abtui.compare.summary import RunSummary, summarize_run
from abtui.compare.verdict import comparison_sentences, effect_sentence, verdict_line
from abtui.diff.fairness import CONFOUNDED, FAIR, NOT_CHECKED, Fairness
from abtui.store import RunState


def make_state(records: list[dict], run_id: str, status: str) -> RunState:
    state = RunState(run_id, run_id.split(".")[0])
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


def test_replicated_effects_have_t_intervals_and_scipy_p_values() -> None:
    base = replicated("A", [100.0, 102.0, 99.0], [0.900, 0.905, 0.895])
    arm = replicated("B", [123.0, 125.0, 121.0], [0.915, 0.890, 0.920], mem=3500.0)
    comp = compare_arm(base, arm, arm="B", baseline="A", time_target="time_to_target_loss_s")
    tp = comp.effects["throughput_ratio"]
    a = np.log([r.metrics.throughput for r in base])
    b = np.log([r.metrics.throughput for r in arm])
    ref = scipy.stats.ttest_ind(b, a, equal_var=False)
    assert tp.value == pytest.approx(math.exp(b.mean() - a.mean()))
    assert tp.ci[0] < tp.value < tp.ci[1] and tp.ci[0] > 1.0
    assert tp.ci == pytest.approx(tuple(np.exp(ref.confidence_interval(0.95))))
    assert tp.significant is True and tp.calibrated is True
    assert tp.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert tp.n == {"baseline": 3, "arm": 3}
    assert "Welch t on log values" in tp.method
    assert tp.mde is not None and tp.mde > 0

    acc = comp.effects["accuracy_delta"]
    assert acc.value == pytest.approx((0.915 + 0.890 + 0.920) / 3 - (0.900 + 0.905 + 0.895) / 3)
    assert acc.ci[0] < 0 < acc.ci[1] and acc.significant is False
    assert acc.replicates_needed is not None and acc.replicates_needed > 3
    assert comp.effects["memory_ratio"].value == pytest.approx(0.875)

    sentences = comparison_sentences(comp)
    assert re.fullmatch(r"throughput \+2\d % \(95 % CI \+\d+…\+\d+ %, p < 0\.001, "
                        r"3 vs 3 runs; significant; P\(a run beats the baseline's\) 1\.00 "
                        r"\(95 % CI 0\.44…1\.00\)\)", sentences[0]), sentences[0]
    # every run of the arm beat every run of the baseline: P 1, Wilson's interval over 3
    assert comp.effects["throughput_ratio"].p_better == 1.0
    acc_line = next(s for s in sentences if s.startswith("accuracy"))
    assert re.fullmatch(r"accuracy \+\d\.\d pp \(95 % CI −\d\.\d…\+\d\.\d pp, p = 0\.\d+, "
                        r"3 vs 3 runs; not significant; P\(a run beats the baseline's\) "
                        r"\d\.\d\d \(95 % CI \d\.\d\d…\d\.\d\d\); smallest change detectable at 80 % power "
                        r"±\d\.\d pp; about \d+ runs per arm would detect the observed effect\)",
                        acc_line), acc_line


def test_the_reported_false_positive_is_not_significant() -> None:
    """baseline [100, 102] vs arm [103, 105] was called "+3.0 % (significant)"; p = 0.17."""
    base = [run(f"A.r{i}", tp=t, loss=0.5, acc=0.9, seed=i, noise=0.0)
            for i, t in enumerate((100.0, 102.0))]
    arm = [run(f"B.r{i}", tp=t, loss=0.5, acc=0.9, seed=i + 5, noise=0.0)
           for i, t in enumerate((103.0, 105.0))]
    tp = compare_arm(base, arm, arm="B", baseline="A").effects["throughput_ratio"]
    assert tp.significant is False
    assert tp.p_value == pytest.approx(
        scipy.stats.ttest_ind(np.log([103, 105]), np.log([100, 102]), equal_var=False).pvalue)
    sentence = effect_sentence(tp)
    assert sentence.startswith("throughput +3.0 % (95 % CI ") and "p = 0.17" in sentence
    assert "2 vs 2 runs; not significant" in sentence


def test_n1_is_never_significant_and_says_what_it_is() -> None:
    base = [run("A", tp=100.0, loss=0.50, acc=0.90, seed=1)]
    arm = [run("B", tp=130.0, loss=0.45, acc=0.92, seed=2)]
    comp = compare_arm(base, arm, arm="B", baseline="A", time_target=None)
    tp = comp.effects["throughput_ratio"]
    assert tp.ci is not None and tp.ci[0] < tp.value < tp.ci[1]
    assert tp.significant is None and tp.calibrated is False and tp.p_value is None
    assert tp.method.startswith("n = 1: within-run noise only")
    for name in ("loss_delta", "accuracy_delta", "memory_ratio", "step_time_ratio"):
        eff = comp.effects[name]
        assert eff.value is not None and eff.ci is None and eff.significant is None
        assert eff.note.startswith("n = 1: a single value per arm")
    assert comp.effects["time_to_target_ratio"].value is None
    assert any(N1_WARNING in n for n in comp.notes)
    sentences = comparison_sentences(comp)
    assert re.match(r"throughput \+29\.\d % \(within-run 95 % CI ", sentences[0]), sentences[0]
    assert sentences[0].endswith("run-to-run variation not measured — use replicates ≥ 3)")
    assert not any("significant" in s for s in sentences)
    assert not any(s.startswith("time to target") for s in sentences)  # no target in the spec
    line = verdict_line([comp], [], Fairness(FAIR))
    assert "significant" not in line
    assert line.startswith("B vs A: throughput +29.8 %, loss −0.050, accuracy +2.0 pp (n = 1: "
                           "within-run noise only")


def test_failed_runs_are_left_out_and_target_not_reached_is_said() -> None:
    base = [run("A.r0", tp=100.0, loss=0.5, acc=0.9, seed=1),
            run("A.r1", tp=101.0, loss=0.5, acc=0.9, seed=2)]
    arm = [run("B.r0", tp=120.0, loss=0.5, acc=0.9, seed=3),
           run("B.r1", tp=121.0, loss=0.5, acc=0.9, seed=4),
           run("B.r2", tp=1.0, loss=9.0, acc=0.1, seed=5, status="failed")]
    comp = compare_arm(base, arm, arm="B", baseline="A", time_target="time_to_target_accuracy_s")
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
    n = {"baseline": 3, "arm": 3}
    comp = Comparison("B", "A", {
        "throughput_ratio": Effect("throughput_ratio", 1.23, (1.2, 1.26), significant=True, n=n,
                                   calibrated=True, p_value=0.0004, p_adjusted=0.0008,
                                   family=2),
        "accuracy_delta": Effect("accuracy_delta", 0.014, (-0.003, 0.031), significant=False,
                                 n=n, calibrated=True, p_value=0.2, p_adjusted=0.2, family=2,
                                 baseline_value=0.9, arm_value=0.914)}, {})
    gate = parse_gate("throughput_ratio >= 1.1")
    line = verdict_line([comp], [GateResult(gate, True), GateResult(gate, False)],
                        Fairness(CONFOUNDED, reasons=["torch 2.3 vs 2.4"]), ["B.r2"])
    assert line.startswith("B vs A (3 vs 3 runs): throughput +23 % (significant, Holm p < 0.001), "
                           "accuracy +1.4 pp (n.s., Holm p = 0.2)")
    assert "no detectable difference" not in line
    assert "gates: 1 of 2 FAILED" in line
    assert "NOT a fair comparison: torch 2.3 vs 2.4" in line
    assert "B.r2" in line
    assert "fairness unverifiable" in verdict_line([comp], [], NOT_CHECKED)
    # an older report's fairness (no state): read as what it said
    assert "fairness unverifiable" in verdict_line(
        [comp], [], Fairness.read({"fair": True, "checked": False}))
    assert verdict_line([comp], [], Fairness.read({"fair": True})).endswith("fair comparison")
    gaps = Fairness.read({"state": "unverifiable", "fair": None,
                          "missing": ["no env record from arm B"]})
    assert verdict_line([comp], [], gaps).endswith("fairness unverifiable: no env record from arm B")
