"""The statistical tests of black-box probing (numpy/scipy only; no HTTP here).

Each returns a :class:`TestResult`: the null hypothesis, the statistic, the p-value (and its log10),
an effect size, the number of queries the data took, and diagnostics.

- :func:`identity_test` — Model Equality Testing (Gao et al., ICLR 2025): unbiased MMD² with a Hamming
  kernel on the first ``L`` characters, only between completions of the same prompt; permutation p-value
  with labels shuffled within each prompt.
- :func:`lineage_test` — greedy-continuation agreement (Nikolić et al., NeurIPS 2025): hits of the suspect
  against the protected model and each baseline; one-sided two-proportion z-tests of the protected model
  against every baseline, Holm-corrected; the p-value is the largest adjusted one (all must reject).
- :func:`tokenizer_slope_test` — slopes of ``usage.prompt_tokens`` over repeats of probe units; a different
  slope vector rejects "same tokenizer" (deterministic: p is 0 or 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "TestResult",
    "hamming_kernel",
    "holm",
    "identity_test",
    "lineage_test",
    "mmd2_unbiased",
    "slope",
    "tokenizer_slope_test",
    "two_proportion_z",
]


@dataclass
class TestResult:
    """The outcome of one test (scipy.stats style)."""

    __test__ = False  # not a pytest class

    name: str
    null: str
    statistic: float
    pvalue: float
    log10_pvalue: float
    effect_size: float
    effect_size_name: str
    queries: int
    rejected: bool
    alpha: float
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("statistic", "pvalue", "log10_pvalue", "effect_size"):
            if not math.isfinite(out[key]):
                out[key] = str(out[key])  # JSON has no infinities
        return out


def _log10(p: float) -> float:
    return math.log10(p) if p > 0 else -math.inf


# --- identity: MMD with a Hamming kernel ------------------------------------------------------------


def hamming_kernel(texts: Sequence[str], length: int) -> npt.NDArray[np.float64]:
    """k(x, y) = #{i < L: x_i = y_i} / L on texts padded (with a code point no text uses) to L."""
    codes = np.full((len(texts), length), -1, np.int64)
    for r, text in enumerate(texts):
        cps = [ord(c) for c in text[:length]]
        codes[r, : len(cps)] = cps
    eq = (codes[:, None, :] == codes[None, :, :]).sum(-1)
    out: npt.NDArray[np.float64] = eq.astype(np.float64) / length
    return out


