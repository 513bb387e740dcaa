"""The statistics, on answers collected over HTTP from the toy models (small, seeded budgets)."""

from __future__ import annotations

import numpy as np
import pytest

from modeltrace.blackbox import Client, Endpoint, identity_test, lineage_test, tokenizer_slope_test
from modeltrace.blackbox.probe import (
    IDENTITY_PROMPTS,
    collect_greedy,
    collect_samples,
    collect_slopes,
    lineage_prompts,
    parse_continuation,
)
from modeltrace.blackbox.tests import (
    Continuation,
    agreement_identity_test,
    hamming_kernel,
    holm,
    mmd2_unbiased,
    two_proportion_z,
)

PROMPTS = IDENTITY_PROMPTS[:6]


def samples(url: str, seed: int) -> dict[str, list[str]]:
    with Client(Endpoint(url, "m")) as c:
        return collect_samples(c, PROMPTS, 8, max_tokens=12, temperature=1.0, seed=seed)


def greedy(url: str, prompts: list[str]) -> list[str]:
    with Client(Endpoint(url, "m")) as c:
        return collect_greedy(c, prompts, max_tokens=6)


def test_holm_and_z() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    z, p = two_proportion_z(40, 10, 50)
    assert z > 6 and p < 1e-9
    assert two_proportion_z(10, 40, 50)[1] > 0.99


def test_mmd_is_zero_mean_under_permutation_and_positive_for_different_sets() -> None:
    k = hamming_kernel(["aaaa", "aaab", "bbbb", "bbba"], 4)
    assert k[0, 1] == 0.75 and k[0, 2] == 0.0
    split = np.array([[True, True, False, False]])
    mixed = np.array([[True, False, True, False]])
    assert mmd2_unbiased(k, split)[0] > 0.5 > mmd2_unbiased(k, mixed)[0]


def test_identity_same_model_other_seed_not_rejected(toy_servers: dict[str, str]) -> None:
    result = identity_test(samples(toy_servers["base"], 100), samples(toy_servers["base"], 5000), seed=0)
    assert not result.rejected, result
    assert result.pvalue > 0.05 and result.queries == 96


def test_identity_noised_copy_rejected(toy_servers: dict[str, str]) -> None:
    result = identity_test(samples(toy_servers["heavy"], 100), samples(toy_servers["base"], 5000), seed=0)
    assert result.rejected, result
    assert result.effect_size > result.diagnostics["null_q95"]


def test_lineage_perturbed_copy_matches_parent_not_independent(toy_servers: dict[str, str]) -> None:
    prompts = lineage_prompts(40, seed=3)
    cands = {
        "reference": greedy(toy_servers["base"], prompts),
        "baseline": greedy(toy_servers["other"], prompts),
    }
    derived = lineage_test(greedy(toy_servers["light"], prompts), cands, "reference")
    assert derived.rejected and derived.log10_pvalue < -5, derived
    assert derived.diagnostics["closest_candidate"] == "reference"
    independent = lineage_test(greedy(toy_servers["othertok"], prompts), cands, "reference")
    assert not independent.rejected, independent


def test_tokenizer_slope_same_and_different(toy_servers: dict[str, str]) -> None:
    repeats = (0, 1, 2, 3)

    def slopes(name: str) -> dict[str, list[int]]:
        with Client(Endpoint(toy_servers[name], "m")) as c:
            return collect_slopes(c, (" the", " west", "東京", " on"), repeats)

    base = slopes("base")
    same = tokenizer_slope_test(slopes("other"), base, repeats)
    assert not same.rejected and same.effect_size == 0.0
    different = tokenizer_slope_test(slopes("othertok"), base, repeats)
    assert different.rejected and different.pvalue == 0.0
    assert " the" in different.diagnostics["differing_units"]


def cont(text: str, logprobs: list[float] | None = None) -> Continuation:
    if logprobs is None:
        return Continuation(text)
    return Continuation(text, tuple(text), tuple(logprobs))  # one "token" per character


def test_agreement_identical_answers_tie_and_never_reject() -> None:
    same = [cont("abc", [-0.1, -0.2, -0.3])] * 12
    result = agreement_identity_test(same, same, same)
    assert result.pvalue == 1.0 and not result.rejected
    assert result.diagnostics["untied"] == 0 and result.diagnostics["prompts_with_logprobs"] == 12


