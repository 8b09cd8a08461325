"""Known answers for the statistics: checked against SciPy / NumPy (dev dependencies)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import scipy.special
import scipy.stats

from abtui.compare import stats


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


def test_bootstrap_ratio_agrees_with_scipy_percentile_bootstrap() -> None:
    rng = random.Random(11)
    a, b = _sample(rng, 30, 100.0, 8.0), _sample(rng, 30, 112.0, 10.0)
    lo, hi = stats.bootstrap_two_sample_ci(a, b, stats.ratio_of_means)
    ref = scipy.stats.bootstrap((a, b), lambda x, y: np.mean(y) / np.mean(x), vectorized=False,
                                paired=False, method="percentile", n_resamples=4000,
                                confidence_level=0.95, random_state=0).confidence_interval
    width = ref.high - ref.low
    assert abs(lo - ref.low) < 0.1 * width
    assert abs(hi - ref.high) < 0.1 * width


def test_bootstrap_ci_of_a_big_shift_covers_the_truth_and_excludes_one() -> None:
    rng = random.Random(5)
    a, b = _sample(rng, 5, 100.0, 3.0), _sample(rng, 5, 130.0, 3.0)
    lo, hi = stats.bootstrap_two_sample_ci(a, b, stats.ratio_of_means)
    assert lo < 1.3 < hi
    assert lo > 1.0


def test_bootstrap_of_no_shift_includes_one_and_is_reproducible() -> None:
    a, b = [98.0, 102.0, 101.0, 99.0], [100.0, 97.0, 103.0, 100.5]
    ci = stats.bootstrap_two_sample_ci(a, b, stats.ratio_of_means)
    assert ci[0] < 1.0 < ci[1]
    assert stats.bootstrap_two_sample_ci(a, b, stats.ratio_of_means) == ci
    assert stats.bootstrap_two_sample_ci(a, b, stats.ratio_of_means, seed=1) != ci


def _ar1(rng: random.Random, n: int, mean: float, phi: float, sd: float) -> list[float]:
    x, out = 0.0, []
    for _ in range(n):
        x = phi * x + rng.gauss(0, sd)
        out.append(mean + x)
    return out


def test_block_bootstrap_of_correlated_records_is_wider_than_iid() -> None:
    rng = random.Random(2)
    a, b = _ar1(rng, 600, 100.0, 0.9, 2.0), _ar1(rng, 600, 125.0, 0.9, 2.0)
    block = stats.block_bootstrap_two_sample_ci(a, b, stats.ratio_of_medians)
    iid = stats.bootstrap_two_sample_ci(a, b, stats.ratio_of_medians, resamples=2000)
    assert block[0] < 1.25 < block[1]
    assert block[0] > 1.0
    assert block[1] - block[0] > 1.5 * (iid[1] - iid[0])


def test_block_bootstrap_coarsens_long_series() -> None:
    values = list(range(1000))
    assert len(stats.coarsen(values, 400)) <= 400
    assert stats.coarsen(values, 400)[0] == pytest.approx(1.0)  # mean of 0, 1, 2
    lo, hi = stats.block_bootstrap_ci([float(v % 7) for v in range(5000)])
    assert math.isfinite(lo) and lo <= hi
