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
)
from modeltrace.blackbox.tests import hamming_kernel, holm, mmd2_unbiased, two_proportion_z

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
