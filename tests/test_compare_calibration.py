"""Calibration: A/A simulations of the comparison's error rate, and coverage on a known shift.

Each simulated run has a run-level random effect (1 % run-to-run spread, lognormal) and
AR(1) noise within the run (phi 0.8, records 10 steps apart), the shape of real training
throughput. Only the statistics run: per-run figures go through ``steady_pairs`` (the
time-weighted throughput of the report) and ``compare_effect`` (the report's effect code).
2,000 trials per design tell 5 % from 10 % (the standard error of a 5 % rate is 0.5 %).
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from abtui.compare.effects import EFFECTS, adjust_family, compare_effect
from abtui.compare.resample import rate
from abtui.compare.run_metrics import RunMetrics
from abtui.compare.summary import RunSummary, steady_pairs

TRIALS = 2000
RECORDS = 60
RUN_SD = 0.01  # run-to-run spread of throughput
PHI, NOISE_SD = 0.8, 0.03  # within-run AR(1)


def _runs(rng: np.random.Generator, n: int, shift: float, arm: str) -> list[list[RunSummary]]:
    """TRIALS x n runs of one arm; each run a RunSummary as ``summarize_run`` builds it."""
    u = rng.normal(0.0, RUN_SD, size=(TRIALS, n, 1))
    e = np.zeros((TRIALS, n, RECORDS))
    x = np.zeros((TRIALS, n))
    for t in range(RECORDS):
        x = PHI * x + rng.normal(0.0, NOISE_SD * math.sqrt(1 - PHI ** 2), size=(TRIALS, n))
        e[:, :, t] = x
    rates = 100.0 * math.exp(shift) * np.exp(u + e)
    steps = [10.0 * (i + 1) for i in range(RECORDS)]
    loss = rng.normal(0.5, 0.01, size=(TRIALS, n))
    acc = rng.normal(0.9, 0.005, size=(TRIALS, n))
    out = []
    for i in range(TRIALS):
        trial = []
        for j in range(n):
            work, time, _ = steady_pairs(steps, rates[i, j].tolist(), 60.0)
            trial.append(RunSummary(f"{arm}.r{j}", arm, j, RunMetrics(
                status="done", throughput=rate(work, time),
                final_loss_smoothed=float(loss[i, j]), accuracy_final=float(acc[i, j])),
                {"throughput_work": work, "throughput_time": time}))
        out.append(trial)
    return out


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_aa_false_positive_rate_and_known_shift_coverage(n: int) -> None:
    rng = np.random.default_rng(1000 + n)
    kind = EFFECTS["throughput_ratio"]
    base, same = _runs(rng, n, 0.0, "A"), _runs(rng, n, 0.0, "B")
    shifted = _runs(rng, n, math.log(1.05), "B")
    false_pos = covered = 0
    for a, b, c in zip(base, same, shifted, strict=True):
        aa = compare_effect(kind, a, b)
        assert aa.calibrated and aa.ci[0] <= aa.value <= aa.ci[1]  # the point is inside
        false_pos += bool(aa.significant)
        ab = compare_effect(kind, a, c)
        assert ab.ci[0] <= ab.value <= ab.ci[1]
        covered += ab.ci[0] <= 1.05 <= ab.ci[1]
    fpr, coverage = false_pos / TRIALS, covered / TRIALS
    print(f"n={n}: false-positive rate {fpr:.3f}, coverage {coverage:.3f}")
    assert fpr <= 0.07, fpr
    assert coverage >= 0.92, coverage


@pytest.mark.parametrize("n", [3, 5])
def test_holm_holds_the_family_wise_rate_over_the_headline(n: int) -> None:
    rng = np.random.default_rng(2000 + n)
    base, same = _runs(rng, n, 0.0, "A"), _runs(rng, n, 0.0, "B")
    any_sig = 0
    for a, b in zip(base, same, strict=True):
        effects = [compare_effect(EFFECTS[m], a, b)
                   for m in ("throughput_ratio", "loss_delta", "accuracy_delta")]
        assert adjust_family(effects) == 3
        any_sig += any(e.significant for e in effects)
    fwer = any_sig / TRIALS
    print(f"n={n}: family-wise false-positive rate over 3 effects {fwer:.3f}")
    assert fwer <= 0.07, fwer


def test_n1_is_never_significant_and_its_point_is_inside() -> None:
    rng = np.random.default_rng(7)
    kind = EFFECTS["throughput_ratio"]
    for a, b in list(zip(_runs(rng, 1, 0.0, "A"), _runs(rng, 1, 0.0, "B"), strict=True))[:100]:
        eff = compare_effect(kind, a, b)
        assert eff.significant is None and eff.calibrated is False and eff.p_value is None
        assert eff.ci[0] <= eff.value <= eff.ci[1]


SLOT_SD = 0.05  # a time slot's effect on both arms run in it (a busy neighbour, a hot GPU)


def _with_slots(rng: np.random.Generator, a: list[list[RunSummary]], b: list[list[RunSummary]]
                ) -> None:
    """Replicate j of both arms ran in one time slot: one shared factor on their throughput."""
    for ta, tb in zip(a, b, strict=True):
        for ra, rb in zip(ta, tb, strict=True):
            f = math.exp(rng.normal(0.0, SLOT_SD))
            for r in (ra, rb):
                assert r.metrics.throughput is not None
                r.metrics.throughput *= f


@pytest.mark.parametrize("n", [3, 5, 10])
def test_the_paired_design_holds_its_error_rate_and_decides_sooner(n: int) -> None:
    """Paired t over replicate pairs (the design pairs them before any data): A/A
    "significant" at most 5 % (plus simulation error), coverage of a known shift, and more
    power than Welch under a shared slot effect."""
    rng = np.random.default_rng(3000 + n)
    kind = EFFECTS["throughput_ratio"]
    base, same, shifted = (_runs(rng, n, 0.0, "A"), _runs(rng, n, 0.0, "B"),
                           _runs(rng, n, math.log(1.05), "B"))
    base2 = [[RunSummary(r.run_id, r.arm, r.replicate, msgspec.structs.replace(r.metrics), r.samples) for r in t]
             for t in base]
    _with_slots(rng, base, same)
    _with_slots(rng, base2, shifted)
    false_pos = covered = paired_hits = welch_hits = 0
    for a, b, a2, c in zip(base, same, base2, shifted, strict=True):
        aa = compare_effect(kind, a, b, paired=True)
        assert aa.calibrated and aa.method.startswith("paired t")
        false_pos += bool(aa.significant)
        ab = compare_effect(kind, a2, c, paired=True)
        covered += ab.ci[0] <= 1.05 <= ab.ci[1]
        paired_hits += bool(ab.significant)
        welch_hits += bool(compare_effect(kind, a2, c).significant)
    fpr, coverage = false_pos / TRIALS, covered / TRIALS
    print(f"n={n}: paired false-positive rate {fpr:.3f}, coverage {coverage:.3f}, power for "
          f"+5 %: paired {paired_hits / TRIALS:.2f}, Welch {welch_hits / TRIALS:.2f}")
    assert fpr <= 0.065, fpr
    assert coverage >= 0.93, coverage
    assert paired_hits > welch_hits
