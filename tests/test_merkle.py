"""RFC 6962 tree heads against the transparency-dev/merkle vectors (tests/data, Apache-2.0)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from modeltrace.merkle import EMPTY_ROOT, MerkleAccumulator, leaf_hash, merkle_root, node_hash

DATA = Path(__file__).parent / "data" / "transparency-dev-merkle"
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def _vector_roots() -> dict[int, bytes]:
    roots: dict[int, bytes] = {}
    for path in DATA.glob("*.json"):
        vector = json.loads(path.read_text())
        if "treeSize" in vector:
            roots[vector["treeSize"]] = base64.b64decode(vector["root"])
        else:
            roots[vector["size1"]] = base64.b64decode(vector["root1"])
            roots[vector["size2"]] = base64.b64decode(vector["root2"])
    return roots


def test_vectors_cover_several_sizes() -> None:
    assert {1, 2, 3, 5, 6, 7, 8} <= set(_vector_roots())


@pytest.mark.parametrize("size", [1, 2, 3, 5, 6, 7, 8])
def test_root_matches_published_vector(size: int) -> None:
    assert merkle_root(LEAVES[:size]) == _vector_roots()[size]


def test_empty_tree_and_leaf_domain_separation() -> None:
    assert merkle_root([]) == EMPTY_ROOT
    assert leaf_hash(b"") != node_hash(b"", b"")


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 by its recursive definition."""
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return node_hash(_reference_root(leaves[:split]), _reference_root(leaves[split:]))


def test_incremental_root_equals_recursive_definition() -> None:
    leaves = [bytes([i % 251]) * (i % 7) for i in range(70)]
    acc = MerkleAccumulator()
    for count, leaf in enumerate(leaves, start=1):
        acc.add(leaf)
        assert acc.root() == _reference_root(leaves[:count]), count
