"""The statistical tests of black-box probing (numpy/scipy only; no HTTP here).

Each returns a :class:`TestResult`: the null hypothesis, the statistic, the p-value (and its log10),
an effect size, the number of queries the data took, and diagnostics.

- :func:`identity_test` — Model Equality Testing (Gao et al., ICLR 2025): unbiased MMD² with a Hamming
  kernel on the first ``L`` characters, only between completions of the same prompt; permutation p-value
  with labels shuffled within each prompt.
- :func:`agreement_identity_test` — greedy continuations (with the logprob of each token when the API
  returns them) of the suspect and of the reference queried twice: a sign test of "the suspect departs
  from the reference more than the reference departs from itself". Far more powerful than sampling
  against quantised or fine-tuned copies: their greedy tokens and logprobs move deterministically.
- :func:`lineage_test` — greedy-continuation agreement (Nikolić et al., NeurIPS 2025): hits of the suspect
  against the protected model and each baseline, on whole continuations and on their first characters;
  one-sided two-proportion z-tests of the protected model against every baseline, Holm-corrected; the
  p-value is the largest adjusted one (all must reject), Bonferroni over the two resolutions.
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
    "Continuation",
    "TestResult",
    "agreement_identity_test",
    "discrepancy",
    "hamming_kernel",
    "holm",
    "identity_test",
    "lineage_test",
    "mmd2_unbiased",
    "prefix_match",
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


# --- identity: greedy agreement with logprobs ------------------------------------------------------


@dataclass(frozen=True)
class Continuation:
    """One completion as an API returned it: the text, and its tokens and their logprobs when given."""

    text: str
    tokens: tuple[str, ...] | None = None
    logprobs: tuple[float, ...] | None = None

    @property
    def has_logprobs(self) -> bool:
        return (
            self.tokens is not None and self.logprobs is not None and len(self.tokens) == len(self.logprobs)
        )


def _common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def discrepancy(x: Continuation, r: Continuation, *, tolerance: float, tokens: bool) -> tuple[int, float]:
    """How far ``x`` departs from ``r``: (units after their common prefix, logprob drift on the prefix).

    With ``tokens`` the units are tokens and the drift is the sum over the shared prefix of
    ``max(0, |logprob_x − logprob_r| − tolerance)``; otherwise the units are characters and the drift is
    0. Compared lexicographically: any token (or character) that differs outweighs any drift.
    """
    if tokens:
        assert x.tokens is not None and r.tokens is not None and x.logprobs and r.logprobs is not None
        a = _common_prefix(x.tokens, r.tokens)
        drift = sum(max(0.0, abs(x.logprobs[i] - r.logprobs[i]) - tolerance) for i in range(a))
        return max(len(x.tokens), len(r.tokens)) - a, float(drift)
    a = _common_prefix(x.text, r.text)
    return max(len(x.text), len(r.text)) - a, 0.0


def agreement_identity_test(
    suspect: Sequence[Continuation],
    reference: Sequence[Continuation],
    repeat: Sequence[Continuation],
    *,
    tolerance: float = 1e-3,
    alpha: float = 0.05,
    queries: int | None = None,
) -> TestResult:
    """H0: the suspect departs from the reference no more than the reference departs from itself.

    ``suspect[i]``, ``reference[i]`` and ``repeat[i]`` are greedy continuations of prompt i (``repeat`` =
    the reference asked again). Per prompt, D_s = discrepancy(suspect, reference) and D_0 =
    discrepancy(repeat, reference) (tokens and logprobs where all three carry them, else characters).
    If the suspect is the reference, suspect and repeat are two draws of the same (possibly
    nondeterministic) function, so D_s > D_0 and D_s < D_0 are equally likely: the one-sided sign test
    over the prompts that are not tied is exact. A deterministic reference makes every tie at H0 (p = 1);
    a quantised or fine-tuned copy moves logprobs on every prompt (p = 2^-prompts).

    ``tolerance`` (nats) absorbs logprob rounding by an API; it also hides copies closer than that. The
    effect size is (#{D_s > D_0} − #{D_s < D_0}) / prompts. Assumes the suspect and the reference were
    asked the same prompts with the same parameters (temperature 0), and that the repeat went through
    the same kind of request path as the first reference answer.
    """
    n = len(suspect)
    if n == 0 or len(reference) != n or len(repeat) != n:
        raise ValueError("agreement test needs the same prompts from suspect, reference and repeat")
    above = below = with_logprobs = 0
    suspect_diverged = repeat_diverged = 0
    drifts_s: list[float] = []
    drifts_0: list[float] = []
    signs: list[int] = []
    for s, r, r2 in zip(suspect, reference, repeat, strict=True):
        tokens = s.has_logprobs and r.has_logprobs and r2.has_logprobs
        with_logprobs += tokens
        ds = discrepancy(s, r, tolerance=tolerance, tokens=tokens)
        d0 = discrepancy(r2, r, tolerance=tolerance, tokens=tokens)
        suspect_diverged += ds[0] > 0
        repeat_diverged += d0[0] > 0
        if tokens:
            shared = _common_prefix(s.tokens or (), r.tokens or ())
            if shared:
                assert s.logprobs is not None and r.logprobs is not None
                drifts_s.append(float(np.mean([abs(s.logprobs[i] - r.logprobs[i]) for i in range(shared)])))
            shared0 = _common_prefix(r2.tokens or (), r.tokens or ())
            if shared0:
                assert r2.logprobs is not None and r.logprobs is not None
                drifts_0.append(float(np.mean([abs(r2.logprobs[i] - r.logprobs[i]) for i in range(shared0)])))
        above += ds > d0
        below += ds < d0
        signs.append((ds > d0) - (ds < d0))
    untied = above + below
    from scipy import stats  # slow to import: only when a test runs

    if untied == 0:
        p_value, log10_p = 1.0, 0.0
    else:
        log_sf = float(stats.binom.logsf(above - 1, untied, 0.5))
        p_value, log10_p = math.exp(log_sf), log_sf / math.log(10)
    return TestResult(
        name="identity (greedy agreement, logprobs)",
        null="the suspect's greedy answers depart from the reference's no more than the reference's own",
        statistic=float(above),
        pvalue=p_value,
        log10_pvalue=log10_p,
        effect_size=(above - below) / n,
        effect_size_name="(#prompts suspect departs more − #prompts reference repeat departs more) / prompts",
        queries=queries if queries is not None else 3 * n,
        rejected=p_value <= alpha,
        alpha=alpha,
        diagnostics={
            "prompts": n,
            "untied": untied,
            "suspect_departs_more": above,
            "repeat_departs_more": below,
            "prompts_with_logprobs": with_logprobs,
            "tolerance_nats": tolerance,
            "suspect_token_divergence_rate": suspect_diverged / n,
            "reference_self_divergence_rate": repeat_diverged / n,
            "mean_abs_logprob_diff_suspect": float(np.mean(drifts_s)) if drifts_s else None,
            "mean_abs_logprob_diff_reference_repeat": float(np.mean(drifts_0)) if drifts_0 else None,
            "per_prompt_sign": signs,
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


def prefix_match(a: str, b: str, chars: int) -> bool:
    """``a`` and ``b`` share their first ``chars`` characters (or are equal, when shorter than that)."""
    return a == b or (min(len(a), len(b)) >= chars and a[:chars] == b[:chars])


def _holm_against_baselines(
    hits: Mapping[str, int], reference: str, baselines: Sequence[str], n: int
) -> tuple[dict[str, tuple[float, float]], dict[str, float]]:
    tests = {b: two_proportion_z(hits[reference], hits[b], n) for b in baselines}
    adjusted = dict(zip(baselines, holm([tests[b][1] for b in baselines]), strict=True))
    return tests, adjusted


def lineage_test(
    suspect: Sequence[str],
    candidates: Mapping[str, Sequence[str]],
    reference: str,
    *,
    alpha: float = 0.05,
    queries: int | None = None,
    prefix_chars: int = 4,
) -> TestResult:
    """H0: the suspect agrees with the protected model no more often than with some baseline.

    ``suspect[i]`` and ``candidates[c][i]`` are greedy continuations of prompt i. hits_c counts matches
    at two resolutions: the whole continuation (Nikolić et al.) and its first ``prefix_chars``
    characters (0 leaves this one out). The second one keeps the test's power on a fine-tune whose
    continuations drift after their first words (measured: a 100-step SmolLM2 fine-tune on code matched
    its parent's whole 8-token continuation on 2 of 100 prompts, its first 4 characters on 13, an
    unrelated baseline on 0 either way). At each resolution, the one-sided z-tests of the reference
    against every baseline are Holm-adjusted and the resolution's p is the largest (all must reject);
    the test's p is the smaller of the two, doubled (Bonferroni). Under H0 some baseline is at least
    as close at every resolution, so a rejection needs a true null rejected: the error stays ≤ α.
    Characters, not tokens, so that candidates with other tokenizers compare alike. The effect size is
    the agreement difference between the reference and the best baseline at the deciding resolution.
    """
    n = len(suspect)
    baselines = [c for c in candidates if c != reference]
    if n == 0 or reference not in candidates or not baselines:
        raise ValueError("lineage test needs prompts, the reference and at least one baseline")
    resolutions = {"whole continuation": 0} | (
        {f"first {prefix_chars} chars": prefix_chars} if prefix_chars else {}
    )
    per: dict[str, dict[str, Any]] = {}
    for label, chars in resolutions.items():
        match = (lambda a, b: a == b) if chars == 0 else (lambda a, b, k=chars: prefix_match(a, b, k))
        hits = {
            c: sum(match(a, b) for a, b in zip(suspect, outs, strict=True)) for c, outs in candidates.items()
        }
        tests, adjusted = _holm_against_baselines(hits, reference, baselines, n)
        worst = max(baselines, key=lambda b: adjusted[b])
        per[label] = {
            "hits": hits,
            "tests": tests,
            "adjusted": adjusted,
            "worst": worst,
            "p": adjusted[worst],
        }
    deciding = min(per, key=lambda label: per[label]["p"])
    chosen = per[deciding]
    p_value = min(1.0, len(per) * chosen["p"])
    hits = per["whole continuation"]["hits"]
    best_baseline = max(baselines, key=lambda b: chosen["hits"][b])
    best = max(candidates, key=lambda c: hits[c])
    return TestResult(
        name="lineage (greedy agreement, Holm)",
        null="the suspect agrees with the reference no more often than with the best baseline",
        statistic=chosen["tests"][chosen["worst"]][0],
        pvalue=p_value,
        log10_pvalue=_log10(p_value),
        effect_size=(chosen["hits"][reference] - chosen["hits"][best_baseline]) / n,
        effect_size_name=f"agreement(reference) - agreement(best baseline), {deciding}",
        queries=queries if queries is not None else n * (1 + len(candidates)),
        rejected=p_value <= alpha,
        alpha=alpha,
        diagnostics={
            "prompts": n,
            "hits": hits,
            "agreement": {c: h / n for c, h in hits.items()},
            "holm_adjusted": per["whole continuation"]["adjusted"],
            "z": {b: per["whole continuation"]["tests"][b][0] for b in baselines},
            "closest_candidate": best,
            "deciding_resolution": deciding,
            "resolutions": {
                label: {
                    "hits": r["hits"],
                    "holm_adjusted": r["adjusted"],
                    "pvalue": r["p"],
                }
                for label, r in per.items()
            },
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

    ``usage`` is whatever the API says, and a proxy may rewrite it. A real tokenizer adds a whole number
    of tokens per repeat, so slopes that are not whole numbers, or that all differ from the reference's
    by one common factor, mark the counts as rewritten: the test then does not reject (``unreliable`` in
    the diagnostics says why), since a rewritten count must not clear a derived suspect.
    """
    units = [u for u in suspect if u in reference]
    s_slopes, r_slopes, bad, differing, inconsistent = {}, {}, [], [], []
    for u in units:
        bs, r2s = slope(suspect[u], repeats)
        br, r2r = slope(reference[u], repeats)
        s_slopes[u], r_slopes[u] = bs, br
        if r2r >= min_r2 and (r2s < min_r2 or abs(bs - round(bs)) > tolerance):
            inconsistent.append(u)
        if r2s < min_r2 or r2r < min_r2:
            bad.append(u)
        elif abs(bs - br) > tolerance:
            differing.append(u)
    used = [u for u in units if u not in bad]
    if not used:
        raise ValueError("tokenizer slope test: no probe unit gave a linear fit on both sides")
    distance = float(sum(abs(s_slopes[u] - r_slopes[u]) for u in used) / len(used))
    unreliable = ""
    ratios = [s_slopes[u] / r_slopes[u] for u in used if r_slopes[u] > 0]
    if inconsistent:
        # Cross-boundary merges can make a real tokenizer's unit nonlinear too: then the run merely goes
        # on to the lineage test, which is the safe direction.
        unreliable = (
            f"usage does not grow by a whole number of tokens per repeat for {len(inconsistent)} unit(s) "
            f"where the reference's does ({', '.join(map(repr, inconsistent))}): a proxy may rewrite usage"
        )
    elif len(differing) >= 2 and ratios and max(ratios) - min(ratios) < 0.02 * max(ratios):
        unreliable = f"every slope differs by one common factor ({ratios[0]:.3g}): usage looks rescaled"
    rejected = bool(differing) and not unreliable
    p_value = 0.0 if rejected else 1.0
    return TestResult(
        name="tokenizer slope",
        null="the suspect uses the reference's tokenizer",
        statistic=float(len(differing)),
        pvalue=p_value,
        log10_pvalue=_log10(p_value),
        effect_size=distance,
        effect_size_name="mean |slope difference| (tokens per unit)",
        queries=queries if queries is not None else sum(len(v) for v in suspect.values()),
        rejected=rejected,
        alpha=alpha,
        diagnostics={
            "deterministic": True,
            "units": len(units),
            "differing_units": differing,
            "nonlinear_units": bad,
            "inconsistent_units": inconsistent,
            "unreliable": unreliable,
            "suspect_slopes": s_slopes,
            "reference_slopes": r_slopes,
        },
    )
