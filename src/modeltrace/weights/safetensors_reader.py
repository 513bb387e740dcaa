"""Reader for ``.safetensors`` files: a bounded header parse, then memory-mapped tensor views.

We parse the header ourselves rather than through the ``safetensors`` package so that every length
and offset is checked before use and a hostile header fails with a one-line error: the 8-byte header
length must fit the file, offsets must lie inside the data region, match the dtype and shape, and
not overlap.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.source import (
    FP8_E4M3_TABLE,
    FP8_E5M2_TABLE,
    MAX_DIMS,
    MAX_HEADER_BYTES,
    Float32Array,
    MappedFile,
    SourceFacts,
    TensorInfo,
    TensorSource,
    output_view,
)

#: Storage type → (numpy dtype of the stored items, bytes per element).
_DTYPES: dict[str, tuple[np.dtype[Any], int]] = {
    "F64": (np.dtype("<f8"), 8),
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),
    "F8_E4M3": (np.dtype("u1"), 1),
    "F8_E5M2": (np.dtype("u1"), 1),
    "I64": (np.dtype("<i8"), 8),
    "I32": (np.dtype("<i4"), 4),
    "I16": (np.dtype("<i2"), 2),
    "I8": (np.dtype("i1"), 1),
    "U64": (np.dtype("<u8"), 8),
    "U32": (np.dtype("<u4"), 4),
    "U16": (np.dtype("<u2"), 2),
    "U8": (np.dtype("u1"), 1),
    "BOOL": (np.dtype("u1"), 1),
}


class _Entry:
    __slots__ = ("begin", "end", "info")

    def __init__(self, info: TensorInfo, begin: int, end: int) -> None:
        self.info = info
        self.begin = begin
        self.end = end


def parse_header(path: Path, head: bytes, file_size: int) -> tuple[dict[str, Any], int]:
    """Check the length prefix and decode the JSON header; return it and the data start offset.

    ``head`` holds at least the first 8 bytes and the whole header if it fits.
    """
    if file_size < 8 or len(head) < 8:
        raise ModelFileError(path, "not a safetensors file: shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", head[:8])
    if length > file_size - 8:
        raise ModelFileError(
            path, f"safetensors header claims {length} bytes but the file has only {file_size - 8} after it"
        )
    if length > MAX_HEADER_BYTES:
        raise ModelFileError(
            path, f"safetensors header of {length} bytes exceeds the {MAX_HEADER_BYTES} limit"
        )
    if len(head) < 8 + length:
        raise ModelFileError(path, "truncated safetensors header")
    try:
        header = json.loads(head[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "safetensors header is not a JSON object")
    return header, 8 + length


def _entry(path: Path, name: str, spec: object, data_size: int) -> _Entry:
    if not isinstance(spec, dict):
        raise ModelFileError(path, f"tensor {name!r}: header entry is not an object")
    dtype, shape, offsets = spec.get("dtype"), spec.get("shape"), spec.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise UnsupportedFormatError(path, f"tensor {name!r}: unknown dtype {dtype!r}")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_DIMS
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)
    ):
        raise ModelFileError(path, f"tensor {name!r}: bad shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise ModelFileError(path, f"tensor {name!r}: bad data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise ModelFileError(
            path,
            f"tensor {name!r}: data_offsets [{begin}, {end}] outside the data region of {data_size} bytes",
        )
    itemsize = _DTYPES[dtype][1]
    expected = math.prod(shape) * itemsize
    if end - begin != expected:
        raise ModelFileError(
            path, f"tensor {name!r}: {end - begin} bytes stored but {dtype}{shape} needs {expected}"
        )
    return _Entry(TensorInfo(name, dtype, tuple(shape), end - begin), begin, end)


class SafetensorsSource(TensorSource):
    """One ``.safetensors`` file, memory-mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = MappedFile(path)
        try:
            size = self._file.size
            prefix = self._file.read(0, min(8, size))
            length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else 0
            head = prefix + self._file.read(8, min(length, MAX_HEADER_BYTES, max(size - 8, 0)))
            header, data_start = parse_header(path, head, size)
            metadata = header.pop("__metadata__", {})
            if not isinstance(metadata, dict):
                raise ModelFileError(path, "__metadata__ is not an object")
            entries = [_entry(path, str(name), spec, size - data_start) for name, spec in header.items()]
            _check_no_overlap(path, entries)
        except BaseException:
            self._file.close()
            raise
        self._entries = {e.info.name: e for e in entries}
        self._infos = [e.info for e in sorted(entries, key=lambda e: e.begin)]
        self._data_start = data_start
        self.facts = SourceFacts(format="safetensors", metadata={str(k): v for k, v in metadata.items()})

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def raw(self, name: str) -> bytes:
        entry = self._entries[name]
        return self._file.read(self._data_start + entry.begin, entry.end - entry.begin)

    def iter_raw(self, name: str) -> Iterator[memoryview | bytes]:
        entry = self._entries[name]
        yield from self._file.stream(self._data_start + entry.begin, entry.end - entry.begin)

    def read(self, name: str) -> Float32Array:
        return self.read_into(name, np.empty(self._entries[name].info.numel, dtype=np.float32))

    def read_into(self, name: str, out: Float32Array) -> Float32Array:
        entry = self._entries[name]
        info = entry.info
        np_dtype, itemsize = _DTYPES[info.dtype]
        target = output_view(out, info)
        flat = target.reshape(-1)
        done = 0
        # Convert piece by piece into the output: the peak is the float32 tensor plus the read buffers.
        for piece in self._file.stream(self._data_start + entry.begin, entry.end - entry.begin, itemsize):
            items = np.frombuffer(piece, dtype=np_dtype)
            _to_f32(info.dtype, items, flat[done : done + items.size])
            done += items.size
        return target

    def close(self) -> None:
        self._file.close()


def _to_f32(dtype: str, items: np.ndarray[Any, Any], out: Float32Array) -> None:
    if dtype == "BF16":
        # bf16 is the top half of an f32: shift the bits into place, no float arithmetic.
        np.left_shift(items, 16, out=out.view(np.uint32), dtype=np.uint32)
    elif dtype == "F8_E4M3":
        np.take(FP8_E4M3_TABLE, items, out=out)
    elif dtype == "F8_E5M2":
        np.take(FP8_E5M2_TABLE, items, out=out)
    else:
        out[...] = items


def _check_no_overlap(path: Path, entries: list[_Entry]) -> None:
    ordered = sorted(entries, key=lambda e: (e.begin, e.end))
    for previous, current in itertools.pairwise(ordered):
        if current.begin < previous.end:
            raise ModelFileError(
                path, f"tensors {previous.info.name!r} and {current.info.name!r} overlap in the data region"
            )
