"""Tail probabilities in log10, for evidence far beyond what a float p-value can hold (DESIGN §1).

Only the binomial upper tail lives here: the per-cohort tests compare a count against a rate estimated
from other traffic. It is summed exactly from the first term (log-gamma), stopping once the terms no
longer change the sum, so a cohort of 10⁵ requests costs a few dozen terms.
"""

from __future__ import annotations

import math

_LN10 = math.log(10.0)


def binomial_log10_sf(k: int, n: int, p: float) -> float:
    """log10 P(X ≥ k) for X ~ Binomial(n, p); 0.0 when k ≤ 0, -inf when k > n."""
    if k <= 0:
        return 0.0
    if k > n:
        return -math.inf
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
    term = log_comb + k * log_p + (n - k) * log_q
    total, first = 0.0, term
    ratio_base = log_p - log_q
    for i in range(k, n + 1):
        total += math.exp(term - first)
        # term(i + 1) / term(i) = (n - i) / (i + 1) · p / q
        if i == n:
            break
        step = math.log((n - i) / (i + 1)) + ratio_base
        term += step
        if step < 0 and math.exp(term - first) < 1e-16 * total:
            break
    return min(0.0, (first + math.log(total)) / _LN10)
