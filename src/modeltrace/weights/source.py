"""The interface every format reader implements: a lazy, one-tensor-at-a-time view of stored tensors.

A reader knows its file format and nothing about architectures. It lists the tensors it stores
(:class:`TensorInfo`), hands out the stored bytes of one tensor (for content digests), and
dequantises one tensor to float32 on request. Roles, vocabularies and configs are built on top of it
by :mod:`modeltrace.weights.model`.

Shapes are logical and outermost-first, as PyTorch reports them: a linear layer's weight is
``[out, in]``. A reader whose format stores dimensions the other way round (GGUF, ONNX MatMul
weights) reverses them itself, so nothing above this layer has to know.
"""

from __future__ import annotations

import contextlib
import math
import mmap
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from modeltrace.errors import ModelFileError
from modeltrace.weights.piece_reader import PieceReader

Float32Array = npt.NDArray[np.float32]

#: No single header, pickle or metadata block we parse may claim more than this many bytes.
MAX_HEADER_BYTES = 256 * 1024 * 1024
#: No tensor may claim more dimensions than this.
MAX_DIMS = 8
#: Bytes per piece when streaming a tensor from disk.
STREAM_CHUNK = 4 * 1024 * 1024  # pieces are cut to whole elements or quantisation blocks


@dataclass(frozen=True)
class TensorInfo:
    """One stored tensor, as the file describes it.

    ``dtype`` is the storage type in upper case (``F32``, ``BF16``, ``Q4_K``, ``I8xF32`` for an int8
    tensor with float scales, ...). ``nbytes`` is the number of stored bytes, scales included.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def is_float(self) -> bool:
        """Whether the tensor holds (possibly quantised) real numbers rather than integer ids."""
        return self.dtype not in INTEGER_DTYPES


#: Storage types that hold integers (ids, masks, position buffers), not weights.
INTEGER_DTYPES = frozenset({"I64", "I32", "I16", "U8", "U16", "U32", "U64", "BOOL", "I8"})


@dataclass
class SourceFacts:
    """What a reader learned from the file besides tensors: metadata and config it could see."""

    format: str
    #: Key/value metadata as stored (GGUF KV pairs, safetensors ``__metadata__``, ONNX props).
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: A Hugging Face style config if the format carries one (or the reader could derive one).
    config: Mapping[str, Any] = field(default_factory=dict)


class TensorSource(ABC):
    """A checkpoint (one file, or a set of shards) whose tensors are read one at a time."""

    path: Path
    facts: SourceFacts

    @abstractmethod
    def infos(self) -> Sequence[TensorInfo]:
        """Every stored tensor, in file order."""

    @abstractmethod
    def raw(self, name: str) -> memoryview | bytes:
        """The stored bytes of one tensor (quantised blocks and scales as stored)."""

    @abstractmethod
    def read(self, name: str) -> Float32Array:
        """One tensor dequantised to float32, in its logical shape."""

    def read_into(self, name: str, out: Float32Array) -> Float32Array:
        """Dequantise into a caller's buffer of ``numel`` float32s; returns it shaped like the tensor.

        Streaming consumers reuse one buffer for every tensor: fresh memory must be faulted in by
        the kernel, which on a VM costs more than reading the file. Readers that stream override this.
        """
        info = self.info(name)
        target = output_view(out, info)
        target[...] = self.read(name)
        return target

    def iter_raw(self, name: str) -> Iterator[memoryview | bytes]:
        """The stored bytes of one tensor in consecutive pieces (readers override to stream)."""
        yield self.raw(name)

    def close(self) -> None:  # noqa: B027 - optional hook, most readers hold only an mmap
        """Release file handles and maps."""

    def info(self, name: str) -> TensorInfo:
        index: dict[str, TensorInfo] | None = getattr(self, "_info_index", None)
        if index is None:
            index = {item.name: item for item in self.infos()}
            self._info_index = index
        return index[name]

    def __iter__(self) -> Iterator[TensorInfo]:
        return iter(self.infos())

    def __enter__(self) -> TensorSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def output_view(out: Float32Array, info: TensorInfo) -> Float32Array:
    """The first ``numel`` floats of a caller's buffer, shaped like the tensor."""
    if out.dtype != np.float32 or out.size < info.numel or not out.flags.c_contiguous:
        raise ValueError(
            f"buffer for {info.name!r} must be contiguous float32 with at least {info.numel} elements"
        )
    return out.reshape(-1)[: info.numel].reshape(info.shape)


