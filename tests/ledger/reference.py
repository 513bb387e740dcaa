"""Shared test material: the RFC 6962 reference tree and the note §2 deterministic keys."""

from __future__ import annotations

from modeltrace.ledger import CosignatureSigner, Ed25519Signer, InMemoryTree
from modeltrace.merkle import leaf_hash

# transparency-dev/merkle's reference leaves; its vectors' roots are for prefixes of this tree.
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

LOG_ORIGIN = "example.org/aiprov-test"
LOG_SEED = bytes(range(0x00, 0x20))
WITNESS_NAME = "witness.example.org/w1"
WITNESS_SEED = bytes(range(0x20, 0x40))
WITNESS_TIME = 1767225600  # 2026-01-01T00:00:00Z


def reference_tree() -> InMemoryTree:
    return InMemoryTree([leaf_hash(leaf) for leaf in LEAVES])


def log_signer() -> Ed25519Signer:
    return Ed25519Signer.from_seed(LOG_ORIGIN, LOG_SEED)


def witness_signer(timestamp: int = WITNESS_TIME) -> CosignatureSigner:
    return CosignatureSigner.from_seed(WITNESS_NAME, WITNESS_SEED, clock=lambda: timestamp)
