"""Known answers for the statistics: checked against SciPy / NumPy (dev dependencies)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import scipy.special
import scipy.stats

from abtui.compare import inference, resample, stats


def _sample(rng: random.Random, n: int, mu: float, sd: float) -> list[float]:
    return [rng.gauss(mu, sd) for _ in range(n)]


@pytest.mark.parametrize(("na", "nb", "mu_b", "sd_b"), [
    (2, 2, 1.0, 1.0), (3, 3, 0.5, 2.0), (3, 5, 3.0, 0.5), (10, 4, 0.2, 3.0),
    (30, 30, 0.3, 1.0), (50, 7, 10.0, 1.0), (5, 5, 0.0, 1.0),
])
def test_welch_p_value_matches_scipy(na: int, nb: int, mu_b: float, sd_b: float) -> None:
    rng = random.Random(na * 100 + nb)
    for _ in range(5):
        a, b = _sample(rng, na, 0.0, 1.0), _sample(rng, nb, mu_b, sd_b)
        ours = stats.welch_t_test(a, b)
        ref = scipy.stats.ttest_ind(a, b, equal_var=False)
        assert ours.t == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
        assert ours.df == pytest.approx(ref.df, rel=1e-9)
        assert abs(ours.p_value - ref.pvalue) < 1e-6
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-15)


def test_welch_degenerate_and_too_small() -> None:
    assert stats.welch_t_test([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    assert stats.welch_t_test([1.0, 1.0], [2.0, 2.0]).p_value == 0.0
    with pytest.raises(ValueError):
        stats.welch_t_test([1.0], [1.0, 2.0])


def test_incomplete_beta_and_t_tail_match_scipy() -> None:
    for a in (0.5, 1.0, 2.5, 10.0, 150.0):
        for b in (0.5, 1.0, 3.0, 40.0):
            for x in (1e-6, 0.01, 0.3, 0.5, 0.77, 0.999):
                assert stats.betainc(a, b, x) == pytest.approx(
                    scipy.special.betainc(a, b, x), rel=1e-9, abs=1e-14)
    for df in (1.0, 2.0, 3.7, 30.0, 1000.0):
        for t in (-40.0, -2.0, 0.0, 0.5, 2.0, 12.0):
            assert stats.t_sf(t, df) == pytest.approx(scipy.stats.t.sf(t, df), rel=1e-8, abs=1e-15)


def test_percentile_is_numpy_linear() -> None:
    rng = random.Random(3)
    for n in (1, 2, 5, 100):
        values = [rng.random() for _ in range(n)]
        for q in (0, 2.5, 25, 50, 95, 97.5, 100):
            assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert stats.median([3.0, 1.0, 2.0, 10.0]) == 2.5


def test_ema_is_bias_corrected() -> None:
    assert stats.ema([5.0, 5.0, 5.0], 0.1) == pytest.approx([5.0, 5.0, 5.0])
    assert stats.ema([1.0, 3.0], 0.5) == pytest.approx([1.0, (0.25 * 1 + 0.5 * 3) / 0.75])
    assert stats.ema([1.0, 2.0, 7.0], 1.0) == [1.0, 2.0, 7.0]
    with pytest.raises(ValueError):
        stats.ema([1.0], 0.0)


def test_t_quantile_matches_scipy() -> None:
    for df in (1.0, 1.3, 2.0, 3.0, 4.7, 9.0, 30.0, 500.0):
        for q in (0.5, 0.8, 0.9, 0.975, 0.995, 0.025, 0.2):
            assert stats.t_ppf(q, df) == pytest.approx(scipy.stats.t.ppf(q, df), rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError):
        stats.t_ppf(1.0, 3.0)


@pytest.mark.parametrize(("na", "nb"), [(2, 2), (3, 3), (2, 5), (5, 5), (10, 10), (3, 8)])
def test_welch_interval_on_values_matches_scipy(na: int, nb: int) -> None:
    rng = random.Random(na * 31 + nb)
    for _ in range(5):
        a, b = _sample(rng, na, 10.0, 1.0), _sample(rng, nb, 10.5, 2.0)
        ours = inference.two_sample(a, b, log=False)
        ref = scipy.stats.ttest_ind(b, a, equal_var=False)
        ci = ref.confidence_interval(0.95)
        assert ours.estimate == pytest.approx(np.mean(b) - np.mean(a))
        assert (ours.lo, ours.hi) == pytest.approx((ci.low, ci.high), rel=1e-8)
        assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6)
        assert ours.significant == (ci.low > 0 or ci.high < 0)  # one method, one answer


def test_ratio_interval_is_welch_on_logs_and_the_point_is_inside() -> None:
    a, b = [100.0, 102.0], [103.0, 105.0]  # the case that was called "significant"
    res = inference.two_sample(a, b, log=True)
    ref = scipy.stats.ttest_ind(np.log(b), np.log(a), equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-6) and not res.significant
    assert (res.lo, res.hi) == pytest.approx((math.exp(ci.low), math.exp(ci.high)), rel=1e-9)
    assert res.estimate == pytest.approx(math.sqrt(103 * 105) / math.sqrt(100 * 102))
    assert res.lo < res.estimate < res.hi and res.lo < 1 < res.hi
    assert inference.two_sample([1.0, -2.0], [3.0, 4.0], log=True) is None
    assert inference.two_sample([1.0], [3.0], log=False) is None  # no spread at all


def test_one_run_on_a_side_uses_the_pooled_t() -> None:
    a, b = [100.0], [110.0, 112.0, 108.0]
    res = inference.two_sample(a, b, log=False)
    ref = scipy.stats.ttest_ind(b, a, equal_var=True)
    assert res.p_value == pytest.approx(ref.pvalue, rel=1e-6)
    assert "pooled" in res.method and res.df == 2


def test_minimum_detectable_effect_and_replicates_needed() -> None:
    # power of a two-sided t test at the returned effect is about 80 % (noncentral t)
    for n in (3, 5, 10):
        mde = inference.detectable(1.0, n, n)
        df, nc = 2 * n - 2, mde / math.sqrt(2 / n)
        crit = scipy.stats.t.ppf(0.975, df)
        power = scipy.stats.nct.sf(crit, df, nc) + scipy.stats.nct.cdf(-crit, df, nc)
        assert 0.77 < power < 0.83, (n, power)
    n = inference.replicates_needed(0.5, 1.0)
    assert inference.detectable(1.0, n, n) <= 0.5 < inference.detectable(1.0, n - 1, n - 1)
    assert inference.replicates_needed(1e-9, 1.0) is None  # more than MAX_REPLICATES
    assert inference.detectable(1.0, 1, 1) is None


def test_holm_adjustment_by_hand() -> None:
    assert inference.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert inference.holm([0.5]) == [0.5]
    assert inference.holm([0.2, 0.9, 0.001, 0.5]) == pytest.approx([0.6, 1.0, 0.004, 1.0])


def _ar1(rng: random.Random, n: int, mean: float, phi: float, sd: float) -> list[float]:
    x, out = 0.0, []
    for _ in range(n):
        x = phi * x + rng.gauss(0, sd)
        out.append(mean + x)
    return out


def _pairs(rates: list[float]) -> tuple[list[float], list[float]]:
    return [1.0] * len(rates), [1.0 / r for r in rates]


def test_iid_bootstrap_se_agrees_with_scipy() -> None:
    rng = random.Random(11)
    rates = _sample(rng, 200, 100.0, 8.0)
    ours = resample.log_se([_pairs(rates)], resample.rate, block=1, resamples=2000)
    ref = scipy.stats.bootstrap((np.array(rates),), lambda x: np.log(1 / np.mean(1 / x)),
                                n_resamples=2000, random_state=0).standard_error
    assert ours == pytest.approx(ref, rel=0.1)


def test_block_bootstrap_of_correlated_records_is_wider_than_iid() -> None:
    rng = random.Random(2)
    rates = _ar1(rng, 600, 100.0, 0.9, 2.0)
    block = resample.log_se([_pairs(rates)], resample.rate)
    iid = resample.log_se([_pairs(rates)], resample.rate, block=1)
    assert block > 1.5 * iid


def test_coarsening_keeps_the_time_weighted_rate_and_the_point_is_inside() -> None:
    rng = random.Random(4)
    rates = [rng.uniform(50, 150) for _ in range(5000)]
    work = [float(rng.randint(1, 5)) for _ in rates]
    time = [w / r for w, r in zip(work, rates, strict=True)]
    w2, t2 = resample.coarsen_pairs(work, time, 400)
    assert len(w2) <= 400
    assert resample.rate(w2, t2) == pytest.approx(resample.rate(work, time), rel=1e-12)
    point = resample.rate(work, time)
    se = resample.log_se([(work, time)], resample.rate)
    lo, hi = resample.within_run_interval(point, se)
    assert lo < point < hi
    assert resample.log_se([([1.0] * 3, [1.0] * 3)], resample.rate) is None
