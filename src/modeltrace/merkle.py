"""RFC 6962 / RFC 9162 Merkle tree hashing: leaf and node hashes and the tree head of a sequence.

Leaves are hashed as ``SHA-256(0x00 || data)`` and interior nodes as ``SHA-256(0x01 || left || right)``;
the root of ``n`` leaves splits at the largest power of two below ``n`` (RFC 6962 §2.1). The root is
computed incrementally from a stack of perfect subtrees, so a caller can stream leaves without holding
them all. Proof logic lives with the ledger; this module is only the hashing strategy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleAccumulator:
    """Adds leaf hashes one at a time; ``root()`` gives the RFC 6962 tree head of all so far."""

    def __init__(self) -> None:
        # (size, hash) of perfect subtrees, sizes strictly decreasing powers of two.
        self._stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add_leaf_hash(self, digest: bytes) -> None:
        size, node = 1, digest
        while self._stack and self._stack[-1][0] == size:
            left_size, left = self._stack.pop()
            size, node = left_size + size, node_hash(left, node)
        self._stack.append((size, node))
        self.size += 1

    def add(self, data: bytes) -> None:
        self.add_leaf_hash(leaf_hash(data))

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def merkle_root(leaves: Iterable[bytes]) -> bytes:
    """The RFC 6962 tree head over raw leaf data."""
    acc = MerkleAccumulator()
    for data in leaves:
        acc.add(data)
    return acc.root()
