"""p-values that stay honest when they are tiny or when the tests behind them are dependent.

Everything is carried as ``log10 p`` because the p-values of derived pairs underflow any float (a
1,536-neuron MLP matched perfectly gives about 10^-2000).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# scipy.stats takes most of a second to import: loaded on first use so the CLI starts fast.

LN10 = math.log(10.0)


def binomial_tail_log10(successes: int, trials: int, rate: float) -> float:
    """log10 P(X ≥ successes) for X ~ Binomial(trials, rate), exact in log space."""
    if successes <= 0:
        return 0.0
    if successes > trials:
        return -math.inf
    from scipy import special, stats

    k = np.arange(successes, trials + 1)
    logs = stats.binom.logpmf(k, trials, rate)
    return float(min(0.0, special.logsumexp(logs) / LN10))


def normal_tail_log10(z: float) -> float:
    """log10 P(Z ≥ z) for a standard normal, accurate far in the tail."""
    from scipy import stats

    return float(stats.norm.logsf(z) / LN10)


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
    from scipy import special

    tiny = logp <= math.log(1e-15)
    log_big = special.logsumexp(np.log(w[tiny]) - math.log(math.pi) - logp[tiny])
    rest = float(np.sum(w[~tiny] * np.tan((0.5 - np.exp(logp[~tiny])) * math.pi)))
    log_t = log_big + math.log1p(max(rest * math.exp(-log_big), -0.5))
    return float((-math.log(math.pi) - log_t) / LN10)
