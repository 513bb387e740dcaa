"""The independent side of the aics-tlog cross-check (aics-tlog 0.2.1, PyPI, Apache-2.0).

Standalone on purpose: it imports only ``aics_tlog`` and ``cryptography``, never modeltrace, so it runs
in whatever interpreter has aics-tlog (it needs Python ≥ 3.12). ``test_aics_interop.py`` calls
:func:`run` in-process when ``aics_tlog`` is importable, or runs this file as a script under
``$MODELTRACE_AICS_PYTHON`` (JSON request on stdin, JSON answer on stdout).

Given our notes, keys, leaves and proofs, it answers with aics-tlog's own verdicts on them and with what
aics-tlog produces from the same seeds and leaves, for the test to compare byte for byte.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def run(request: dict[str, Any]) -> dict[str, Any]:
    import aics_tlog  # type: ignore[import-not-found, unused-ignore]
    from aics_tlog import tiles as aics_tiles  # type: ignore[import-not-found, unused-ignore]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    log_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(request["log_seed"]))
    witness_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(request["witness_seed"]))
    origin, witness_name, timestamp = request["origin"], request["witness_name"], request["timestamp"]
    leaves = [bytes.fromhex(leaf) for leaf in request["leaves"]]
    tree = aics_tlog.MerkleTree(leaves)
    size = request["checkpoint_size"]

    log_vkey = aics_tlog.vkey_from_ed25519(origin, log_key.public_key())
    witness_vkey = aics_tlog.cosignature_vkey(witness_name, witness_key.public_key())
    checkpoint = aics_tlog.Checkpoint(origin, size, tree.root(size))
    signed = aics_tlog.sign_checkpoint(checkpoint, log_key, origin)
    _, cosignature = aics_tlog.sign_cosignature(
        witness_key, witness_name, timestamp, origin, size, tree.root(size)
    )
    aics_note = aics_tlog.Note(text=signed.text, signatures=(*signed.signatures, cosignature))

    def verify(note_text: str) -> dict[str, Any]:
        try:
            note = aics_tlog.parse_note(note_text)
        except ValueError as error:
            return {"ok": False, "error": f"parse: {error}"}
        result = aics_tlog.verify_checkpoint(
            note,
            aics_tlog.parse_vkey(request["our_log_vkey"]),
            [aics_tlog.parse_vkey(request["our_witness_vkey"])],
            quorum=1,
        )
        return {"ok": result.ok, "error": result.error, "witnesses": result.witnesses}

    return {
        "log_vkey": aics_tlog.format_vkey(log_vkey),
        "witness_vkey": aics_tlog.format_vkey(witness_vkey),
        "note": aics_note.serialise(),
        "verify_our_note": verify(request["our_note"]),
        "verify_tampered_notes": [verify(note)["ok"] for note in request["tampered_notes"]],
        "roots": {str(n): tree.root(n).hex() for n in range(len(leaves) + 1)},
        "verify_our_inclusion": [
            aics_tlog.verify_inclusion(
                bytes.fromhex(case["leaf_hash"]),
                case["index"],
                case["size"],
                [bytes.fromhex(h) for h in case["proof"]],
                tree.root(case["size"]),
            )
            for case in request["inclusion"]
        ],
        "inclusion": [
            [h.hex() for h in tree.inclusion_proof(c["index"], c["size"])] for c in request["inclusion"]
        ],
        "verify_our_consistency": [
            aics_tlog.verify_consistency(
                case["size1"],
                case["size2"],
                tree.root(case["size1"]),
                tree.root(case["size2"]),
                [bytes.fromhex(h) for h in case["proof"]],
            )
            for case in request["consistency"]
        ],
        "consistency": [
            [h.hex() for h in tree.consistency_proof(c["size1"], c["size2"])] for c in request["consistency"]
        ],
        "tiles": {path: data.hex() for path, data in aics_tiles.materialise_tiles(leaves).items()},
    }


if __name__ == "__main__":
    json.dump(run(json.load(sys.stdin)), sys.stdout)
