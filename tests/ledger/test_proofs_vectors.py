"""RFC 6962/9162 proofs against published vectors.

* transparency-dev/merkle ``testdata/inclusion`` and ``testdata/consistency`` (tests/data/ledger,
  Apache-2.0): every file, imported unchanged; happy paths verify, mutations fail as ``wantErr`` says.
* The ledger note §2: hashes of the reference tree, its roots, and the first bytes of five proofs.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from modeltrace.ledger import (
    ProofError,
    RootMismatchError,
    consistency_proof,
    inclusion_proof,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from modeltrace.merkle import EMPTY_ROOT, leaf_hash, node_hash
from tests.ledger.reference import reference_tree

VECTORS = Path(__file__).parents[1] / "data" / "ledger" / "transparency-dev-merkle"
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))

# The one vector whose expectation we deliberately do not share: it wants two 12-byte "roots"
# ("don't care 2") accepted as consistent at equal sizes. A root is a SHA-256 hash; we reject any
# hash that is not 32 bytes before comparing anything (ledger note §1, §2).
TWELVE_BYTE_ROOTS = "consistency/additional/sizes-are-equal-one-and-proof-is-empty.json"


def _load(path: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads(path.read_text())
    return vector


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


def _proof(vector: dict[str, Any]) -> list[bytes]:
    # Go writes an empty proof as null (a nil slice).
    return [_b64(element) for element in vector["proof"] or []]


def _name(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def test_all_vector_files_are_present() -> None:
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98
    assert (VECTORS / "LICENSE").is_file() and (VECTORS / "SOURCE.md").is_file()


@pytest.mark.parametrize("path", INCLUSION, ids=_name)
def test_inclusion_vector(path: Path) -> None:
    vector = _load(path)
    arguments = (
        _b64(vector["leafHash"]),
        vector["leafIdx"],
        vector["treeSize"],
        _proof(vector),
        _b64(vector["root"]),
    )
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*arguments)
    else:
        verify_inclusion(*arguments)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_name)
def test_consistency_vector(path: Path) -> None:
    vector = _load(path)
    arguments = (
        vector["size1"],
        vector["size2"],
        _proof(vector),
        _b64(vector["root1"]),
        _b64(vector["root2"]),
    )
    if vector["wantErr"] or _name(path) == TWELVE_BYTE_ROOTS:
        with pytest.raises(ProofError):
            verify_consistency(*arguments)
    else:
        verify_consistency(*arguments)


def test_the_deliberate_deviation_is_about_hash_length_only() -> None:
    vector = _load(VECTORS / TWELVE_BYTE_ROOTS)
    assert vector["wantErr"] is False and len(_b64(vector["root1"])) == 12
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(1, 1, [], _b64(vector["root1"]), _b64(vector["root2"]))
    # The same case with real 32-byte roots is accepted, as the vector intends.
    verify_consistency(1, 1, [], EMPTY_ROOT, EMPTY_ROOT)


HAPPY_INCLUSION = [p for p in INCLUSION if _load(p)["wantErr"] is False and _load(p)["treeSize"] > 1]
HAPPY_CONSISTENCY = [p for p in CONSISTENCY if _load(p)["wantErr"] is False and _name(p) != TWELVE_BYTE_ROOTS]


@pytest.mark.parametrize("path", HAPPY_INCLUSION, ids=_name)
def test_generated_inclusion_proof_equals_vector(path: Path) -> None:
    vector = _load(path)
    tree = reference_tree()
    assert tree.root(vector["treeSize"]) == _b64(vector["root"])
    assert tree.subtree(0, vector["leafIdx"]) == _b64(vector["leafHash"])
    generated = inclusion_proof(vector["leafIdx"], vector["treeSize"], tree.subtree)
    assert generated == _proof(vector)


@pytest.mark.parametrize("path", HAPPY_CONSISTENCY, ids=_name)
def test_generated_consistency_proof_equals_vector(path: Path) -> None:
    vector = _load(path)
    tree = reference_tree()
    assert tree.root(vector["size1"]) == _b64(vector["root1"])
    assert tree.root(vector["size2"]) == _b64(vector["root2"])
    generated = consistency_proof(vector["size1"], vector["size2"], tree.subtree)
    assert generated == _proof(vector)


# --- ledger note §2 -----------------------------------------------------------------------------------

ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def test_rfc6962_hash_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert (
        node_hash(b"N123", b"N456").hex()
        == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_reference_roots(size: int) -> None:
    tree = reference_tree()
    assert tree.root(size).hex() == ROOTS[size]
    assert tree_root(size, tree.subtree).hex() == ROOTS[size]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert reference_tree().root(0) == EMPTY_ROOT


@pytest.mark.parametrize(
    ("kind", "first", "second", "prefixes"),
    [
        ("inclusion", 0, 8, ["96a296d224f285c6", "5f083f0a1a33ca07", "6b47aaf29ee3c2af"]),
        ("inclusion", 5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
        ("consistency", 3, 7, ["0298d122", "07506a85", "fac54203", "837dbb15"]),
        ("consistency", 4, 8, ["6b47aaf2"]),
        ("consistency", 6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    ],
)
def test_note_proof_prefixes(kind: str, first: int, second: int, prefixes: list[str]) -> None:
    tree = reference_tree()
    if kind == "inclusion":
        proof = tree.inclusion_proof(first, second)
        verify_inclusion(tree.subtree(0, first), first, second, proof, tree.root(second))
    else:
        proof = tree.consistency_proof(first, second)
        verify_consistency(first, second, proof, tree.root(first), tree.root(second))
    assert len(proof) == len(prefixes)
    for element, prefix in zip(proof, prefixes, strict=True):
        assert element.hex().startswith(prefix)


def test_root_mismatch_carries_both_roots() -> None:
    tree = reference_tree()
    wrong = bytes(32)
    with pytest.raises(RootMismatchError) as caught:
        verify_inclusion(tree.subtree(0, 5), 5, 8, tree.inclusion_proof(5, 8), wrong)
    assert caught.value.expected == wrong and caught.value.calculated == tree.root(8)
