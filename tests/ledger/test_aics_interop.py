"""Cross-verification with an independent implementation: aics-tlog 0.2.1 (PyPI, Apache-2.0).

aics-tlog needs Python ≥ 3.12 and is not a dependency of modeltrace. This test runs when either
``aics_tlog`` is importable here, or ``MODELTRACE_AICS_PYTHON`` names an interpreter that has it, e.g.::

    python3.12 -m venv /tmp/aics && /tmp/aics/bin/pip install aics-tlog==0.2.1
    MODELTRACE_AICS_PYTHON=/tmp/aics/bin/python pytest tests/ledger/test_aics_interop.py

Otherwise it is skipped. Both sides sign with the same deterministic Ed25519 seeds, so the notes must be
identical byte for byte; each side also verifies the other's notes and proofs, and the tiles must match.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modeltrace.ledger import (
    Checkpoint,
    EntryBundleRef,
    InMemoryTree,
    SignatureError,
    build_entry_bundle,
    new_tiles,
    open_checkpoint,
    parse_note,
    parse_vkey,
    sign_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from modeltrace.ledger.tiles import TILE_WIDTH
from modeltrace.merkle import leaf_hash
from tests.ledger.reference import (
    LEAVES,
    LOG_ORIGIN,
    LOG_SEED,
    WITNESS_NAME,
    WITNESS_SEED,
    WITNESS_TIME,
    log_signer,
    witness_signer,
)
from tests.ledger.test_note import DERIVED_NOTE

SCRIPT = Path(__file__).with_name("aics_crosscheck.py")
# The first 8 leaves are the reference tree, so the size-8 checkpoint is the ledger note §2 vector.
ENTRIES = LEAVES + [f"modeltrace entry {i}".encode() * (1 + i % 5) for i in range(600 - len(LEAVES))]
SIZES = [1, 2, 3, 7, 8, 9, 255, 256, 257, 511, 513, 600]
TREE = InMemoryTree([leaf_hash(entry) for entry in ENTRIES])


def _aics_in_process() -> bool:
    return importlib.util.find_spec("aics_tlog") is not None


def _ask_aics(request: dict[str, Any]) -> dict[str, Any]:
    if _aics_in_process():
        from tests.ledger import aics_crosscheck

        answer: dict[str, Any] = aics_crosscheck.run(request)
        return answer
    python = os.environ.get("MODELTRACE_AICS_PYTHON")
    if not python:
        pytest.skip("aics-tlog is not importable and MODELTRACE_AICS_PYTHON is not set")
    done = subprocess.run(
        [python, str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    return answer


def _tampered(note: bytes) -> list[str]:
    text = note.decode()
    lines = text.split("\n")
    root_flipped = text.replace(lines[2], lines[2][:-2] + ("A=" if lines[2][-2] != "A" else "B="), 1)
    cosig = lines[-2]
    cosig_flipped = text.replace(
        cosig, cosig[:-6] + ("AAAA" if cosig[-6:-2] != "AAAA" else "BBBB") + cosig[-2:]
    )
    duplicated = text + cosig + "\n"
    return [root_flipped, cosig_flipped, duplicated]


@pytest.fixture(scope="module")
def exchange() -> tuple[dict[str, Any], dict[str, Any]]:
    checkpoint = Checkpoint(LOG_ORIGIN, 8, TREE.root(8))
    our_note = sign_checkpoint(checkpoint, log_signer(), witness_signer()).to_bytes()
    inclusion: list[dict[str, Any]] = [
        {"index": index, "size": size, "leaf_hash": TREE.subtree(0, index).hex()}
        for size in SIZES
        for index in sorted({0, size // 2, size - 1})
    ]
    consistency: list[dict[str, Any]] = [
        {"size1": size1, "size2": size2}
        for size2 in SIZES
        for size1 in sorted({1, max(1, size2 // 2), size2})
    ]
    for case in inclusion:
        case["proof"] = [h.hex() for h in TREE.inclusion_proof(case["index"], case["size"])]
    for case in consistency:
        case["proof"] = [h.hex() for h in TREE.consistency_proof(case["size1"], case["size2"])]
    request = {
        "log_seed": LOG_SEED.hex(),
        "witness_seed": WITNESS_SEED.hex(),
        "origin": LOG_ORIGIN,
        "witness_name": WITNESS_NAME,
        "timestamp": WITNESS_TIME,
        "leaves": [entry.hex() for entry in ENTRIES],
        "checkpoint_size": 8,
        "our_note": our_note.decode(),
        "our_log_vkey": log_signer().vkey,
        "our_witness_vkey": witness_signer().vkey,
        "tampered_notes": _tampered(our_note),
        "inclusion": inclusion,
        "consistency": consistency,
    }
    return request, _ask_aics(request)


def test_aics_builds_the_same_vkeys(exchange: tuple[dict[str, Any], dict[str, Any]]) -> None:
    request, answer = exchange
    assert answer["log_vkey"] == request["our_log_vkey"]
    assert answer["witness_vkey"] == request["our_witness_vkey"]


def test_aics_signs_the_same_checkpoint_and_cosignature_byte_for_byte(
    exchange: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    request, answer = exchange
    assert answer["note"].encode() == request["our_note"].encode() == DERIVED_NOTE


def test_aics_verifies_our_checkpoint_and_cosignature(
    exchange: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, answer = exchange
    assert answer["verify_our_note"]["ok"], answer["verify_our_note"]
    assert answer["verify_our_note"]["witnesses"] == [WITNESS_NAME]


def test_we_verify_the_aics_checkpoint_and_cosignature(
    exchange: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, answer = exchange
    log, witness = parse_vkey(answer["log_vkey"]), parse_vkey(answer["witness_vkey"])
    signed = open_checkpoint(answer["note"].encode(), [log], [witness])  # type: ignore[list-item]
    assert signed.checkpoint.size == 8 and signed.cosignatures[0].timestamp == WITNESS_TIME


def test_both_reject_the_same_tampered_notes(exchange: tuple[dict[str, Any], dict[str, Any]]) -> None:
    request, answer = exchange
    assert answer["verify_tampered_notes"] == [False] * len(request["tampered_notes"])
    log, witness = parse_vkey(request["our_log_vkey"]), parse_vkey(request["our_witness_vkey"])
    for note in request["tampered_notes"]:
        with pytest.raises(SignatureError):
            open_checkpoint(parse_note(note.encode()), [log], [witness])  # type: ignore[list-item]


def test_same_roots_and_proofs_both_ways(exchange: tuple[dict[str, Any], dict[str, Any]]) -> None:
    request, answer = exchange
    assert answer["roots"] == {str(n): TREE.root(n).hex() for n in range(len(ENTRIES) + 1)}
    assert all(answer["verify_our_inclusion"]) and all(answer["verify_our_consistency"])
    for case, theirs in zip(request["inclusion"], answer["inclusion"], strict=True):
        assert theirs == case["proof"]
        proof = [bytes.fromhex(h) for h in theirs]
        verify_inclusion(
            TREE.subtree(0, case["index"]), case["index"], case["size"], proof, TREE.root(case["size"])
        )
    for case, theirs in zip(request["consistency"], answer["consistency"], strict=True):
        assert theirs == case["proof"]
        proof = [bytes.fromhex(h) for h in theirs]
        verify_consistency(
            case["size1"], case["size2"], proof, TREE.root(case["size1"]), TREE.root(case["size2"])
        )


def test_same_tiles_and_entry_bundles(exchange: tuple[dict[str, Any], dict[str, Any]]) -> None:
    _, answer = exchange
    ours = {ref.path: data.hex() for ref, data in new_tiles(0, len(ENTRIES), TREE.subtree).items()}
    for start in range(0, len(ENTRIES), TILE_WIDTH):
        chunk = ENTRIES[start : start + TILE_WIDTH]
        ours[EntryBundleRef(start // TILE_WIDTH, len(chunk)).path] = build_entry_bundle(chunk).hex()
    assert answer["tiles"] == ours
