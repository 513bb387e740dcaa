"""The binomial tail and the MMD two-sample test: exact against scipy, calibrated under H0, powerful."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from modeltrace.monitor.mmd import gamma_log_sf, mmd_test
from modeltrace.monitor.tail import binomial_log10_sf


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (5, 45, 0.018),
        (43, 221, 0.018),
        (1, 10, 0.5),
        (10, 10, 0.5),
        (3, 100, 0.05),
        (400, 1000, 0.3),
        (50, 10**5, 4e-4),
    ],
)
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    expected = stats.binom.logsf(k - 1, n, p) / math.log(10)
    assert binomial_log10_sf(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_binomial_tail_edges() -> None:
    assert binomial_log10_sf(0, 10, 0.1) == 0.0
    assert binomial_log10_sf(11, 10, 0.1) == -math.inf
    assert binomial_log10_sf(3, 10, 0.0) == -math.inf
    # far beyond float range, still finite in log10: 0.01 ** 300
    assert binomial_log10_sf(300, 300, 0.01) == pytest.approx(-600.0)


def test_mmd_is_calibrated_when_both_samples_come_from_one_distribution() -> None:
    rng = np.random.default_rng(7)
    pvalues = []
    for seed in range(40):
        result = mmd_test(rng.normal(size=(60, 5)), rng.normal(size=(120, 5)), permutations=99, seed=seed)
        pvalues.append(result.pvalue)
        assert result.log10_pvalue > -3  # nothing extreme under H0
    assert 0.02 <= float(np.mean(np.asarray(pvalues) <= 0.1)) <= 0.25


def test_mmd_finds_a_shift_and_names_the_shifted_rows() -> None:
    rng = np.random.default_rng(3)
    window = rng.normal(size=(100, 5))
    window[:40, 0] += 3.0  # 40 % of the window comes from elsewhere
    result = mmd_test(window, rng.normal(size=(200, 5)), permutations=99)
    assert result.pvalue == pytest.approx(0.01) and result.log10_pvalue < -6
    assert result.statistic > result.permutation_max
    top = set(np.argsort(-result.witness)[:30].tolist())
    assert len(top & set(range(40))) >= 25  # the witness points at the shifted rows


@pytest.mark.parametrize("factor", [1.0, 8.0])
def test_mmd_statistic_and_witness_follow_the_definition(factor: float) -> None:
    # the biased MMD² and the witness from the kernel written out pair by pair, with the test's bandwidth
    rng = np.random.default_rng(11)
    window, reference = rng.normal(size=(25, 4)), rng.normal(0.5, 1.0, size=(40, 4))
    result = mmd_test(window, reference, permutations=19, seed=2, bandwidth_factor=factor)
    # the same sampled median, widened: 2σ² is factor times the median squared distance
    median = mmd_test(window, reference, permutations=19, seed=2)
    assert result.bandwidth == pytest.approx(median.bandwidth * factor**0.5, rel=1e-12)
    two_sigma_sq = 2.0 * result.bandwidth**2

    def kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2) / two_sigma_sq)

    k_ww, k_rr, k_wr = kernel(window, window), kernel(reference, reference), kernel(window, reference)
    assert result.statistic == pytest.approx(k_ww.mean() + k_rr.mean() - 2.0 * k_wr.mean(), rel=1e-9)
    assert result.statistic > 0.0
    np.testing.assert_allclose(result.witness, k_ww.mean(axis=1) - k_wr.mean(axis=1), rtol=1e-9)


@pytest.mark.parametrize("factor", [0.0, -1.0, math.nan, math.inf])
def test_mmd_refuses_a_bandwidth_factor_that_is_not_a_positive_number(factor: float) -> None:
    rows = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="bandwidth_factor"):
        mmd_test(rows[:5], rows[5:], permutations=9, bandwidth_factor=factor)


def test_mmd_of_identical_samples_is_zero_not_a_rounding_error() -> None:
    # A client that sends one request again and again (a CI suite, a health check) gives a window and a
    # reference of one repeated row: every statistic is 0 up to rounding, and rounding must not read as
    # "above every permutation" with p = 0 (seen at full scale: two benign accounts at log10 p = -inf).
    row = np.array([[0.3, -1.2, 0.0, 2.5, 0.7]])
    for seed in range(20):
        result = mmd_test(np.repeat(row, 30, axis=0), np.repeat(row, 60, axis=0), permutations=99, seed=seed)
        assert result.statistic == 0.0 and result.pvalue == 1.0 and result.log10_pvalue == 0.0


def test_mmd_screen_never_changes_the_decision_it_stops_on() -> None:
    rng = np.random.default_rng(11)
    for seed in range(10):
        window, reference = rng.normal(size=(50, 4)), rng.normal(size=(100, 4))
        window[:, 1] += 0.6 * (seed % 2)
        full = mmd_test(window, reference, permutations=99, seed=seed)
        screened = mmd_test(window, reference, permutations=99, seed=seed, screen=19)
        assert screened.statistic == pytest.approx(full.statistic)
        passed_full = full.statistic > full.permutation_max
        passed_screened = screened.statistic > screened.permutation_max
        if screened.permutations < 99:  # stopped: the full test would not have passed either
            assert not passed_screened and not passed_full
        else:
            assert passed_screened == passed_full


@pytest.mark.parametrize("shape", [0.05, 0.7, 1.0, 3.5, 40.0, 900.0])
@pytest.mark.parametrize("ratio", [0.01, 0.5, 0.95, 1.0, 1.2, 2.0, 4.0, 12.0])
def test_gamma_tail_matches_scipy(shape: float, ratio: float) -> None:
    x = shape * ratio + (1.0 if ratio >= 1.0 else 0.0)
    expected = float(stats.gamma.logsf(x, shape))
    if math.isfinite(expected):
        assert gamma_log_sf(shape, x) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    else:  # scipy's tail underflowed a double: ours must be below what a double holds, yet finite
        assert -1e7 < gamma_log_sf(shape, x) < math.log(5e-324)


def test_gamma_tail_stays_finite_where_scipy_underflows() -> None:
    # far tails (a window unlike anything in its reference) must keep an ordering, not become -inf
    values = [gamma_log_sf(30.0, x) for x in (1500.0, 3000.0, 6000.0)]
    assert all(math.isfinite(v) for v in values)
    assert values[0] > values[1] > values[2]
    # beyond x ≫ a, ln Q ≈ −x + (a − 1) ln x − ln Γ(a)
    assert values[2] == pytest.approx(-6000.0 + 29.0 * math.log(6000.0) - math.lgamma(30.0), rel=1e-4)
    assert gamma_log_sf(2.0, 0.0) == 0.0
    with pytest.raises(ValueError):
        gamma_log_sf(0.0, 1.0)
