"""C2SP tlog-tiles: paths, which tiles a tree has, tile and entry-bundle contents, proofs from tiles."""

from __future__ import annotations

import hashlib
import itertools

import pytest

from modeltrace.ledger import (
    EntryBundleRef,
    FormatError,
    InMemoryTree,
    MissingTileError,
    ProofError,
    RootMismatchError,
    TileRef,
    TileSubtrees,
    build_entry_bundle,
    changed_tiles,
    consistency_proof,
    inclusion_proof,
    new_tiles,
    parse_entry_bundle,
    parse_tile,
    parse_tile_path,
    tree_root,
    verify_inclusion,
)
from modeltrace.ledger.tiles import (
    MAX_ENTRY_BYTES,
    changed_entry_bundles,
    check_entry_bundle,
    decode_tile_index,
    encode_tile_index,
    tile_content,
    tiles_for_size,
)
from modeltrace.merkle import leaf_hash

# --- paths ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "text"),
    [(0, "000"), (5, "005"), (999, "999"), (1000, "x001/000"), (1234067, "x001/x234/067"), (2**64 - 1, None)],
)
def test_tile_index_encoding(index: int, text: str | None) -> None:
    encoded = encode_tile_index(index)
    if text is not None:
        assert encoded == text
    assert decode_tile_index(encoded) == index


@pytest.mark.parametrize(
    "text",
    ["", "5", "0005", "x000/005", "x1/005", "005/", "/005", "x001", "x001/x002", "abc", "x001/-01", "0x1"],
)
def test_non_canonical_tile_indexes_are_refused(text: str) -> None:
    with pytest.raises(FormatError):
        decode_tile_index(text)


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        (TileRef(0, 0), "tile/0/000"),
        (TileRef(1, 1234067, 17), "tile/1/x001/x234/067.p/17"),
        (TileRef(63, 0, 1), "tile/63/000.p/1"),
        (EntryBundleRef(5, 1), "tile/entries/005.p/1"),
        (EntryBundleRef(1000), "tile/entries/x001/000"),
    ],
)
def test_tile_paths_round_trip(ref: TileRef | EntryBundleRef, path: str) -> None:
    assert ref.path == path
    assert parse_tile_path(path) == ref


@pytest.mark.parametrize(
    "path",
    [
        "tile/64/000",
        "tile/01/000",
        "tile/-1/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/07",
        "tile/0/000.p/",
        "tile/0/000.p/1.p/2",
        "tile/0/000/",
        "tile/0",
        "tile/entries",
        "tile/entries/",
        "tiles/0/000",
        "/tile/0/000",
        "tile/0/x000/005",
        "tile/" + "0/" * 100 + "000",
    ],
)
def test_bad_tile_paths_are_refused(path: str) -> None:
    with pytest.raises(FormatError):
        parse_tile_path(path)


@pytest.mark.parametrize("fields", [(64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)])
def test_invalid_tile_refs_cannot_be_built(fields: tuple[int, int, int]) -> None:
    with pytest.raises(FormatError):
        TileRef(*fields)


# --- which tiles a tree has ----------------------------------------------------------------------------


def test_the_spec_example_of_a_70000_leaf_tree() -> None:
    # tlog-tiles §Partial Tiles: 273 full level-0 tiles, a partial level-0 tile of width 112, one full
    # level-1 tile, a partial level-1 tile of width 17 and a partial level-2 tile of width 1.
    tiles = list(tiles_for_size(70_000))
    assert [t for t in tiles if t.level == 0] == [TileRef(0, i) for i in range(273)] + [TileRef(0, 273, 112)]
    assert [t for t in tiles if t.level > 0] == [TileRef(1, 0), TileRef(1, 1, 17), TileRef(2, 0, 1)]


def test_a_256_leaf_tree_has_a_full_tile_and_a_width_1_tile_above() -> None:
    assert list(tiles_for_size(256)) == [TileRef(0, 0), TileRef(1, 0, 1)]
    assert list(tiles_for_size(0)) == []


SIZES = [0, 1, 2, 255, 256, 257, 300, 511, 512, 513, 65_535, 65_536, 65_537, 70_000]
BIG = InMemoryTree([hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(max(SIZES))])


def _grow_tiles() -> dict[str, bytes]:
    """Tile storage after growing the tree through SIZES, writing only the changed tiles each time."""
    stored: dict[str, bytes] = {}
    for old, new in itertools.pairwise(SIZES):
        for ref, data in new_tiles(old, new, BIG.subtree).items():
            assert ref.path not in stored, "tiles are immutable: a path is never written twice"
            stored[ref.path] = data
    return stored


STORED = _grow_tiles()


def test_growing_writes_exactly_the_tiles_of_each_size() -> None:
    for size in SIZES:
        for ref in tiles_for_size(size):
            assert STORED[ref.path] == tile_content(ref, BIG.subtree)


def test_changed_tiles_between_equal_sizes_is_empty_and_shrinking_is_refused() -> None:
    assert changed_tiles(300, 300) == []
    with pytest.raises(ProofError):
        changed_tiles(301, 300)
    assert changed_entry_bundles(255, 257) == [EntryBundleRef(0), EntryBundleRef(1, 1)]


