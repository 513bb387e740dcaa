"""Properties of proof generation and verification over every tree size up to 300.

Happy paths are exhaustive (all 45,150 inclusion and 45,150 consistency pairs); mutations are sampled
by hypothesis: a flipped bit anywhere, an index or size off by one, a dropped, added or reordered hash
must each be rejected.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeltrace.ledger import (
    InMemoryTree,
    ProofError,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from modeltrace.ledger.proofs import inclusion_proofs
from modeltrace.merkle import leaf_hash, node_hash

MAX_SIZE = 300
LEAVES = [i.to_bytes(4, "big") for i in range(MAX_SIZE + 1)]
TREE = InMemoryTree([leaf_hash(leaf) for leaf in LEAVES])
ROOTS = [TREE.root(size) for size in range(MAX_SIZE + 2)]
PROPERTY = settings(
    max_examples=1500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def test_every_inclusion_proof_up_to_300_verifies() -> None:
    for size in range(1, MAX_SIZE + 1):
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            verify_inclusion(TREE.subtree(0, index), index, size, proof, ROOTS[size])


def test_every_consistency_proof_up_to_300_verifies() -> None:
    for size2 in range(1, MAX_SIZE + 1):
        for size1 in range(1, size2 + 1):
            proof = TREE.consistency_proof(size1, size2)
            verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])


# --- generation against RFC 6962 §2.1's recursive definitions over raw leaves --------------------------


@cache
def _mth(start: int, end: int) -> bytes:
    if end - start == 1:
        return leaf_hash(LEAVES[start])
    k = 1
    while k * 2 < end - start:
        k *= 2
    return node_hash(_mth(start, start + k), _mth(start + k, end))


def _path(m: int, start: int, end: int) -> list[bytes]:
    if end - start == 1:
        return []
    k = 1
    while k * 2 < end - start:
        k *= 2
    if m < k:
        return [*_path(m, start, start + k), _mth(start + k, end)]
    return [*_path(m - k, start + k, end), _mth(start, start + k)]


def _subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
    if m == end - start:
        return [] if whole else [_mth(start, end)]
    k = 1
    while k * 2 < end - start:
        k *= 2
    if m <= k:
        return [*_subproof(m, start, start + k, whole), _mth(start + k, end)]
    return [*_subproof(m - k, start + k, end, False), _mth(start, start + k)]


@pytest.mark.parametrize("size", range(1, 65))
def test_generation_matches_the_rfc_definitions(size: int) -> None:
    assert TREE.root(size) == _mth(0, size)
    for m in range(size):
        assert inclusion_proof(m, size, TREE.subtree) == _path(m, 0, size)
    for m in range(1, size + 1):
        assert consistency_proof(m, size, TREE.subtree) == _subproof(m, 0, size, True)


def test_batch_inclusion_proofs_equal_the_single_ones_up_to_300() -> None:
    # The receipts of a batch use the bottom-up inclusion_proofs; it must give PATH exactly.
    for size in range(1, 301):
        indices = list(range(size))
        assert inclusion_proofs(indices, size, TREE.subtree) == [
            inclusion_proof(m, size, TREE.subtree) for m in indices
        ]
    assert inclusion_proofs([5, 5, 0], 7, TREE.subtree) == [_path(m, 0, 7) for m in (5, 5, 0)]
    with pytest.raises(ProofError):
        inclusion_proofs([7], 7, TREE.subtree)


# --- mutations ----------------------------------------------------------------------------------------


def _flip(data: bytes, bit: int) -> bytes:
    position = bit % (8 * len(data))
    mutated = bytearray(data)
    mutated[position // 8] ^= 1 << (position % 8)
    return bytes(mutated)


@st.composite
def inclusion_cases(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(0, size - 1)), size


@st.composite
def consistency_cases(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(1, size2)), size2


INCLUSION_MUTATIONS = ["proof bit", "leaf bit", "root bit", "index-1", "index+1", "size-1", "size+1"]
INCLUSION_MUTATIONS += ["drop", "insert", "duplicate", "swap"]


@PROPERTY
@given(
    inclusion_cases(),
    st.sampled_from(INCLUSION_MUTATIONS),
    st.integers(0, 2**16),
    st.binary(min_size=32, max_size=32),
)
def test_mutated_inclusion_proof_fails(
    case: tuple[int, int], mutation: str, choice: int, junk: bytes
) -> None:
    index, size = case
    proof = TREE.inclusion_proof(index, size)
    leaf, root = TREE.subtree(0, index), ROOTS[size]
    where = choice % (len(proof) + 1)
    if mutation == "proof bit" and proof:
        proof[choice % len(proof)] = _flip(proof[choice % len(proof)], choice)
    elif mutation == "leaf bit":
        leaf = _flip(leaf, choice)
    elif mutation == "root bit":
        root = _flip(root, choice)
    elif mutation in ("index-1", "index+1"):
        index += -1 if mutation == "index-1" else 1
        if index < 0:
            return
    elif mutation in ("size-1", "size+1"):
        # With the root the mutated size really has: a checkpoint binds size and root together. (With
        # the old root an RFC 9162 proof may verify at another size of the same shape; see below.)
        size += -1 if mutation == "size-1" else 1
        root = ROOTS[size]
    elif mutation == "drop" and proof:
        del proof[choice % len(proof)]
    elif mutation == "insert":
        proof.insert(where, junk)
    elif mutation == "duplicate" and proof:
        proof.insert(where, proof[choice % len(proof)])
    elif mutation == "swap" and len(proof) > 1:
        i = choice % (len(proof) - 1)
        proof[i], proof[i + 1] = proof[i + 1], proof[i]
    else:
        return  # the mutation does not apply to an empty proof
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, proof, root)


CONSISTENCY_MUTATIONS = ["proof bit", "root1 bit", "root2 bit", "size1-1", "size1+1", "size2-1", "size2+1"]
CONSISTENCY_MUTATIONS += ["drop", "insert", "duplicate", "swap"]


@PROPERTY
@given(
    consistency_cases(),
    st.sampled_from(CONSISTENCY_MUTATIONS),
    st.integers(0, 2**16),
    st.binary(min_size=32, max_size=32),
)
def test_mutated_consistency_proof_fails(
    case: tuple[int, int], mutation: str, choice: int, junk: bytes
) -> None:
    size1, size2 = case
    proof = TREE.consistency_proof(size1, size2)
    root1, root2 = ROOTS[size1], ROOTS[size2]
    where = choice % (len(proof) + 1)
    if mutation == "proof bit" and proof:
        proof[choice % len(proof)] = _flip(proof[choice % len(proof)], choice)
    elif mutation == "root1 bit":
        root1 = _flip(root1, choice)
    elif mutation == "root2 bit":
        root2 = _flip(root2, choice)
    elif mutation in ("size1-1", "size1+1"):
        size1 += -1 if mutation == "size1-1" else 1
        root1 = ROOTS[size1]
    elif mutation in ("size2-1", "size2+1"):
        size2 += -1 if mutation == "size2-1" else 1
        root2 = ROOTS[size2]
    elif mutation == "drop" and proof:
        del proof[choice % len(proof)]
    elif mutation == "insert":
        proof.insert(where, junk)
    elif mutation == "duplicate" and proof:
        proof.insert(where, proof[choice % len(proof)])
    elif mutation == "swap" and len(proof) > 1:
        i = choice % (len(proof) - 1)
        proof[i], proof[i + 1] = proof[i + 1], proof[i]
    else:
        return
    with pytest.raises(ProofError):
        verify_consistency(size1, size2, proof, root1, root2)


@PROPERTY
@given(consistency_cases(), st.integers(0, 2**16))
def test_old_size_off_by_one_fails_even_with_the_old_root(case: tuple[int, int], choice: int) -> None:
    size1, size2 = case
    proof = TREE.consistency_proof(size1, size2)
    for wrong in (size1 - 1, size1 + 1):
        with pytest.raises(ProofError):
            verify_consistency(wrong, size2, proof, ROOTS[size1], ROOTS[size2])


def test_index_off_by_one_fails_for_every_pair_up_to_64() -> None:
    for size in range(1, 65):
        for index in range(size):
            proof = TREE.inclusion_proof(index, size)
            for wrong in (index - 1, index + 1):
                if wrong >= 0:
                    with pytest.raises(ProofError):
                        verify_inclusion(TREE.subtree(0, index), wrong, size, proof, ROOTS[size])


def test_inclusion_proof_alone_does_not_bind_the_tree_size() -> None:
    # RFC 9162 §2.1.3.2 only checks that the proof has the shape the size implies; sizes 3 and 4 give
    # leaf 0 the same shape, so the size-3 proof and root also "verify" at size 4. This is why a verifier
    # takes size and root together from a signed checkpoint, never the size from elsewhere.
    proof = TREE.inclusion_proof(0, 3)
    verify_inclusion(TREE.subtree(0, 0), 0, 4, proof, ROOTS[3])
    with pytest.raises(ProofError):
        verify_inclusion(TREE.subtree(0, 0), 0, 4, proof, ROOTS[4])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=12), inclusion_cases())
def test_random_proofs_never_verify(proof: list[bytes], case: tuple[int, int]) -> None:
    index, size = case
    with pytest.raises(ProofError):
        verify_inclusion(TREE.subtree(0, index), index, size, proof, ROOTS[size])
