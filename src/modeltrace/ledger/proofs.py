"""RFC 6962 / RFC 9162 §2.1 Merkle inclusion and consistency proofs: generation and verification.

Hashing (leaf, node, empty root) is :mod:`modeltrace.merkle`'s; this module is only proof logic. Proofs
are *generated* from a :data:`SubtreeHash` callable that returns the hash of any perfect subtree, so the
same code serves an in-memory tree (:class:`InMemoryTree`), a database, or tiles
(:class:`modeltrace.ledger.tiles.TileSubtrees`). Verification follows the RFC 9162 §2.1.3.2 and
§2.1.4.2 algorithms step by step and never trusts a length it was given: every hash must be 32 bytes,
every size a uint64, and a proof is rejected as soon as it is longer or shorter than its sizes allow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modeltrace.ledger.errors import ProofError, RootMismatchError
from modeltrace.merkle import EMPTY_ROOT, node_hash

HASH_SIZE = 32
# Tree sizes and indices are uint64 on the wire (tlog-checkpoint, tlog-proof, RFC 9162), so no honest
# proof is longer than 64 hashes; bounding it first keeps a hostile proof from costing more than that.
MAX_TREE_SIZE = 2**64 - 1
MAX_PROOF_HASHES = 64

SubtreeHash = Callable[[int, int], bytes]
"""``subtree(level, index)`` → MTH(D[index·2^level : (index+1)·2^level]), a perfect subtree's hash."""


def _check_count(value: int, what: str) -> None:
    # bool is an int in Python; a JSON ``true`` must not pass for a tree size.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TREE_SIZE:
        raise ProofError(f"{what} must be an integer in [0, 2^64), got {value!r}")


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ProofError(f"{what} must be a {HASH_SIZE}-byte hash, got {length}")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofError(f"proof has {len(proof)} hashes, more than any uint64 tree needs")
    for position, element in enumerate(proof):
        _check_hash(element, f"proof[{position}]")


def _split(size: int) -> int:
    """RFC 6962 §2.1's k: the largest power of two strictly less than ``size`` (``size`` ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


def _range_hash(start: int, end: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[start:end]) for a range the proof recursions produce.

    Such a range starts at a multiple of the largest power of two that fits in it, so it is a run of
    perfect subtrees of strictly decreasing size, hashed right to left (RFC 6962 §2.1's recursion,
    unrolled).
    """
    parts: list[bytes] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start % (1 << level):
            raise ProofError(f"range [{start}, {end}) is not aligned to perfect subtrees")
        digest = subtree(level, start >> level)
        _check_hash(digest, f"subtree hash at level {level}, index {start >> level}")
        parts.append(bytes(digest))
        start += 1 << level
    digest = parts[-1]
    for left in reversed(parts[:-1]):
        digest = node_hash(left, digest)
    return digest


def tree_root(size: int, subtree: SubtreeHash) -> bytes:
    """MTH(D[0:size]) (RFC 6962 §2.1); SHA-256("") for the empty tree, not a leaf hash."""
    _check_count(size, "tree size")
    if size == 0:
        return EMPTY_ROOT
    return _range_hash(0, size, subtree)


