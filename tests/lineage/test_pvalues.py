"""Log-space p-value helpers against scipy where scipy does not underflow, and ACAT's properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from modeltrace.lineage.pvalues import acat_log10, binomial_tail_log10, normal_tail_log10


@pytest.mark.parametrize("k,n,p", [(5, 100, 0.05), (20, 100, 0.05), (1, 10, 0.5), (60, 200, 0.2)])
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    assert binomial_tail_log10(k, n, p) == pytest.approx(math.log10(stats.binom.sf(k - 1, n, p)), abs=1e-9)


def test_binomial_tail_far_beyond_float_range() -> None:
    # All 1536 neurons agreeing at a null rate of 0.05: exactly 1536 * log10(0.05).
    assert binomial_tail_log10(1536, 1536, 0.05) == pytest.approx(1536 * math.log10(0.05), rel=1e-9)
    assert binomial_tail_log10(0, 10, 0.3) == 0.0


def test_binomial_tail_matches_scipy_in_log_space_for_wide_layers() -> None:
    for k, n, p in ((2048, 2048, 0.15), (400, 2048, 0.15), (350, 2048, 0.15), (60, 8192, 0.005)):
        expected = special.logsumexp(stats.binom.logpmf(np.arange(k, n + 1), n, p)) / math.log(10)
        assert binomial_tail_log10(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_normal_tail() -> None:
    assert normal_tail_log10(0.0) == pytest.approx(math.log10(0.5))
    assert normal_tail_log10(40.0) < -340


@pytest.mark.parametrize("z", [-6.0, -1.0, 0.5, 3.0, 8.0, 20.0, 29.9, 30.0, 35.0, 60.0, 300.0])
def test_normal_tail_matches_scipy_deep_in_the_tail(z: float) -> None:
    expected = stats.norm.logsf(z) / math.log(10)
    assert normal_tail_log10(z) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_acat_of_equal_pvalues_is_that_pvalue() -> None:
    for log10_p in (-0.5, -3.0, -40.0, -2000.0):
        assert acat_log10([log10_p] * 7) == pytest.approx(log10_p, abs=1e-6)


def test_acat_is_driven_by_the_smallest_pvalue_with_a_weight_penalty() -> None:
    combined = acat_log10([-2000.0, -1.0, 0.0])
    assert combined == pytest.approx(-2000.0 + math.log10(3), abs=1e-6)


def test_acat_is_calibrated_under_the_null_for_dependent_pvalues() -> None:
    """Under H0 with strongly correlated layers, ACAT's p stays (close to) uniform."""
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((4000, 1))
    z = 0.9 * shared + math.sqrt(1 - 0.81) * rng.standard_normal((4000, 12))
    log10_p = stats.norm.logsf(z) / math.log(10)
    combined = np.array([acat_log10(list(row)) for row in log10_p])
    rejection = float(np.mean(combined < math.log10(0.05)))
    assert 0.03 < rejection < 0.07