@pytest.mark.parametrize("size", SIZES[1:])
def test_roots_and_proofs_from_tiles_equal_the_in_memory_tree(size: int) -> None:
    tiles = TileSubtrees(size, STORED.get)
    assert tree_root(size, tiles) == BIG.root(size)
    for index in sorted({0, size // 3, size // 2, size - 1}):
        assert inclusion_proof(index, size, tiles) == BIG.inclusion_proof(index, size)
    for old in sorted({1, size // 2, size - 1, size}):
        if old:
            assert consistency_proof(old, size, tiles) == BIG.consistency_proof(old, size)


def test_partial_tiles_fall_back_to_the_full_tile() -> None:
    # A log may delete a partial tile once the full one exists (tlog-tiles §Partial Tiles).
    full_only = {path: data for path, data in STORED.items() if ".p/" not in path}
    for size in (257, 300, 513, 65_535):
        assert tree_root(size, TileSubtrees(size, full_only.get)) == BIG.root(size)
    # At the largest size the right edge has no full tile yet, so its partial tiles are needed.
    with pytest.raises(MissingTileError, match=r"\.p/"):
        tree_root(70_000, TileSubtrees(70_000, full_only.get))


def test_missing_and_short_tiles_are_errors() -> None:
    with pytest.raises(MissingTileError, match="tile/0/000"):
        tree_root(5, TileSubtrees(5, lambda path: None))
    with pytest.raises(FormatError):
        tree_root(5, TileSubtrees(5, lambda path: bytes(4 * 32)))
    with pytest.raises(ProofError):
        TileSubtrees(5, STORED.get)(3, 0)  # 8 leaves do not fit in a tree of 5


def test_a_tampered_tile_changes_the_root_and_fails_proofs() -> None:
    def tamper(path: str, byte: int) -> dict[str, bytes]:
        tampered = dict(STORED)
        data = bytearray(tampered[path])
        data[byte] ^= 1
        tampered[path] = bytes(data)
        return tampered

    # Leaf 2's hash is leaf 3's sibling: the proof for leaf 3 read from these tiles no longer verifies.
    tiles = TileSubtrees(300, tamper("tile/0/000", 2 * 32 + 7).get)
    with pytest.raises(RootMismatchError):
        verify_inclusion(BIG.subtree(0, 3), 3, 300, inclusion_proof(3, 300, tiles), BIG.root(300))
    # The level-1 hash of the first 256 leaves feeds the tree head directly.
    assert tree_root(300, TileSubtrees(300, tamper("tile/1/000.p/1", 0).get)) != BIG.root(300)


def test_an_inclusion_proof_in_a_2_to_the_32_tree_reads_4_tiles() -> None:
    reads: list[str] = []

    def read(path: str) -> bytes:
        reads.append(path)
        ref = parse_tile_path(path)
        return b"".join(hashlib.sha256(f"{path}/{i}".encode()).digest() for i in range(ref.width))

    size = 2**32
    tiles = TileSubtrees(size, read)
    proof = inclusion_proof(123_456_789, size, tiles)
    assert len(proof) == 32
    assert len(reads) == 4 and {parse_tile_path(p).level for p in reads} == {0, 1, 2, 3}  # type: ignore[union-attr]


# --- contents ------------------------------------------------------------------------------------------


def test_parse_tile_checks_the_length() -> None:
    assert parse_tile(bytes(64), 2) == [bytes(32), bytes(32)]
    for length in (0, 63, 65, 8192):
        with pytest.raises(FormatError):
            parse_tile(bytes(length), 2)


def test_entry_bundles_round_trip_and_bound_entries() -> None:
    entries = [b"", b"a", bytes(MAX_ENTRY_BYTES)]
    bundle = build_entry_bundle(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert parse_entry_bundle(bundle, 3) == entries
    with pytest.raises(FormatError, match="65535"):
        build_entry_bundle([bytes(MAX_ENTRY_BYTES + 1)])
    with pytest.raises(FormatError):
        build_entry_bundle([])
    with pytest.raises(FormatError):
        build_entry_bundle([b"x"] * 257)


@pytest.mark.parametrize(
    ("data", "width"),
    [
        (b"\x00", 1),  # truncated length prefix
        (b"\x00\x05abc", 1),  # truncated entry
        (b"\x00\x01a\x00", 1),  # trailing byte
        (b"\x00\x01a\x00\x01b", 1),  # more entries than the width
        (b"\x00\x01a", 2),  # fewer entries than the width
        (b"", 1),
        (b"\xff\xff" + bytes(10), 1),
    ],
)
def test_malformed_entry_bundles_are_refused(data: bytes, width: int) -> None:
    with pytest.raises(FormatError):
        parse_entry_bundle(data, width)


def test_entry_bundle_must_match_its_level_0_tile() -> None:
    entries = [b"first", b"second", b"third"]
    tile = b"".join(leaf_hash(entry) for entry in entries)
    check_entry_bundle(entries, tile)
    with pytest.raises(ProofError):
        check_entry_bundle([b"first", b"SECOND", b"third"], tile)
    with pytest.raises(FormatError):
        check_entry_bundle(entries[:2], tile)
