"""C2SP tlog-tiles (c2sp.org/tlog-tiles): tile paths, tile and entry-bundle contents, proofs from tiles.

A tile at level ``L``, index ``N`` holds up to 256 consecutive Merkle hashes at tree height ``8·L``:
hash ``i`` is MTH(D[(N·256 + i)·256^L : (N·256 + i + 1)·256^L]) (tlog-tiles §Merkle Tree). Level-0 tiles
hold leaf hashes; an entry bundle holds the entries themselves, each prefixed by its big-endian uint16
length, which caps an entry at 65,535 bytes (§Log entries). The rightmost tiles of a tree are *partial*,
served at ``.p/<W>`` with their width; :class:`TileSubtrees` answers any perfect-subtree hash from tiles,
so :mod:`modeltrace.ledger.proofs` computes tree heads and proofs from them unchanged.

Tiles are read from untrusted storage or the network: contents are checked for length here, and for
truth only by comparing the root computed from them with a signed checkpoint's root.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from modeltrace.ledger.errors import FormatError, MissingTileError, ProofError
from modeltrace.ledger.proofs import HASH_SIZE, MAX_TREE_SIZE, SubtreeHash
from modeltrace.merkle import leaf_hash, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
MAX_ENTRY_BYTES = 0xFFFF  # the uint16 length prefix of entry bundles
_INDEX_ELEMENT = re.compile(r"x[0-9]{3}")
_LAST_ELEMENT = re.compile(r"[0-9]{3}")
_SMALL_DECIMAL = re.compile(r"0|[1-9][0-9]{0,2}")


def encode_tile_index(index: int) -> str:
    """Zero-padded 3-digit path elements, all but the last prefixed ``x``: 1234067 → ``x001/x234/067``."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index <= MAX_TREE_SIZE:
        raise FormatError("tile path", f"tile index {index!r} is not a uint64")
    elements = [f"{index % 1000:03d}"]
    index //= 1000
    while index:
        elements.append(f"x{index % 1000:03d}")
        index //= 1000
    return "/".join(reversed(elements))


def decode_tile_index(text: str) -> int:
    """The inverse of :func:`encode_tile_index`; refuses every non-canonical spelling (``x000/005``)."""
    elements = text.split("/")
    if len(elements) > 7 or _LAST_ELEMENT.fullmatch(elements[-1]) is None:
        raise FormatError("tile path", f"bad tile index {text[:40]!r}")
    if any(_INDEX_ELEMENT.fullmatch(element) is None for element in elements[:-1]):
        raise FormatError("tile path", f"bad tile index {text[:40]!r}")
    index = int("".join(element.lstrip("x") for element in elements))
    if index > MAX_TREE_SIZE or encode_tile_index(index) != text:
        raise FormatError("tile path", f"non-canonical tile index {text[:40]!r}")
    return index


def _check_width(width: int) -> None:
    if isinstance(width, bool) or not isinstance(width, int) or not 1 <= width <= TILE_WIDTH:
        raise FormatError("tile", f"width {width!r} is not in [1, {TILE_WIDTH}]")


def _suffix(width: int) -> str:
    return "" if width == TILE_WIDTH else f".p/{width}"