def bf16_to_f32(raw: npt.NDArray[np.uint16]) -> Float32Array:
    """Widen bfloat16 bit patterns to float32 (bf16 is the top half of an f32).

    Shifts in place so the peak is the input plus one float32 output, not two.
    """
    wide = raw.astype(np.uint32)
    wide <<= 16
    return wide.view(np.float32)


class MappedFile:
    """A read-only memory map that hands out views and gives their pages back afterwards.

    Pages of a file mapping that were touched stay in the process's resident set until unmapped;
    reading a whole model through one map would make RSS grow to the file size. ``release`` tells the
    kernel (MADV_DONTNEED) that a range is no longer needed, so the resident set stays bounded by the
    tensor in hand. The page cache keeps the data; a re-read costs no disk I/O.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = path.open("rb")
            self.size = os.fstat(self._file.fileno()).st_size
        except OSError as exc:
            raise ModelFileError(path, f"cannot open: {exc.strerror}") from None
        self._map: mmap.mmap | None = None
        self._pieces: PieceReader | None = None
        if self.size:
            try:
                self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError) as exc:
                self._file.close()
                raise ModelFileError(path, f"cannot map: {exc}") from None

    def read(self, offset: int, length: int) -> bytes:
        """Copy ``length`` bytes at ``offset`` (checked against the file size)."""
        self._check(offset, length)
        if self._map is None or length == 0:
            return b""
        data = self._map[offset : offset + length]
        self.release(offset, length)
        return data

    def stream(self, offset: int, length: int, unit: int = 1) -> Iterator[memoryview | bytes]:
        """Consecutive pieces of ``[offset, offset + length)``, read ahead in parallel.

        See :mod:`modeltrace.weights.piece_reader`. Each piece is valid until the next is asked for
        and, but the last, holds a whole number of ``unit`` bytes.
        """
        self._check(offset, length)
        if self._pieces is None:
            self._pieces = PieceReader(self.path, self._file.fileno(), STREAM_CHUNK)
        yield from self._pieces.pieces(offset, length, unit)

    def view(self, offset: int, length: int) -> memoryview:
        """A zero-copy view; call :meth:`release` when done with it."""
        self._check(offset, length)
        if self._map is None:
            return memoryview(b"")
        return memoryview(self._map)[offset : offset + length]

    def release(self, offset: int, length: int) -> None:
        if self._map is None or length == 0:
            return
        start = offset - offset % mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            self._map.madvise(mmap.MADV_DONTNEED, start, min(offset + length, self.size) - start)

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise ModelFileError(
                self.path, f"read of {length} bytes at offset {offset} runs past the end ({self.size} bytes)"
            )

    def close(self) -> None:
        if self._pieces is not None:
            self._pieces.close()
            self._pieces = None
        if self._map is not None:
            # A caller may still hold a view; the map is then freed when that view is collected.
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None
        self._file.close()


def _fp8_table(exp_bits: int, man_bits: int, bias: int, finite_only: bool) -> Float32Array:
    table = np.zeros(256, dtype=np.float32)
    for code in range(256):
        sign = -1.0 if code & 0x80 else 1.0
        exp = (code >> man_bits) & ((1 << exp_bits) - 1)
        man = code & ((1 << man_bits) - 1)
        top = (1 << exp_bits) - 1
        if finite_only:
            # E4M3FN: only S.1111.111 is NaN; the top exponent still holds finite values.
            if exp == top and man == (1 << man_bits) - 1:
                table[code] = np.nan
                continue
        elif exp == top:
            table[code] = sign * np.inf if man == 0 else np.nan
            continue
        if exp == 0:
            value = (man / (1 << man_bits)) * 2.0 ** (1 - bias)
        else:
            value = (1 + man / (1 << man_bits)) * 2.0 ** (exp - bias)
        table[code] = sign * value
    return table


FP8_E4M3_TABLE = _fp8_table(4, 3, 7, finite_only=True)
FP8_E5M2_TABLE = _fp8_table(5, 2, 15, finite_only=False)
