"""p-values that stay honest when they are tiny or when the tests behind them are dependent.

Everything is carried as ``log10 p`` because the p-values of derived pairs underflow any float (a
1,536-neuron MLP matched perfectly gives about 10^-2000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Written with math/numpy alone: importing scipy.stats costs most of a second on every compare.

LN10 = math.log(10.0)


def _logsumexp(values: np.ndarray) -> float:
    top = float(np.max(values))
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.sum(np.exp(values - top))))


def binomial_tail_log10(successes: int, trials: int, rate: float) -> float:
    """log10 P(X ≥ successes) for X ~ Binomial(trials, rate), exact in log space."""
    if successes <= 0:
        return 0.0
    if successes > trials:
        return -math.inf
    if rate <= 0.0:
        return -math.inf
    if rate >= 1.0:
        return 0.0
    k = np.arange(successes, trials + 1, dtype=np.float64)
    log_factorial = np.fromiter((math.lgamma(n + 1.0) for n in range(trials + 1)), np.float64, trials + 1)
    log_choose = log_factorial[trials] - log_factorial[successes:] - log_factorial[trials - successes :: -1]
    logs = log_choose + k * math.log(rate) + (trials - k) * math.log1p(-rate)
    return float(min(0.0, _logsumexp(logs) / LN10))


def normal_tail_log10(z: float) -> float:
    """log10 P(Z ≥ z) for a standard normal, accurate far in the tail."""
    if z < 30.0:
        return math.log10(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-320))
    # Beyond erfc's range: P(Z ≥ z) = φ(z)/z · (1 − 1/z² + 3/z⁴ − 15/z⁶ + …), truncated after 4 terms.
    series = 1.0 - 1.0 / z**2 + 3.0 / z**4 - 15.0 / z**6
    log_p = -0.5 * z * z - math.log(z) - 0.5 * math.log(2.0 * math.pi) + math.log(series)
    return log_p / LN10


def acat_log10(log10_pvalues: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """Cauchy combination (ACAT; Liu & Xie, JASA 2020) of p-values given as log10, in log space.

    T = Σ w_i tan((0.5 − p_i)π) with Σ w_i = 1 has a standard Cauchy tail whatever the dependence
    between the p_i, so p = 1/2 − arctan(T)/π is valid for layers that share one alignment. For tiny
    p_i, tan((0.5 − p)π) ≈ 1/(pπ) and p ≈ 1/(πT), both handled as logarithms.
    """
    if not log10_pvalues:
        return 0.0
    w = (
        np.full(len(log10_pvalues), 1.0 / len(log10_pvalues))
        if weights is None
        else np.asarray(weights, float)
    )
    w = w / w.sum()
    logp = np.minimum(np.asarray(log10_pvalues, dtype=float), math.log10(1 - 1e-12)) * LN10
    if np.all(logp > math.log(1e-15)):
        p = np.exp(logp)
        t = float(np.sum(w * np.tan((0.5 - p) * math.pi)))
        if t < 1e12:
            return float(math.log10(max(0.5 - math.atan(t) / math.pi, 1e-300)))
        return -math.log10(math.pi) - math.log10(t)
    # Some p_i are tiny: their terms are 1/(p_i π); the rest are bounded, so add them as a correction.
    tiny = logp <= math.log(1e-15)
    log_big = _logsumexp(np.log(w[tiny]) - math.log(math.pi) - logp[tiny])
    rest = float(np.sum(w[~tiny] * np.tan((0.5 - np.exp(logp[~tiny])) * math.pi)))
    log_t = log_big + math.log1p(max(rest * math.exp(-log_big), -0.5))
    return float((-math.log(math.pi) - log_t) / LN10)