@dataclass(frozen=True, order=True)
class TileRef:
    """Tile ``index`` at ``level`` holding ``width`` hashes (256 = full; fewer = partial)."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if isinstance(self.level, bool) or not isinstance(self.level, int):
            raise FormatError("tile", f"level {self.level!r} is not an integer")
        if not 0 <= self.level <= MAX_TILE_LEVEL:
            raise FormatError("tile", f"level {self.level} is not in [0, {MAX_TILE_LEVEL}]")
        encode_tile_index(self.index)
        _check_width(self.width)

    @property
    def path(self) -> str:
        return f"tile/{self.level}/{encode_tile_index(self.index)}{_suffix(self.width)}"


@dataclass(frozen=True, order=True)
class EntryBundleRef:
    """Entry bundle ``index`` holding ``width`` entries; it matches level-0 tile ``index``."""

    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        encode_tile_index(self.index)
        _check_width(self.width)

    @property
    def path(self) -> str:
        return f"tile/entries/{encode_tile_index(self.index)}{_suffix(self.width)}"

    @property
    def tile(self) -> TileRef:
        return TileRef(0, self.index, self.width)


def parse_tile_path(path: str) -> TileRef | EntryBundleRef:
    """``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]`` (relative to the log prefix)."""
    if not isinstance(path, str) or len(path) > 128 or not path.startswith("tile/"):
        raise FormatError("tile path", f"not a tile path: {str(path)[:40]!r}")
    rest = path[len("tile/") :]
    width = TILE_WIDTH
    if ".p/" in rest:
        rest, _, width_text = rest.partition(".p/")
        if _SMALL_DECIMAL.fullmatch(width_text) is None or not 1 <= int(width_text) < TILE_WIDTH:
            raise FormatError("tile path", f"partial width {width_text[:8]!r} is not in [1, 255]")
        width = int(width_text)
    kind, slash, index_text = rest.partition("/")
    if not slash:
        raise FormatError("tile path", f"not a tile path: {path[:40]!r}")
    index = decode_tile_index(index_text)
    if kind == "entries":
        return EntryBundleRef(index, width)
    if _SMALL_DECIMAL.fullmatch(kind) is None or int(kind) > MAX_TILE_LEVEL:
        raise FormatError("tile path", f"level {kind[:8]!r} is not in [0, {MAX_TILE_LEVEL}]")
    return TileRef(int(kind), index, width)


def tile_width(level: int, index: int, size: int) -> int:
    """How many hashes tile (``level``, ``index``) holds in a tree of ``size`` leaves; 0 if none."""
    hashes_at_level = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, hashes_at_level - index * TILE_WIDTH))


def tiles_for_size(size: int) -> Iterator[TileRef]:
    """Every tile of a tree of ``size`` leaves, level by level (tlog-tiles §Partial Tiles)."""
    level = 0
    while size >> (TILE_HEIGHT * level):
        hashes = size >> (TILE_HEIGHT * level)
        for index in range((hashes + TILE_WIDTH - 1) // TILE_WIDTH):
            yield TileRef(level, index, tile_width(level, index, size))
        level += 1


def changed_tiles(old_size: int, new_size: int) -> list[TileRef]:
    """Tiles of the ``new_size`` tree that did not exist, at that width, in the ``old_size`` tree."""
    if not 0 <= old_size <= new_size:
        raise ProofError(f"tree sizes {old_size} → {new_size} do not grow")
    changed: list[TileRef] = []
    level = 0
    while new_size >> (TILE_HEIGHT * level):
        first = (old_size >> (TILE_HEIGHT * level)) // TILE_WIDTH
        last = ((new_size >> (TILE_HEIGHT * level)) - 1) // TILE_WIDTH
        for index in range(first, last + 1):
            width = tile_width(level, index, new_size)
            if width != tile_width(level, index, old_size):
                changed.append(TileRef(level, index, width))
        level += 1
    return changed


def changed_entry_bundles(old_size: int, new_size: int) -> list[EntryBundleRef]:
    """Entry bundles of the ``new_size`` tree that are new or wider than in the ``old_size`` tree."""
    tiles = changed_tiles(old_size, new_size)
    return [EntryBundleRef(tile.index, tile.width) for tile in tiles if tile.level == 0]


def tile_content(tile: TileRef, subtree: SubtreeHash) -> bytes:
    """The bytes of ``tile``: its ``width`` hashes at height 8·level, concatenated."""
    height = TILE_HEIGHT * tile.level
    first = tile.index * TILE_WIDTH
    hashes = [subtree(height, first + offset) for offset in range(tile.width)]
    if any(len(digest) != HASH_SIZE for digest in hashes):
        raise ProofError(f"a subtree hash for {tile.path} is not {HASH_SIZE} bytes")
    return b"".join(hashes)


def new_tiles(old_size: int, new_size: int, subtree: SubtreeHash) -> dict[TileRef, bytes]:
    """The contents of every tile that growing the tree from ``old_size`` to ``new_size`` creates."""
    return {tile: tile_content(tile, subtree) for tile in changed_tiles(old_size, new_size)}


def parse_tile(data: bytes, width: int = TILE_WIDTH) -> list[bytes]:
    """Split tile bytes into its hashes; the length must be exactly ``width`` × 32."""
    _check_width(width)
    if len(data) != width * HASH_SIZE:
        raise FormatError("tile", f"{len(data)} bytes, expected {width * HASH_SIZE} for width {width}")
    return [bytes(data[offset : offset + HASH_SIZE]) for offset in range(0, len(data), HASH_SIZE)]


def build_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Concatenate 1–256 entries, each prefixed by its uint16 big-endian length (tlog-tiles §Log entries)."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise FormatError("entry bundle", f"{len(entries)} entries, expected 1 to {TILE_WIDTH}")
    parts: list[bytes] = []
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_BYTES:
            problem = f"entry {position} is {len(entry)} bytes, over {MAX_ENTRY_BYTES}"
            raise FormatError("entry bundle", problem)
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def parse_entry_bundle(data: bytes, width: int = TILE_WIDTH) -> list[bytes]:
    """Split an entry bundle into exactly ``width`` entries, refusing truncation and trailing bytes."""
    _check_width(width)
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == width:
            raise FormatError("entry bundle", f"trailing bytes after {width} entries")
        if offset + 2 > len(data):
            raise FormatError("entry bundle", "truncated length prefix")
        length = int.from_bytes(data[offset : offset + 2], "big")
        if offset + 2 + length > len(data):
            raise FormatError("entry bundle", f"entry {len(entries)} is truncated")
        entries.append(bytes(data[offset + 2 : offset + 2 + length]))
        offset += 2 + length
    if len(entries) != width:
        raise FormatError("entry bundle", f"{len(entries)} entries, expected {width}")
    return entries


def check_entry_bundle(entries: Sequence[bytes], level0_tile: bytes) -> None:
    """Each entry must hash (RFC 6962 leaf hash) to the matching hash of its level-0 tile."""
    hashes = parse_tile(level0_tile, len(entries))
    for position, (entry, expected) in enumerate(zip(entries, hashes, strict=True)):
        if leaf_hash(entry) != expected:
            raise ProofError(f"entry {position} of the bundle does not hash to its level-0 tile hash")


def _perfect_root(hashes: Sequence[bytes]) -> bytes:
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


TileReader = Callable[[str], bytes | None]
"""``read(path)`` → the bytes at ``<prefix>/<path>``, or ``None`` if there is no such tile."""


class TileSubtrees:
    """The :data:`SubtreeHash` of a tree of ``size`` leaves, read from its tiles (cached per tile).

    A subtree of height ``h`` is ``2^(h mod 8)`` consecutive hashes of one tile at level ``h // 8``,
    hashed pairwise. Partial tiles are read at the width ``size`` implies, falling back to the full
    tile, which a log may serve instead once it exists (tlog-tiles §Partial Tiles).
    """

    def __init__(self, size: int, read: TileReader) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_TREE_SIZE:
            raise ProofError(f"tree size {size!r} is not a uint64")
        self.size = size
        self._read = read
        self._tiles: dict[tuple[int, int], list[bytes]] = {}

    def _tile_hashes(self, level: int, index: int) -> list[bytes]:
        cached = self._tiles.get((level, index))
        if cached is not None:
            return cached
        width = tile_width(level, index, self.size)
        tile = TileRef(level, index, width)
        data = self._read(tile.path)
        if data is None and width < TILE_WIDTH:
            full = self._read(TileRef(level, index).path)
            data = None if full is None else full[: width * HASH_SIZE]
        if data is None:
            raise MissingTileError(tile.path)
        hashes = parse_tile(data, width)
        self._tiles[(level, index)] = hashes
        return hashes

    def __call__(self, height: int, index: int) -> bytes:
        if height < 0 or index < 0 or height > 64 or (index + 1) << height > self.size:
            raise ProofError(f"no complete subtree at height {height}, index {index} in tree of {self.size}")
        level, below = divmod(height, TILE_HEIGHT)
        first = index << below
        tile_index, offset = divmod(first, TILE_WIDTH)
        hashes = self._tile_hashes(level, tile_index)
        return _perfect_root(hashes[offset : offset + (1 << below)])

    def entry_bundle_ref(self, index: int) -> EntryBundleRef:
        """The bundle holding entry ``index`` at this tree size."""
        if not 0 <= index < self.size:
            raise ProofError(f"entry index {index} is not below tree size {self.size}")
        bundle = index // TILE_WIDTH
        return EntryBundleRef(bundle, tile_width(0, bundle, self.size))
