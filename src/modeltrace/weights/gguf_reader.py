"""Reader for GGUF files (llama.cpp): a bounded header parse, then per-tensor dequantisation.

The header is parsed here, not by ``gguf.GGUFReader``, so that hostile counts and lengths fail fast:
every count is bounded by the bytes left in the file before anything is allocated. Dequantisation of
the block formats is delegated to ``gguf.quants``, which implements every type llama.cpp defines,
and runs in row chunks so the working set stays near the size of the output tensor.

Shapes: GGUF lists dimensions innermost first; we reverse them, so a linear weight is ``[out, in]``.
No architecture-specific fix-ups (llama Q/K permutation, Gemma's 1 + w norms) happen here: they are
facts about the converter, undone in :mod:`modeltrace.weights.roles`.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
from gguf import quants as gguf_quants

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.source import (
    MAX_DIMS,
    Float32Array,
    MappedFile,
    SourceFacts,
    TensorInfo,
    TensorSource,
    output_view,
)

_MAGIC = b"GGUF"
#: Hard caps that no real model comes near; the per-file bounds below are usually tighter.
_MAX_TENSORS = 1 << 20
_MAX_KV = 1 << 16
_MAX_STRING = 1 << 26
_MAX_ARRAY_DEPTH = 2

_SCALAR_FORMATS: dict[int, tuple[str, int]] = {
    0: ("<B", 1),
    1: ("<b", 1),
    2: ("<H", 2),
    3: ("<h", 2),
    4: ("<I", 4),
    5: ("<i", 4),
    6: ("<f", 4),
    7: ("<?", 1),
    10: ("<Q", 8),
    11: ("<q", 8),
    12: ("<d", 8),
}
_NUMPY_FORMATS: dict[int, str] = {
    0: "u1",
    1: "i1",
    2: "<u2",
    3: "<i2",
    4: "<u4",
    5: "<i4",
    6: "<f4",
    7: "u1",
    10: "<u8",
    11: "<i8",
    12: "<f8",
}
_STRING, _ARRAY = 8, 9

#: Plain numeric ggml types, read without ``gguf.quants``.
_PLAIN: dict[GGMLQuantizationType, str] = {
    GGMLQuantizationType.F32: "<f4",
    GGMLQuantizationType.F16: "<f2",
    GGMLQuantizationType.F64: "<f8",
    GGMLQuantizationType.I8: "i1",
    GGMLQuantizationType.I16: "<i2",
    GGMLQuantizationType.I32: "<i4",
    GGMLQuantizationType.I64: "<i8",
}


class _Cursor:
    """Reads little-endian fields from the header, never past the end of the file."""

    def __init__(self, path: Path, data: memoryview) -> None:
        self.path = path
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> memoryview:
        if n < 0 or n > self.left:
            raise ModelFileError(
                self.path, f"truncated GGUF header: {what} needs {n} bytes, {self.left} left"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def scalar(self, vtype: int, what: str) -> Any:
        fmt, size = _SCALAR_FORMATS[vtype]
        return struct.unpack(fmt, self.take(size, what))[0]

    def u32(self, what: str) -> int:
        return int(self.scalar(4, what))

    def u64(self, what: str) -> int:
        return int(self.scalar(10, what))

    def string(self, what: str, limit: int = _MAX_STRING) -> str:
        length = self.u64(f"{what} length")
        if length > min(limit, self.left):
            raise ModelFileError(self.path, f"GGUF {what} claims {length} bytes, beyond the file or limit")
        raw = bytes(self.take(length, what))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            # Token lists can hold invalid UTF-8 byte pieces; keep them readable rather than fail.
            return raw.decode("utf-8", errors="surrogateescape")

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        if vtype in _SCALAR_FORMATS:
            value = self.scalar(vtype, what)
            return bool(value) if vtype == 7 else value
        if vtype == _STRING:
            return self.string(what)
        if vtype == _ARRAY:
            return self.array(what, depth)
        raise ModelFileError(self.path, f"GGUF {what}: unknown value type {vtype}")

    def array(self, what: str, depth: int) -> Any:
        if depth >= _MAX_ARRAY_DEPTH:
            raise ModelFileError(self.path, f"GGUF {what}: arrays nested deeper than {_MAX_ARRAY_DEPTH}")
        etype = self.u32(f"{what} element type")
        count = self.u64(f"{what} element count")
        if etype in _NUMPY_FORMATS:
            size = _SCALAR_FORMATS[etype][1]
            if count > self.left // size:
                raise ModelFileError(self.path, f"GGUF {what}: {count} elements cannot fit in the file")
            array = np.frombuffer(self.take(count * size, what), dtype=_NUMPY_FORMATS[etype]).copy()
            return array.astype(bool) if etype == 7 else array
        # A string or array element takes at least its 8-byte length (or 12-byte array header).
        if etype not in (_STRING, _ARRAY) or count > self.left // 8:
            raise ModelFileError(self.path, f"GGUF {what}: {count} elements of type {etype} cannot fit")
        return [self.value(etype, what, depth + 1) for _ in range(count)]


def _tensor_nbytes(path: Path, name: str, qtype: GGMLQuantizationType, dims: list[int]) -> int:
    block, type_size = GGML_QUANT_SIZES[qtype]
    numel = math.prod(dims)
    # Blocks run along the innermost dimension; a scalar counts as one element.
    if (dims[0] if dims else 1) % block:
        raise ModelFileError(
            path, f"tensor {name!r}: row length {dims[0] if dims else 1} is not a multiple of {block}"
        )
    return numel // block * type_size


class GGUFSource(TensorSource):
    """One GGUF file (version 2 or 3), memory-mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = MappedFile(path)
        try:
            self._parse()
        except BaseException:
            self._file.close()
            raise

    def _parse(self) -> None:
        path, size = self.path, self._file.size
        if size < 24 or self._file.read(0, 4) != _MAGIC:
            raise ModelFileError(path, "not a GGUF file (bad magic or shorter than the fixed header)")
        view = self._file.view(0, size)
        try:
            cursor = _Cursor(path, view)
            cursor.take(4, "magic")
            version = cursor.u32("version")
            if version not in (2, 3):
                raise UnsupportedFormatError(path, f"GGUF version {version} (only 2 and 3 are read)")
            n_tensors, n_kv = cursor.u64("tensor count"), cursor.u64("metadata count")
            # A tensor entry takes at least 24 bytes and a metadata entry at least 13.
            if n_tensors > min(_MAX_TENSORS, cursor.left // 24):
                raise ModelFileError(path, f"GGUF claims {n_tensors} tensors, more than the file can hold")
            if n_kv > min(_MAX_KV, cursor.left // 13):
                raise ModelFileError(
                    path, f"GGUF claims {n_kv} metadata entries, more than the file can hold"
                )
            metadata: dict[str, Any] = {}
            for _ in range(n_kv):
                key = cursor.string("metadata key", limit=65536)
                metadata[key] = cursor.value(cursor.u32(f"type of {key}"), key)
            raw_infos = [self._tensor_header(cursor) for _ in range(n_tensors)]
            header_end = cursor.pos
        finally:
            del cursor
            view.release()
            self._file.release(0, size)
        alignment = metadata.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
            raise ModelFileError(path, f"GGUF general.alignment {alignment!r} is not a power of two")
        data_start = -(-header_end // alignment) * alignment
        self._build_index(raw_infos, data_start, alignment)
        self.facts = SourceFacts(format="gguf", metadata=metadata)
        self.version = version

    def _tensor_header(self, cursor: _Cursor) -> tuple[str, list[int], GGMLQuantizationType, int]:
        name = cursor.string("tensor name", limit=65536)
        n_dims = cursor.u32(f"rank of {name}")
        if n_dims > MAX_DIMS:
            raise ModelFileError(self.path, f"tensor {name!r}: rank {n_dims} exceeds {MAX_DIMS}")
        dims = [cursor.u64(f"dims of {name}") for _ in range(n_dims)]
        type_id = cursor.u32(f"type of {name}")
        try:
            qtype = GGMLQuantizationType(type_id)
        except ValueError:
            raise UnsupportedFormatError(self.path, f"tensor {name!r}: unknown ggml type {type_id}") from None
        if qtype not in GGML_QUANT_SIZES:
            raise UnsupportedFormatError(self.path, f"tensor {name!r}: ggml type {qtype.name} has no size")
        if any(d > (1 << 40) for d in dims):
            raise ModelFileError(self.path, f"tensor {name!r}: absurd dimension in {dims}")
        return name, dims, qtype, cursor.u64(f"offset of {name}")

    def _build_index(
        self,
        raw_infos: list[tuple[str, list[int], GGMLQuantizationType, int]],
        data_start: int,
        alignment: int,
    ) -> None:
        data_size = self._file.size - data_start
        if data_size < 0:
            raise ModelFileError(self.path, "truncated GGUF: the tensor data section is missing")
        self._entries: dict[str, tuple[TensorInfo, GGMLQuantizationType, int]] = {}
        spans: list[tuple[int, int, str]] = []
        for name, dims, qtype, offset in raw_infos:
            if name in self._entries:
                raise ModelFileError(self.path, f"tensor {name!r} is listed twice")
            nbytes = _tensor_nbytes(self.path, name, qtype, dims)
            if offset % alignment or offset + nbytes > data_size:
                raise ModelFileError(
                    self.path,
                    f"tensor {name!r}: data at offset {offset} (+{nbytes} bytes) is misaligned or past "
                    f"the end of the {data_size}-byte data section",
                )
            info = TensorInfo(name, qtype.name, tuple(reversed(dims)), nbytes)
            self._entries[name] = (info, qtype, data_start + offset)
            spans.append((offset, offset + nbytes, name))
        spans.sort()
        for (_, end, first), (begin, _, second) in itertools.pairwise(spans):
            if begin < end:
                raise ModelFileError(
                    self.path, f"tensors {first!r} and {second!r} overlap in the data section"
                )
        self._infos = [self._entries[name][0] for name, *_ in raw_infos]

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.facts.metadata)

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def qtype(self, name: str) -> GGMLQuantizationType:
        return self._entries[name][1]

    def raw(self, name: str) -> bytes:
        info, _, offset = self._entries[name]
        return self._file.read(offset, info.nbytes)

    def iter_raw(self, name: str) -> Iterator[memoryview | bytes]:
        info, _, offset = self._entries[name]
        yield from self._file.stream(offset, info.nbytes)

    def read(self, name: str) -> Float32Array:
        return self.read_into(name, np.empty(self._entries[name][0].numel, dtype=np.float32))

    def read_into(self, name: str, out: Float32Array) -> Float32Array:
        info, qtype, offset = self._entries[name]
        target = output_view(out, info)
        flat = target.reshape(-1)
        _, block_bytes = GGML_QUANT_SIZES[qtype]
        done = 0
        # Quantisation blocks are independent, so any whole number of them decodes on its own.
        for piece in self._file.stream(offset, info.nbytes, block_bytes):
            values = self._decode(np.frombuffer(piece, np.uint8), qtype)
            flat[done : done + values.size] = values
            done += values.size
        return target

    @staticmethod
    def _decode(data: np.ndarray[Any, np.dtype[np.uint8]], qtype: GGMLQuantizationType) -> Any:
        plain = _PLAIN.get(qtype)
        if plain is not None:
            return data.view(plain)
        return np.asarray(gguf_quants.dequantize(data, qtype)).reshape(-1)

    def close(self) -> None:
        self._file.close()