def inclusion_proof(index: int, size: int, subtree: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 6962 §2.1.1), ordered from the leaf's sibling up to the root's child."""
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    top_down: list[bytes] = []
    low, high = 0, size
    while high - low > 1:
        middle = low + _split(high - low)
        if index < middle:
            top_down.append(_range_hash(middle, high, subtree))
            high = middle
        else:
            top_down.append(_range_hash(low, middle, subtree))
            low = middle
    return top_down[::-1]


def inclusion_proofs(indices: Sequence[int], size: int, subtree: SubtreeHash) -> list[list[bytes]]:
    """:func:`inclusion_proof` of each index in one tree, bottom-up, for a batch's receipts.

    The same path, found from the leaf upward (as ``transparency-dev/merkle``'s ``proof.Nodes`` does):
    below level ``inner`` = bit length of ``index XOR (size-1)`` every level has a sibling, perfect
    except the right-edge one, hashed from the perfect subtrees it is made of; above it, only the
    levels where ``index`` has a 1 bit have one, always a perfect left subtree. Neighbouring leaves
    share those subtrees and edge ranges, so each is computed once for the batch.
    """
    _check_count(size, "tree size")
    edges: dict[tuple[int, int], bytes] = {}
    proofs: list[list[bytes]] = []
    for index in indices:
        _check_count(index, "leaf index")
        if index >= size:
            raise ProofError(f"leaf index {index} is not below tree size {size}")
        inner = (index ^ (size - 1)).bit_length()
        proof: list[bytes] = []
        for level in range(inner):
            sibling = (index >> level) ^ 1
            start = sibling << level
            end = start + (1 << level)
            if end <= size:
                proof.append(subtree(level, sibling))
            else:  # the right edge of the tree: an imperfect subtree, [start, size)
                digest = edges.get((start, size))
                if digest is None:
                    digest = edges[start, size] = _range_hash(start, size, subtree)
                proof.append(digest)
        for level in range(inner, size.bit_length()):
            if (index >> level) & 1:
                proof.append(subtree(level, (index >> level) ^ 1))
        if any(len(digest) != HASH_SIZE for digest in proof):
            _check_proof(proof)  # names the bad element
        proofs.append(proof)
    return proofs


def consistency_proof(size1: int, size2: int, subtree: SubtreeHash) -> list[bytes]:
    """PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true) (RFC 6962 §2.1.2).

    Empty when ``size1`` is 0 or equals ``size2``: that is what the tlog-witness protocol sends for
    ``old 0`` and what RFC 9162 verification requires at equal sizes.
    """
    _check_count(size1, "first tree size")
    _check_count(size2, "second tree size")
    if size1 > size2:
        raise ProofError(f"first tree size {size1} is larger than second tree size {size2}")
    if size1 == 0 or size1 == size2:
        return []
    top_down: list[bytes] = []
    low, high, target, whole_is_known = 0, size2, size1, True
    while True:
        if target == high - low:
            # At the bottom: the verifier already holds the old root only if we never went right.
            if not whole_is_known:
                top_down.append(_range_hash(low, high, subtree))
            break
        middle = low + _split(high - low)
        if target <= middle - low:
            top_down.append(_range_hash(middle, high, subtree))
            high = middle
        else:
            top_down.append(_range_hash(low, middle, subtree))
            target -= middle - low
            low = middle
            whole_is_known = False
    return top_down[::-1]


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof commits to (RFC 9162 §2.1.3.2 steps 1–5, without the comparison)."""
    _check_count(index, "leaf index")
    _check_count(size, "tree size")
    if index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_hash(leaf_hash, "leaf hash")
    _check_proof(proof)
    fn, sn, digest = index, size - 1, bytes(leaf_hash)
    for element in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof is longer than tree size {size} allows")
        if fn & 1 or fn == sn:
            digest = node_hash(bytes(element), digest)
            # A right-edge node with no sibling at this level: climb until fn is a right child again.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            digest = node_hash(digest, bytes(element))
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof is shorter than tree size {size} requires")
    return digest


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` with ``root`` (RFC 9162 §2.1.3.2).

    Raises :class:`ProofError` (or its subclass :class:`RootMismatchError`); returns nothing on success.
    """
    _check_hash(root, "root")
    calculated = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if calculated != root:
        raise RootMismatchError(bytes(root), calculated)


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree of ``size2``/``root2`` extends the tree of ``size1``/``root1`` (RFC 9162 §2.1.4.2).

    Equal sizes need an empty proof and equal roots; a proof *from* size 0 is meaningless and rejected
    (a witness treats ``old 0`` separately). Raises :class:`ProofError`; returns nothing on success.
    """
    _check_count(size1, "first tree size")
    _check_count(size2, "second tree size")
    _check_hash(root1, "first root")
    _check_hash(root2, "second root")
    _check_proof(proof)
    if size1 > size2:
        raise ProofError(f"first tree size {size1} is larger than second tree size {size2}")
    if size1 == size2:
        if proof:
            raise ProofError(f"sizes are equal ({size1}) but the consistency proof is not empty")
        if root1 != root2:
            raise RootMismatchError(bytes(root1), bytes(root2))
        return
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree is meaningless")
    if not proof:
        raise ProofError(f"empty consistency proof from size {size1} to {size2}")
    path = [bytes(element) for element in proof]
    if size1 & (size1 - 1) == 0:
        # The old tree is a perfect subtree of the new one, so its root is the proof's first node.
        path.insert(0, bytes(root1))
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for element in path[1:]:
        if sn == 0:
            raise ProofError(f"consistency proof is longer than sizes {size1} → {size2} allow")
        if fn & 1 or fn == sn:
            first = node_hash(element, first)
            second = node_hash(element, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof is shorter than sizes {size1} → {size2} require")
    if first != root1:
        raise RootMismatchError(bytes(root1), first)
    if second != root2:
        raise RootMismatchError(bytes(root2), second)


class InMemoryTree:
    """A Merkle tree over leaf hashes held in memory, answering perfect-subtree hashes in O(1).

    Keeps every complete level (2n hashes for n leaves), so it suits tests, small logs and building
    tiles for one batch; a large log answers :data:`SubtreeHash` from storage or tiles instead.
    """

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        for digest in leaf_hashes:
            self.append(digest)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> int:
        """Add one leaf hash; returns its index."""
        _check_hash(leaf_hash, "leaf hash")
        self._levels[0].append(bytes(leaf_hash))
        level = 0
        # Each time a level gains a right child, the parent's perfect subtree is complete.
        while len(self._levels[level]) % 2 == 0:
            if level + 1 == len(self._levels):
                self._levels.append([])
            left, right = self._levels[level][-2:]
            self._levels[level + 1].append(node_hash(left, right))
            level += 1
        return self.size - 1

    def subtree(self, level: int, index: int) -> bytes:
        """The :data:`SubtreeHash` of this tree."""
        if level < 0 or index < 0 or level >= len(self._levels) or index >= len(self._levels[level]):
            raise ProofError(f"no complete subtree at level {level}, index {index} in a tree of {self.size}")
        return self._levels[level][index]

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self.size
        _check_count(size, "tree size")
        if size > self.size:
            raise ProofError(f"tree size {size} is larger than the {self.size} leaves held")
        return size

    def root(self, size: int | None = None) -> bytes:
        return tree_root(self._size_or_current(size), self.subtree)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._size_or_current(size), self.subtree)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(size1, self._size_or_current(size2), self.subtree)