def test_agreement_logprob_drift_on_every_prompt_gives_exact_sign_test_p() -> None:
    ref = [cont("abc", [-0.1, -0.2, -0.3])] * 10
    moved = [cont("abc", [-0.12, -0.2, -0.3])] * 10  # same tokens, logprobs 0.02 nats apart
    result = agreement_identity_test(moved, ref, ref)
    assert result.pvalue == pytest.approx(2.0**-10) and result.rejected
    assert result.effect_size == 1.0
    # drift under the tolerance (an API rounding its logprobs) is not evidence
    rounded = [cont("abc", [-0.1004, -0.2, -0.3])] * 10
    assert agreement_identity_test(rounded, ref, ref).pvalue == 1.0


def test_agreement_counts_the_reference_own_nondeterminism() -> None:
    ref = [cont("abcd")] * 8
    suspect = [cont("abXY")] * 4 + [cont("abcd")] * 4  # departs on 4 prompts
    flaky_repeat = [cont("aXYZ")] * 4 + [cont("abcd")] * 4  # the reference departs more on the same 4
    result = agreement_identity_test(suspect, ref, flaky_repeat)
    assert result.diagnostics["repeat_departs_more"] == 4 and result.pvalue == 1.0
    steady = agreement_identity_test(suspect, ref, ref)
    assert steady.pvalue == pytest.approx(2.0**-4)
    assert steady.diagnostics["suspect_token_divergence_rate"] == 0.5


def test_agreement_falls_back_to_text_when_one_side_has_no_logprobs() -> None:
    ref = [cont("abc", [-0.1, -0.2, -0.3])] * 6
    stripped = [cont("abc")] * 6  # same text, no logprobs: no drift can be measured, no rejection
    result = agreement_identity_test(stripped, ref, ref)
    assert result.diagnostics["prompts_with_logprobs"] == 0 and result.pvalue == 1.0


def test_parse_continuation_keeps_text_and_drops_malformed_logprobs() -> None:
    good = {"text": "ab", "logprobs": {"tokens": ["a", "b"], "token_logprobs": [-1.0, -0.5]}}
    assert parse_continuation(good) == Continuation("ab", ("a", "b"), (-1.0, -0.5))
    for bad in (None, "x", {"tokens": ["a"], "token_logprobs": [-1.0, -2.0]}, {"tokens": ["a"]},
                {"tokens": ["a"], "token_logprobs": ["-1"]}):  # fmt: skip
        parsed = parse_continuation({"text": "ab", "logprobs": bad})
        assert parsed == Continuation("ab") and not parsed.has_logprobs


def test_tokenizer_slope_sets_aside_rewritten_usage() -> None:
    repeats = (0, 1, 2, 3)
    ref = {"u": [2, 3, 4, 5], "v": [2, 5, 8, 11], "w": [2, 4, 6, 8]}
    other_tokenizer = {"u": [2, 3, 4, 5], "v": [2, 4, 6, 8], "w": [2, 5, 8, 11]}
    assert tokenizer_slope_test(other_tokenizer, ref, repeats).rejected
    estimated = {"u": [2, 2, 3, 3], "v": [2, 4, 6, 8], "w": [2, 5, 8, 11]}  # chars/4: not whole tokens
    result = tokenizer_slope_test(estimated, ref, repeats)
    assert not result.rejected and "whole number" in result.diagnostics["unreliable"]
    doubled = {u: [2 * c for c in counts] for u, counts in ref.items()}  # every slope × 2
    result = tokenizer_slope_test(doubled, ref, repeats)
    assert not result.rejected and "common factor" in result.diagnostics["unreliable"]


def test_lineage_prefix_resolution_catches_drifting_continuations() -> None:
    ref = [f"Answer {i} is long" for i in range(40)]
    base = [f"Other {i} text here" for i in range(40)]
    drifted = [f"Answer {i} drifts away" if i % 2 else f"X{i}" for i in range(40)]  # never a whole match
    result = lineage_test(drifted, {"reference": ref, "baseline": base}, "reference")
    assert result.diagnostics["hits"]["reference"] == 0
    assert result.rejected and result.diagnostics["deciding_resolution"] == "first 4 chars"
    assert result.pvalue == pytest.approx(2 * result.diagnostics["resolutions"]["first 4 chars"]["pvalue"])
    exact_only = lineage_test(drifted, {"reference": ref, "baseline": base}, "reference", prefix_chars=0)
    assert not exact_only.rejected
    unrelated = lineage_test(base, {"reference": ref, "baseline": [b[::-1] for b in base]}, "reference")
    assert not unrelated.rejected
