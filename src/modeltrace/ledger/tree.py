"""Growing the log's C2SP tiles by a batch of leaves, and reading subtree hashes back from stored tiles.

Appending ``k`` leaves to a tree of ``n`` touches only the right edge: at level 0 the partial tile (if
any) gains the new leaf hashes and new tiles follow; every level-0 tile that became full contributes one
hash to level 1, and so on up while anything new appears. Work is O(k + log n) hashes, reading at most
one stored partial tile per level. The result is checked in tests against
:func:`modeltrace.ledger.tiles.new_tiles`, the definition computed from scratch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from modeltrace.ledger.errors import FormatError, MissingTileError
from modeltrace.ledger.proofs import HASH_SIZE
from modeltrace.ledger.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileReader,
    TileRef,
    TileSubtrees,
    parse_tile_path,
)
from modeltrace.merkle import node_hash

ReadTile = Callable[[int, int], bytes | None]
"""``read(level, index)`` → the stored bytes of that tile (any width), or ``None``."""


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def grow_tiles(read: ReadTile, old_size: int, leaf_hashes: Sequence[bytes]) -> dict[TileRef, bytes]:
    """The tiles that change when ``leaf_hashes`` are appended to a tree of ``old_size`` leaves."""
    changed: dict[TileRef, bytes] = {}
    new_hashes = list(leaf_hashes)
    old_count = old_size  # hashes at the current tile level before the append
    level = 0
    while new_hashes:
        first_tile, kept = divmod(old_count, TILE_WIDTH)
        existing: list[bytes] = []
        if kept:
            data = read(level, first_tile)
            if data is None or len(data) < kept * HASH_SIZE:
                raise MissingTileError(TileRef(level, first_tile, kept).path)
            existing = [data[i * HASH_SIZE : (i + 1) * HASH_SIZE] for i in range(kept)]
        run = existing + new_hashes
        parents: list[bytes] = []
        for offset in range(0, len(run), TILE_WIDTH):
            chunk = run[offset : offset + TILE_WIDTH]
            changed[TileRef(level, first_tile + offset // TILE_WIDTH, len(chunk))] = b"".join(chunk)
            if len(chunk) == TILE_WIDTH:
                parents.append(_perfect_root(chunk))
        new_hashes = parents
        old_count //= TILE_WIDTH
        level += 1
    return changed


def tile_reader(
    read: Callable[[int, int], tuple[int, bytes] | None], fresh: Mapping[TileRef, bytes] | None = None
) -> TileReader:
    """A tlog-tiles path reader over stored tiles (each kept once, at its current width) and fresh ones.

    A path for a narrower (older) partial tile is served as a prefix of the wider stored tile: tiles
    only ever grow at their right end, so the prefix is exactly what that older tree held.
    """
    by_position = {(tile.level, tile.index): data for tile, data in (fresh or {}).items()}

    def reader(path: str) -> bytes | None:
        try:
            ref = parse_tile_path(path)
        except FormatError:
            return None
        if not isinstance(ref, TileRef):
            return None
        data = by_position.get((ref.level, ref.index))
        if data is None:
            stored = read(ref.level, ref.index)
            data = None if stored is None else stored[1]
        if data is None or len(data) < ref.width * HASH_SIZE:
            return None
        return data[: ref.width * HASH_SIZE]

    return reader


class CachedSubtrees:
    """A memoising :data:`~modeltrace.ledger.proofs.SubtreeHash` over tiles.

    :class:`~modeltrace.ledger.tiles.TileSubtrees` answers a subtree of height ``h`` by hashing up to
    ``2^(h mod 8)`` tile hashes; a batch of receipts asks for many overlapping subtrees, so here each
    node below a tile level is computed once from its two children and kept.
    """

    def __init__(self, tiles: TileSubtrees, known: Mapping[tuple[int, int], bytes] | None = None) -> None:
        self.tiles = tiles
        self.size = tiles.size
        self._cache: dict[tuple[int, int], bytes] = dict(known or {})

    def frontier(self) -> dict[tuple[int, int], bytes]:
        """The hashes of the perfect subtrees that make up the whole tree (its root's decomposition).

        Every later tree contains them unchanged, and they are the only old nodes a later append needs
        (its root, and the left siblings of its new leaves), so a writer keeps them between batches
        as ``known`` instead of re-deriving them from tiles.
        """
        nodes: dict[tuple[int, int], bytes] = {}
        start = 0
        for height in reversed(range(self.size.bit_length())):
            if self.size >> height & 1:
                nodes[height, start >> height] = self(height, start >> height)
                start += 1 << height
        return nodes

    def __call__(self, height: int, index: int) -> bytes:
        key = (height, index)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if height % TILE_HEIGHT == 0:
            value = self.tiles(height, index)
        else:
            value = node_hash(self(height - 1, 2 * index), self(height - 1, 2 * index + 1))
        self._cache[key] = value
        return value