def mmd2_unbiased(k: npt.NDArray[np.float64], labels: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """Unbiased MMD² for each row of ``labels`` (``[B, n]``, True = first sample) on kernel ``k``."""
    k0 = k - np.diag(np.diag(k))
    x = labels.astype(np.float64)
    y = 1.0 - x
    nx, ny = x.sum(1), y.sum(1)
    kxx = np.einsum("bi,ij,bj->b", x, k0, x) / (nx * (nx - 1))
    kyy = np.einsum("bi,ij,bj->b", y, k0, y) / (ny * (ny - 1))
    kxy = np.einsum("bi,ij,bj->b", x, k, y) / (nx * ny)
    out: npt.NDArray[np.float64] = kxx + kyy - 2 * kxy
    return out


def identity_test(
    suspect: Mapping[str, Sequence[str]],
    reference: Mapping[str, Sequence[str]],
    *,
    length: int = 50,
    permutations: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    queries: int | None = None,
) -> TestResult:
    """H0: for every prompt, the suspect's completions have the reference's distribution.

    ``suspect``/``reference`` map each prompt to its sampled completions (≥ 2 each). The statistic is the
    mean over prompts of the unbiased MMD² (Hamming kernel on the first ``length`` characters); the
    permutation p-value shuffles suspect/reference labels within each prompt and is (1 + #{T* ≥ T})/(1 + B).
    The effect size is the statistic itself (0 under H0; at most 2).
    """
    prompts = [p for p in suspect if p in reference and len(suspect[p]) >= 2 and len(reference[p]) >= 2]
    if not prompts:
        raise ValueError("identity test needs at least one prompt with ≥ 2 completions from each model")
    rng = np.random.default_rng(seed)
    observed = 0.0
    null = np.zeros(permutations)
    n_samples = 0
    for p in prompts:
        xs, ys = list(suspect[p]), list(reference[p])
        n_samples += len(xs) + len(ys)
        k = hamming_kernel(xs + ys, length)
        base = np.array([True] * len(xs) + [False] * len(ys))
        observed += float(mmd2_unbiased(k, base[None, :])[0])
        perms = np.argsort(rng.random((permutations, base.size)), axis=1)
        null += mmd2_unbiased(k, base[perms])
    observed /= len(prompts)
    null /= len(prompts)
    p_value = float((1 + np.sum(null >= observed - 1e-12)) / (1 + permutations))
    return TestResult(
        name="identity (MMD, Hamming kernel)",
        null="the suspect samples each prompt from the same distribution as the reference",
        statistic=observed,
        pvalue=p_value,
        log10_pvalue=_log10(p_value),
        effect_size=observed,
        effect_size_name="MMD² (Hamming kernel, mean over prompts)",
        queries=queries if queries is not None else n_samples,
        rejected=p_value <= alpha,
        alpha=alpha,
        diagnostics={
            "prompts": len(prompts),
            "samples": n_samples,
            "length": length,
            "permutations": permutations,
            "null_mean": float(null.mean()),
            "null_q95": float(np.quantile(null, 0.95)),
            "min_attainable_pvalue": 1 / (1 + permutations),
        },
    )


# --- lineage: greedy agreement ----------------------------------------------------------------------


def two_proportion_z(hits_a: int, hits_b: int, n: int) -> tuple[float, float]:
    """One-sided z-test of p_a > p_b (pooled), both out of n; returns (z, p)."""
    pa, pb = hits_a / n, hits_b / n
    pooled = (hits_a + hits_b) / (2 * n)
    se = math.sqrt(max(pooled * (1 - pooled) * 2 / n, 0.0))
    if se == 0:
        return (0.0, 1.0) if hits_a <= hits_b else (math.inf, 0.0)
    z = (pa - pb) / se
    from scipy import stats  # slow to import: only when a test runs

    return z, float(stats.norm.sf(z))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (same order as given)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def lineage_test(
    suspect: Sequence[str],
    candidates: Mapping[str, Sequence[str]],
    reference: str,
    *,
    alpha: float = 0.05,
    queries: int | None = None,
) -> TestResult:
    """H0: the suspect agrees with the protected model no more often than with some baseline.

    ``suspect[i]`` and ``candidates[c][i]`` are greedy continuations of prompt i. hits_c counts exact
    matches. Rejecting H0 (every Holm-adjusted one-sided z-test of the reference against a baseline at
    ``alpha``) supports "derived from the reference". The effect size is the agreement rate difference
    between the reference and the best baseline.
    """
    n = len(suspect)
    baselines = [c for c in candidates if c != reference]
    if n == 0 or reference not in candidates or not baselines:
        raise ValueError("lineage test needs prompts, the reference and at least one baseline")
    hits = {c: sum(a == b for a, b in zip(suspect, outs, strict=True)) for c, outs in candidates.items()}
    tests = {b: two_proportion_z(hits[reference], hits[b], n) for b in baselines}
    adjusted = dict(zip(baselines, holm([tests[b][1] for b in baselines]), strict=True))
    worst = max(baselines, key=lambda b: adjusted[b])
    p_value = adjusted[worst]
    best_baseline = max(baselines, key=lambda b: hits[b])
    best = max(candidates, key=lambda c: hits[c])
    return TestResult(
        name="lineage (greedy agreement, Holm)",
        null="the suspect agrees with the reference no more often than with the best baseline",
        statistic=tests[worst][0],
        pvalue=p_value,
        log10_pvalue=_log10(p_value),
        effect_size=(hits[reference] - hits[best_baseline]) / n,
        effect_size_name="agreement(reference) - agreement(best baseline)",
        queries=queries if queries is not None else n * (1 + len(candidates)),
        rejected=p_value <= alpha,
        alpha=alpha,
        diagnostics={
            "prompts": n,
            "hits": hits,
            "agreement": {c: h / n for c, h in hits.items()},
            "holm_adjusted": adjusted,
            "z": {b: tests[b][0] for b in baselines},
            "closest_candidate": best,
        },
    )


# --- tokenizer slope --------------------------------------------------------------------------------


def slope(counts: Sequence[int], repeats: Sequence[int]) -> tuple[float, float]:
    """Least-squares slope of token counts over repeat counts, and R²."""
    x, y = np.asarray(repeats, np.float64), np.asarray(counts, np.float64)
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = (
        1.0 - float((resid**2).sum()) / total
        if total > 0
        else (1.0 if float((resid**2).sum()) < 1e-9 else 0.0)
    )
    return float(b), r2


def tokenizer_slope_test(
    suspect: Mapping[str, Sequence[int]],
    reference: Mapping[str, Sequence[int]],
    repeats: Sequence[int],
    *,
    tolerance: float = 0.05,
    min_r2: float = 0.98,
    alpha: float = 0.05,
    queries: int | None = None,
) -> TestResult:
    """H0: the suspect tokenizes like the reference (same slope of ``prompt_tokens`` per probe unit).

    ``suspect[u][j]`` is ``usage.prompt_tokens`` for unit u repeated ``repeats[j]`` times. Units whose fit
    has R² < ``min_r2`` on either side are left out (reported). Deterministic: any unit whose slopes
    differ by more than ``tolerance`` rejects (p = 0); otherwise p = 1. A match alone proves nothing.
    """
    units = [u for u in suspect if u in reference]
    s_slopes, r_slopes, bad, differing = {}, {}, [], []
    for u in units:
        bs, r2s = slope(suspect[u], repeats)
        br, r2r = slope(reference[u], repeats)
        s_slopes[u], r_slopes[u] = bs, br
        if r2s < min_r2 or r2r < min_r2:
            bad.append(u)
        elif abs(bs - br) > tolerance:
            differing.append(u)
    used = len(units) - len(bad)
    if used == 0:
        raise ValueError("tokenizer slope test: no probe unit gave a linear fit on both sides")
    distance = float(sum(abs(s_slopes[u] - r_slopes[u]) for u in units if u not in bad) / used)
    p_value = 0.0 if differing else 1.0
    return TestResult(
        name="tokenizer slope",
        null="the suspect uses the reference's tokenizer",
        statistic=float(len(differing)),
        pvalue=p_value,
        log10_pvalue=_log10(p_value),
        effect_size=distance,
        effect_size_name="mean |slope difference| (tokens per unit)",
        queries=queries if queries is not None else sum(len(v) for v in suspect.values()),
        rejected=bool(differing),
        alpha=alpha,
        diagnostics={
            "deterministic": True,
            "units": len(units),
            "differing_units": differing,
            "nonlinear_units": bad,
            "suspect_slopes": s_slopes,
            "reference_slopes": r_slopes,
        },
    )
