"""Read PyTorch checkpoints (``.bin``, ``.pt``, ``.pth``) without torch and without running pickled code.

``torch.save`` writes one of two containers:

* the zip format (torch >= 1.6, and every Hugging Face ``pytorch_model.bin``): ``<archive>/data.pkl``
  holds the pickled object tree, storage ``k`` is the member ``<archive>/data/k`` and
  ``<archive>/byteorder`` says how its numbers are laid out;
* the legacy format (``_use_new_zipfile_serialization=False``): five pickles in a row (magic number,
  protocol version, sys info, the object tree, the list of storage keys), then for each key in that
  list an int64 element count followed by the raw elements.

Pickles are executable, so the object tree is loaded by :class:`_RestrictedUnpickler`: its
``find_class`` hands out small inert stand-ins for the few torch globals a state dict needs and
refuses every other global with :class:`~modeltrace.errors.UnsafePickleError` before anything runs.
The stand-ins turn tensors into :class:`_LazyTensor` records (storage, dtype, offset, shape, stride);
no tensor bytes are touched until :meth:`PyTorchSource.read` or :meth:`PyTorchSource.raw`.
"""

from __future__ import annotations

import _compat_pickle
import collections
import contextlib
import io
import math
import mmap
import pickle
import struct
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from modeltrace.errors import ModelFileError, UnsafePickleError, UnsupportedFormatError
from modeltrace.weights.source import (
    FP8_E4M3_TABLE,
    FP8_E5M2_TABLE,
    MAX_DIMS,
    MAX_HEADER_BYTES,
    Float32Array,
    SourceFacts,
    TensorInfo,
    TensorSource,
    bf16_to_f32,
)

__all__ = ["PyTorchSource"]

#: The number torch's legacy format writes first (``torch.serialization.MAGIC_NUMBER``).
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
#: The only legacy protocol version torch ever wrote.
_LEGACY_PROTOCOL = 1001
#: Sizes, offsets and strides must fit a signed 64-bit integer with room to add them up.
_MAX_INDEX = 1 << 62
#: Containers nest this deep at most; a real checkpoint nests three or four levels.
_MAX_DEPTH = 64
#: A broadcast or overlapping view may show more elements than its storage holds (stride 0); this
#: caps how many, so a tiny hostile storage cannot make ``read`` allocate terabytes.
_MAX_EXPANDED_NUMEL = 1 << 26
#: Zip local file header: signature, then the name and extra-field lengths at offsets 26 and 28.
_ZIP_LOCAL_HEADER = struct.Struct("<4s22xHH")
_ZIP_LOCAL_MAGIC = b"PK\x03\x04"

#: Our dtype code -> numpy type (without byte order) of one stored element.
_NUMPY_TYPES: dict[str, str] = {
    "F64": "f8",
    "F32": "f4",
    "F16": "f2",
    "BF16": "u2",
    "I64": "i8",
    "I32": "i4",
    "I16": "i2",
    "I8": "i1",
    "U8": "u1",
    "U16": "u2",
    "U32": "u4",
    "U64": "u8",
    "BOOL": "u1",
    "F8_E4M3": "u1",
    "F8_E5M2": "u1",
    "F8_E4M3FNUZ": "u1",
    "F8_E5M2FNUZ": "u1",
    "F8_E8M0": "u1",
    "F4_E2M1X2": "u1",
    "C64": "c8",
    "C128": "c16",
}
#: Listed (their bytes can be hashed) but with no meaningful float32 reading here.
_UNREADABLE = frozenset({"F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "F4_E2M1X2", "C64", "C128"})

#: ``torch.<Name>Storage`` class -> dtype of its elements (``torch.storage._dtype_to_storage_type_map``).
_STORAGE_CLASSES: dict[str, str] = {
    "DoubleStorage": "F64",
    "FloatStorage": "F32",
    "HalfStorage": "F16",
    "BFloat16Storage": "BF16",
    "LongStorage": "I64",
    "IntStorage": "I32",
    "ShortStorage": "I16",
    "CharStorage": "I8",
    "ByteStorage": "U8",
    "BoolStorage": "BOOL",
    "ComplexFloatStorage": "C64",
    "ComplexDoubleStorage": "C128",
}

#: ``torch.<name>`` dtype objects (pickled by name) -> dtype code.
_TORCH_DTYPES: dict[str, str] = {
    "float64": "F64",
    "double": "F64",
    "float32": "F32",
    "float": "F32",
    "float16": "F16",
    "half": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "long": "I64",
    "int32": "I32",
    "int": "I32",
    "int16": "I16",
    "short": "I16",
    "int8": "I8",
    "uint8": "U8",
    "uint16": "U16",
    "uint32": "U32",
    "uint64": "U64",
    "bool": "BOOL",
    "float8_e4m3fn": "F8_E4M3",
    "float8_e5m2": "F8_E5M2",
    "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ",
    "float8_e8m0fnu": "F8_E8M0",
    "float4_e2m1fn_x2": "F4_E2M1X2",
    "complex64": "C64",
    "cfloat": "C64",
    "complex128": "C128",
    "cdouble": "C128",
}


def _python3_name(module: str, name: str) -> str:
    """The global a pickle names, as ``pickle``'s ``fix_imports`` would map Python 2 names.

    Protocol-2 pickles (what torch writes) say ``__builtin__.set``, and ``subprocess.Popen``
    travels as ``commands.Popen``; we judge, and report, what would really have been loaded.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"


class _BadCheckpointError(ValueError):
    """The object tree is well-formed pickle but not a well-formed checkpoint."""


# ---------------------------------------------------------------------------------------------------
# Inert stand-ins. All are NamedTuples: immutable and without a __dict__, so a pickle's BUILD opcode
# cannot rewrite them (they are shared module-level objects, and mutating them would leak into the
# next file we open).


class _DType(NamedTuple):
    """Stand-in for a ``torch.dtype`` object such as ``torch.float16``."""

    code: str


class _StorageType(NamedTuple):
    """Stand-in for a storage class such as ``torch.HalfStorage`` (``UntypedStorage`` holds ``U8``)."""

    code: str


class _Marker(NamedTuple):
    """Stand-in for a class that is only ever passed around, never called (``torch.Tensor``)."""

    qualname: str


class _StandIn(NamedTuple):
    """A callable stand-in for an allowed torch function; the pickle's REDUCE calls it."""

    qualname: str
    fn: Callable[..., object]

    def __call__(self, *args: object) -> object:
        return self.fn(*args)


class _StorageRef(NamedTuple):
    """What a persistent id resolves to: a window ``[base, base + nbytes)`` of the storage ``key``."""

    key: str
    code: str
    base: int
    nbytes: int


class _LazyTensor(NamedTuple):
    """A tensor as its pickle describes it; offset and stride count elements of ``dtype``."""

    storage: _StorageRef
    dtype: str
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _index(value: object, what: str) -> int:
    # bool is an int subclass; a True where a size belongs means the pickle is not what torch wrote.
    if not isinstance(value, int) or isinstance(value, bool):
        raise _BadCheckpointError(f"{what} is {type(value).__name__}, not an integer")
    if value < 0:
        raise _BadCheckpointError(f"{what} is negative ({value})")
    if value >= _MAX_INDEX:
        raise _BadCheckpointError(f"{what} is absurdly large ({value})")
    return value


def _dims(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple | list):
        raise _BadCheckpointError(f"{what} is {type(value).__name__}, not a tuple")
    if len(value) > MAX_DIMS:
        raise _BadCheckpointError(f"{what} has {len(value)} dimensions, more than the limit of {MAX_DIMS}")
    return tuple(_index(item, what) for item in value)


def _lazy_tensor(
    storage: object, dtype: str | None, offset: object, size: object, stride: object
) -> _LazyTensor:
    if not isinstance(storage, _StorageRef):
        raise _BadCheckpointError(
            f"a tensor's storage is {type(storage).__name__}, not a persistent storage reference"
        )
    shape = _dims(size, "tensor size")
    strides = _dims(stride, "tensor stride")
    if len(strides) != len(shape):
        raise _BadCheckpointError(f"tensor has {len(shape)} sizes but {len(strides)} strides")
    code = storage.code if dtype is None else dtype
    return _LazyTensor(storage, code, _index(offset, "storage offset"), shape, strides)


def _rebuild_tensor(storage: object, offset: object, size: object, stride: object) -> _LazyTensor:
    return _lazy_tensor(storage, None, offset, size, stride)


def _rebuild_tensor_v2(
    storage: object, offset: object, size: object, stride: object, *_grad_hooks_metadata: object
) -> _LazyTensor:
    # requires_grad, backward hooks and tensor metadata do not change the numbers.
    return _lazy_tensor(storage, None, offset, size, stride)


def _rebuild_tensor_v3(
    storage: object,
    offset: object,
    size: object,
    stride: object,
    _requires_grad: object,
    _hooks: object,
    dtype: object,
    *_metadata: object,
) -> _LazyTensor:
    # v3 pairs an untyped (byte) storage with a dtype; torch uses it for float8, uint16 and the like.
    if not isinstance(dtype, _DType):
        raise _BadCheckpointError(f"_rebuild_tensor_v3 got {type(dtype).__name__} where a dtype belongs")
    return _lazy_tensor(storage, dtype.code, offset, size, stride)


def _rebuild_parameter(data: object, *_grad_hooks_state: object) -> _LazyTensor:
    if not isinstance(data, _LazyTensor):
        raise _BadCheckpointError(f"a parameter wraps {type(data).__name__}, not a tensor")
    return data


#: The stand-ins a ``_rebuild_from_type_v2`` may forward to.
_TENSOR_BUILDERS = frozenset({"torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3"})


def _rebuild_from_type_v2(func: object, new_type: object, args: object, _state: object) -> _LazyTensor:
    # torch uses this for tensors carrying Python attributes; the attributes are not weights.
    if not isinstance(func, _StandIn) or func.qualname not in _TENSOR_BUILDERS:
        raise _BadCheckpointError("_rebuild_from_type_v2 must forward to a tensor rebuild function")
    if not isinstance(new_type, _Marker) or not isinstance(args, tuple):
        raise _BadCheckpointError("_rebuild_from_type_v2 got malformed arguments")
    result = func(*args)
    if not isinstance(result, _LazyTensor):  # cannot happen with the two builders above; for mypy
        raise _BadCheckpointError("_rebuild_from_type_v2 did not build a tensor")
    return result


def _torch_size(dims: object = ()) -> tuple[int, ...]:
    return _dims(dims, "torch.Size")


def _codecs_encode(text: object, encoding: object = "utf-8") -> bytes:
    # Protocol 2 pickles bytes as _codecs.encode(latin-1 text, "latin1"); nothing else is needed.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _BadCheckpointError("_codecs.encode is only allowed for latin1-encoded bytes")
    return text.encode("latin-1")


def _check_key(key: object) -> object:
    """Refuse a dict key or set member whose hash an attacker could choose.

    str and bytes hashes are salted per process and an int below 2**61 hashes to itself, so these
    cannot be made to collide in bulk. Big ints, floats and tuples can: thousands of keys sharing
    one hash turn every insert into a scan, and a one-megabyte pickle into minutes of CPU.
    """
    if key is None or isinstance(key, str | bytes) or (isinstance(key, int) and abs(key) < 1 << 61):
        return key
    raise _BadCheckpointError(f"a dict key or set member is {type(key).__name__}, not a string or small int")


def _set_items(target: Any, items: list[Any]) -> Any:
    if len(items) % 2:
        raise _BadCheckpointError("SETITEMS with a key but no value")
    for index in range(0, len(items), 2):
        target[_check_key(items[index])] = items[index + 1]
    return target


def _set_members(items: object = ()) -> list[object]:
    if not isinstance(items, list | tuple):
        raise _BadCheckpointError(f"set built from {type(items).__name__}, not a list")
    return [_check_key(item) for item in items]


def _make_set(items: object = ()) -> set[object]:
    return set(_set_members(items))


def _make_frozenset(items: object = ()) -> frozenset[object]:
    return frozenset(_set_members(items))


def _make_ordered_dict(*args: object) -> collections.OrderedDict[object, object]:
    # torch pickles an OrderedDict as OrderedDict() followed by SETITEMS, which checks the keys.
    if args:
        raise _BadCheckpointError("OrderedDict called with arguments")
    return collections.OrderedDict()


def _allowed_globals() -> dict[str, object]:
    """Every global a checkpoint may name, mapped to what ``find_class`` hands out instead."""
    functions: dict[str, Callable[..., object]] = {
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
        "torch.Size": _torch_size,
        "_codecs.encode": _codecs_encode,
        # Plain containers, built with their keys checked.
        "collections.OrderedDict": _make_ordered_dict,
        "builtins.set": _make_set,
        "builtins.frozenset": _make_frozenset,
    }
    allowed: dict[str, object] = {name: _StandIn(name, fn) for name, fn in functions.items()}
    for name in ("torch.Tensor", "torch.nn.parameter.Parameter"):
        allowed[name] = _Marker(name)
    for cls, code in _STORAGE_CLASSES.items():
        allowed[f"torch.{cls}"] = _StorageType(code)
        allowed[f"torch.cuda.{cls}"] = _StorageType(code)  # old GPU checkpoints name the CUDA class
    for name in ("torch.UntypedStorage", "torch.storage.UntypedStorage"):
        allowed[name] = _StorageType("U8")
    for name, code in _TORCH_DTYPES.items():
        allowed[f"torch.{name}"] = _DType(code)
    return allowed


_ALLOWED_GLOBALS = _allowed_globals()


def _itemsize(code: str) -> int:
    return np.dtype(_NUMPY_TYPES[code]).itemsize


class _RestrictedUnpickler(pickle._Unpickler):
    """Unpickles a checkpoint's object tree; only allow-listed globals exist, storages stay lazy.

    This is the pure-Python unpickler, not the C one: the C unpickler sizes its memo array by the
    largest index a PUT names, so a tiny pickle saying ``LONG_BINPUT 4294967295`` makes it allocate
    and zero 32 GiB; here the memo is a dict. It is a few times slower, which a checkpoint's object
    tree (tens of bytes per tensor) can afford. Being Python also lets us check every dict key and
    set member before it is hashed (see :func:`_check_key`).
    """

    # Attributes the pure-Python unpickler sets up in load(); declared for the type checker.
    stack: list[Any]
    metastack: list[list[Any]]
    memo: dict[int, Any]
    append: Callable[[Any], None]
    readline: Callable[[], bytes]

    def _pop_mark(self) -> list[Any]:
        # As pickle's own pop_mark, which typeshed does not declare: ``append`` must follow ``stack``.
        items = self.stack
        self.stack = self.metastack.pop()
        self.append = self.stack.append
        return items

    def _load_put(self) -> None:
        # A text PUT names any integer; big ones can be chosen to collide in the memo dict.
        index = int(self.readline()[:-1])
        if not 0 <= index < 1 << 32:
            raise _BadCheckpointError(f"pickle memo index {index} out of range")
        self.memo[index] = self.stack[-1]

    def _load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        _set_items(self.stack[-1], [key, value])

    def _load_setitems(self) -> None:
        items = self._pop_mark()
        _set_items(self.stack[-1], items)

    def _load_dict(self) -> None:
        items = self._pop_mark()
        self.stack.append(_set_items({}, items))

    def _load_additems(self) -> None:
        items = self._pop_mark()
        target = self.stack[-1]
        if not isinstance(target, set):
            raise _BadCheckpointError("ADDITEMS on something that is not a set")
        target.update(_set_members(items))

    def _load_frozenset(self) -> None:
        self.stack.append(frozenset(_set_members(self._pop_mark())))

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = {
        **pickle._Unpickler.dispatch,
        pickle.PUT[0]: _load_put,
        pickle.SETITEM[0]: _load_setitem,
        pickle.SETITEMS[0]: _load_setitems,
        pickle.DICT[0]: _load_dict,
        pickle.ADDITEMS[0]: _load_additems,
        pickle.FROZENSET[0]: _load_frozenset,
    }
    # BYTEARRAY8 allocates the size it claims before reading a byte, and torch never writes it
    # (protocol 5); without a handler the opcode is an ordinary "invalid load key" error.
    del dispatch[pickle.BYTEARRAY8[0]]

    def __init__(self, file: _Readable, path: Path, storages: dict[str, tuple[str, int]]) -> None:
        super().__init__(file)
        self._path = path
        #: key -> (storage dtype code, bytes of the whole storage), filled as persistent ids arrive.
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        qualname = _python3_name(module, name)
        try:
            return _ALLOWED_GLOBALS[qualname]
        except KeyError:
            raise UnsafePickleError(self._path, qualname) from None

    def persistent_load(self, pid: Any) -> Any:
        # zip: ("storage", type, key, location, numel); legacy adds view metadata (None, or
        # (view_key, offset, numel) for a storage view, which torch stopped writing long ago).
        if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
            raise _BadCheckpointError("unexpected persistent id (not a torch storage)")
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            raise _BadCheckpointError(
                f"storage type is {type(storage_type).__name__}, not a torch storage class"
            )
        if not isinstance(key, str | int) or isinstance(key, bool):
            raise _BadCheckpointError("storage key is neither a string nor an integer")
        key = str(key)
        itemsize = _itemsize(storage_type.code)
        nbytes = _index(pid[4], "storage size") * itemsize
        known = self._storages.setdefault(key, (storage_type.code, nbytes))
        if known != (storage_type.code, nbytes):
            raise _BadCheckpointError(f"storage {key!r} is declared twice with different types or sizes")
        view = pid[5] if len(pid) == 6 else None
        if view is None:
            return _StorageRef(key, storage_type.code, 0, nbytes)
        if not isinstance(view, tuple) or len(view) != 3:
            raise _BadCheckpointError("malformed storage view metadata")
        base = _index(view[1], "storage view offset") * itemsize
        size = _index(view[2], "storage view size") * itemsize
        if base + size > nbytes:
            raise _BadCheckpointError(f"a view of storage {key!r} reaches past its end")
        return _StorageRef(key, storage_type.code, base, size)


def _unpickle(file: _Readable, path: Path, storages: dict[str, tuple[str, int]], what: str) -> object:
    try:
        return _RestrictedUnpickler(file, path, storages).load()
    except ModelFileError:
        raise
    except _BadCheckpointError as exc:
        raise ModelFileError(path, f"malformed checkpoint: {exc}") from None
    except Exception as exc:  # anything a malformed pickle can raise: EOFError, KeyError, MemoryError...
        raise ModelFileError(path, f"malformed or truncated {what}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...
    def readline(self) -> bytes: ...


class _WindowReader:
    """A read-only file over ``mm`` that lets one pickle read at most ``MAX_HEADER_BYTES`` from its start.

    The legacy format's pickles sit back to back at the head of the file, so the unpickler reads
    from the map directly (no copy of a multi-gigabyte file) and stops exactly where each pickle
    ends (the unpickler reads exactly the bytes each opcode needs).
    """

    def __init__(self, mm: mmap.mmap, path: Path) -> None:
        self._mm = mm
        self._path = path
        self.pos = 0
        self._limit = MAX_HEADER_BYTES

    def next_pickle(self) -> None:
        """Start the size window of the next pickle where the previous one ended."""
        self._limit = self.pos + MAX_HEADER_BYTES

    def read(self, size: int = -1, /) -> bytes:
        end = len(self._mm) if size < 0 else self.pos + size
        if end > self._limit and self._limit < len(self._mm):
            raise ModelFileError(self._path, f"a pickle is larger than the limit of {MAX_HEADER_BYTES} bytes")
        end = min(end, len(self._mm))
        data = self._mm[self.pos : end]  # short at the end of the file: pickle reports truncation
        self.pos = end
        return data

    def readline(self) -> bytes:
        newline = self._mm.find(b"\n", self.pos, min(self._limit, len(self._mm)))
        end = len(self._mm) if newline < 0 else newline + 1
        return self.read(end - self.pos)


class _Storage(NamedTuple):
    """Where the bytes of one whole storage live: at ``offset`` in the map, or in a compressed member."""

    nbytes: int
    offset: int | None
    member: zipfile.ZipInfo | None


def _flatten(root: object, path: Path) -> dict[str, _LazyTensor]:
    """Every tensor in the object tree, named by its dotted key path, in pickle order."""
    found: dict[str, _LazyTensor] = {}
    seen: set[int] = set()  # containers already walked: pickles can share or nest them in cycles

    def walk(node: object, prefix: str, depth: int) -> None:
        if isinstance(node, _LazyTensor):
            name = prefix or "tensor"  # torch.save(tensor) pickles a bare tensor
            if name in found:
                raise ModelFileError(path, f"two tensors flatten to the same name {name!r}")
            found[name] = node
            return
        if isinstance(node, dict):
            items: list[tuple[object, object]] = list(node.items())
        elif isinstance(node, list) or type(node) is tuple:  # not our NamedTuple stand-ins
            items = list(enumerate(node))
        else:
            return  # numbers, strings, dtypes, ...: not tensors
        if id(node) in seen:
            return
        seen.add(id(node))
        if depth >= _MAX_DEPTH:
            raise ModelFileError(path, f"objects nested more than {_MAX_DEPTH} levels deep")
        for key, value in items:
            if isinstance(key, str | int) and not isinstance(key, bool):
                walk(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)

    walk(root, "", 0)
    return found


def _check_bounds(name: str, tensor: _LazyTensor, path: Path) -> None:
    """Refuse a tensor any of whose elements would lie outside its storage."""
    available = tensor.storage.nbytes // _itemsize(tensor.dtype)
    numel = math.prod(tensor.shape)
    if numel == 0:
        if tensor.offset > available:
            raise ModelFileError(path, f"tensor {name!r} starts past the end of its storage")
        return
    last = tensor.offset + sum(
        (size - 1) * step for size, step in zip(tensor.shape, tensor.stride, strict=True)
    )
    if last >= available:
        raise ModelFileError(
            path,
            f"tensor {name!r} reaches element {last} of a storage holding {available} "
            f"(offset {tensor.offset}, shape {list(tensor.shape)}, stride {list(tensor.stride)})",
        )
    if numel > max(available, _MAX_EXPANDED_NUMEL):
        raise ModelFileError(path, f"tensor {name!r} shows {numel} elements of a {available}-element storage")


def _is_contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for size, step in zip(reversed(shape), reversed(stride), strict=True):
        if size != 1 and step != expected:
            return False
        expected *= size
    return True


class PyTorchSource(TensorSource):
    """A PyTorch checkpoint, zip or legacy format, read lazily and without executing its pickles.

    Nested checkpoints (``{"state_dict": {...}}``, ``{"model": {...}, "epoch": 3}``) are flattened
    with dotted names (``state_dict.encoder.weight``); non-tensor leaves are skipped. A bare pickled
    tensor is named ``tensor``. ``raw`` gives a tensor's elements in logical (C) order as
    little-endian bytes, which for the usual contiguous tensor is a zero-copy view of the file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.facts = SourceFacts(format="pytorch")
        self._file: BinaryIO | None = None
        self._mmap: mmap.mmap | None = None
        self._zip: zipfile.ZipFile | None = None
        self._big_endian = False
        self._storages: dict[str, _Storage] = {}
        self._tensors: dict[str, _LazyTensor] = {}
        self._infos: list[TensorInfo] = []
        self._inflated: tuple[str, bytes] | None = None
        try:
            self._open()
        except ModelFileError:
            self.close()
            raise
        except Exception as exc:  # zipfile, struct and mmap raise a zoo of types on hostile input
            self.close()
            raise ModelFileError(self.path, f"unreadable PyTorch checkpoint: {_one_line(exc)}") from None

    # -- opening ------------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._file = self.path.open("rb")
        except OSError as exc:
            raise ModelFileError(self.path, f"cannot open: {exc.strerror or exc}") from None
        size = self.path.stat().st_size
        if size < 8:
            raise ModelFileError(self.path, f"only {size} bytes, too short to be a PyTorch checkpoint")
        self._mmap = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        if self._mmap[:4] == _ZIP_LOCAL_MAGIC:
            root = self._open_zip(self._mmap)
        elif self._mmap[257:262] == b"ustar":
            raise UnsupportedFormatError(
                self.path, "legacy tar-format PyTorch checkpoint (torch < 0.4); re-save it with a newer torch"
            )
        else:
            root = self._open_legacy(self._mmap)
        self._tensors = _flatten(root, self.path)
        for name, tensor in self._tensors.items():
            if tensor.storage.key not in self._storages:
                raise ModelFileError(
                    self.path, f"tensor {name!r} uses storage {tensor.storage.key!r}, which has no data"
                )
            _check_bounds(name, tensor, self.path)
        self._infos = [
            TensorInfo(name, t.dtype, t.shape, math.prod(t.shape) * _itemsize(t.dtype))
            for name, t in self._tensors.items()
        ]

    def _open_zip(self, mm: mmap.mmap) -> object:
        assert self._file is not None
        self._zip = zf = zipfile.ZipFile(self._file)
        self.facts.metadata = {"container": "zip"}
        pickles = [info for info in zf.infolist() if info.filename.endswith("/data.pkl")]
        pickles = [info for info in pickles if info.filename.count("/") == 1]
        if len(pickles) != 1:
            raise ModelFileError(
                self.path, f"zip holds {len(pickles)} top-level */data.pkl, not one torch checkpoint"
            )
        prefix = pickles[0].filename[: -len("data.pkl")]
        names = set(zf.namelist())
        if f"{prefix}constants.pkl" in names or any(name.startswith(f"{prefix}code/") for name in names):
            raise UnsupportedFormatError(
                self.path, "TorchScript archive (torch.jit.save); save the model's state_dict() instead"
            )
        if f"{prefix}byteorder" in names:
            order = self._read_member(zf.getinfo(f"{prefix}byteorder"), 16, "byteorder").strip()
            if order not in (b"little", b"big"):
                raise ModelFileError(self.path, f"unknown byteorder {order[:16]!r}")
            self._big_endian = order == b"big"
        data = self._read_member(pickles[0], MAX_HEADER_BYTES, "data.pkl")
        declared: dict[str, tuple[str, int]] = {}
        root = _unpickle(io.BytesIO(data), self.path, declared, "data.pkl")
        for key, (_code, nbytes) in declared.items():
            self._storages[key] = self._zip_storage(zf, mm, f"{prefix}data/{key}", nbytes)
        return root

    def _read_member(self, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
        """A whole zip member, refusing one that claims or inflates to more than ``limit`` bytes."""
        assert self._zip is not None
        if info.file_size > limit:
            raise ModelFileError(
                self.path, f"{what} claims {info.file_size} bytes, more than the limit of {limit} (zip bomb?)"
            )
        with self._zip.open(info) as member:
            # zipfile stops at the declared size, but never trust that alone: ask for one byte more.
            data = member.read(limit + 1)
        if len(data) > limit:
            raise ModelFileError(
                self.path, f"{what} inflates to more than the limit of {limit} bytes (zip bomb?)"
            )
        return data

    def _zip_storage(self, zf: zipfile.ZipFile, mm: mmap.mmap, name: str, nbytes: int) -> _Storage:
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise ModelFileError(self.path, f"storage member {name!r} is missing") from None
        if info.file_size < nbytes:
            raise ModelFileError(
                self.path,
                f"storage member {name!r} holds {info.file_size} bytes but the pickle claims {nbytes}",
            )
        if info.compress_type != zipfile.ZIP_STORED:
            return _Storage(nbytes, None, info)
        # Stored members are mapped in place: the data follows the local header, whose name and
        # extra field (torch pads it to align the data) may differ in length from the central one.
        header = mm[info.header_offset : info.header_offset + _ZIP_LOCAL_HEADER.size]
        if len(header) < _ZIP_LOCAL_HEADER.size:
            raise ModelFileError(self.path, f"storage member {name!r} has a truncated local header")
        magic, name_len, extra_len = _ZIP_LOCAL_HEADER.unpack(header)
        if magic != _ZIP_LOCAL_MAGIC:
            raise ModelFileError(self.path, f"storage member {name!r} has a corrupt local header")
        start = info.header_offset + _ZIP_LOCAL_HEADER.size + name_len + extra_len
        if start + nbytes > len(mm):
            raise ModelFileError(
                self.path, f"storage member {name!r} runs past the end of the file (truncated?)"
            )
        return _Storage(nbytes, start, None)

    def _open_legacy(self, mm: mmap.mmap) -> object:
        self.facts.metadata = {"container": "legacy"}
        reader = _WindowReader(mm, self.path)
        declared: dict[str, tuple[str, int]] = {}

        def next_pickle(what: str) -> object:
            reader.next_pickle()
            return _unpickle(reader, self.path, declared, what)

        if next_pickle("magic number") != _LEGACY_MAGIC:
            raise ModelFileError(
                self.path, "not a PyTorch checkpoint (neither a zip archive nor legacy format)"
            )
        if next_pickle("protocol version") != _LEGACY_PROTOCOL:
            raise UnsupportedFormatError(self.path, "unknown legacy PyTorch protocol version")
        sys_info = next_pickle("sys info")
        if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
            raise UnsupportedFormatError(
                self.path, "legacy PyTorch checkpoint written on a big-endian machine"
            )
        root = next_pickle("object tree")
        keys = next_pickle("storage key list")
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise ModelFileError(
                self.path, "malformed checkpoint: the storage key list is not a list of strings"
            )
        pos = reader.pos
        for key in keys:
            if key not in declared:
                raise ModelFileError(self.path, f"storage {key!r} has data but no tensor declares it")
            if key in self._storages:
                raise ModelFileError(self.path, f"storage {key!r} has data twice")
            code, nbytes = declared[key]
            count_bytes = mm[pos : pos + 8]
            if len(count_bytes) < 8:
                raise ModelFileError(self.path, f"file ends before storage {key!r} (truncated?)")
            count = int.from_bytes(count_bytes, "little", signed=True)
            if count * _itemsize(code) != nbytes:
                raise ModelFileError(
                    self.path, f"storage {key!r} holds {count} elements but the pickle claims {nbytes} bytes"
                )
            if pos + 8 + nbytes > len(mm):
                raise ModelFileError(self.path, f"file ends inside storage {key!r} (truncated?)")
            self._storages[key] = _Storage(nbytes, pos + 8, None)
            pos += 8 + nbytes
        return root

    # -- reading ------------------------------------------------------------------------------------

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def _tensor(self, name: str) -> _LazyTensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise KeyError(name) from None

    def _storage_bytes(self, ref: _StorageRef) -> memoryview | bytes:
        """The bytes of a storage window: a view of the map, or a bounded read of a compressed member."""
        storage = self._storages[ref.key]
        if storage.offset is not None:
            if self._mmap is None:
                raise ModelFileError(self.path, "the checkpoint is closed")
            start = storage.offset + ref.base
            return memoryview(self._mmap)[start : start + ref.nbytes]
        assert storage.member is not None
        # Many tensors can be views of one storage; keep the last inflated one rather than inflating
        # the whole member again for each of them.
        if self._inflated is None or self._inflated[0] != ref.key:
            self._inflated = None  # drop the old one before allocating the new one
            self._inflated = (ref.key, self._inflate(storage.member, storage.nbytes))
        return self._inflated[1][ref.base : ref.base + ref.nbytes]

    def _inflate(self, info: zipfile.ZipInfo, nbytes: int) -> bytes:
        if self._zip is None:
            raise ModelFileError(self.path, "the checkpoint is closed")
        try:
            with self._zip.open(info) as member:
                data = member.read(nbytes)  # never more than the pickle declared, whatever the zip claims
        except Exception as exc:  # corrupt deflate stream, CRC mismatch, ...
            raise ModelFileError(self.path, f"cannot inflate {info.filename}: {_one_line(exc)}") from None
        if len(data) < nbytes:
            raise ModelFileError(self.path, f"{info.filename} inflates to fewer bytes than declared")
        return data

    def _dtype(self, code: str) -> np.dtype[Any]:
        return np.dtype(("<" if not self._big_endian else ">") + _NUMPY_TYPES[code])

    def _array(self, name: str) -> tuple[npt.NDArray[Any], memoryview | bytes]:
        """The tensor in its stored dtype and logical shape (a view where possible), and its buffer."""
        tensor = self._tensor(name)
        _check_bounds(name, tensor, self.path)  # cheap, and read() must never trust a stale check
        buffer = self._storage_bytes(tensor.storage)
        dtype = self._dtype(tensor.dtype)
        if math.prod(tensor.shape) == 0:
            return np.zeros(tensor.shape, dtype=dtype), buffer
        flat = np.frombuffer(buffer, dtype=dtype, count=len(buffer) // dtype.itemsize)
        strides = tuple(step * dtype.itemsize for step in tensor.stride)
        view = np.lib.stride_tricks.as_strided(flat[tensor.offset :], tensor.shape, strides, writeable=False)
        return view, buffer

    def raw(self, name: str) -> memoryview | bytes:
        tensor = self._tensor(name)
        array, buffer = self._array(name)
        itemsize = array.dtype.itemsize
        if _is_contiguous(tensor.shape, tensor.stride) and (itemsize == 1 or not self._big_endian):
            start = tensor.offset * itemsize
            return memoryview(buffer)[start : start + array.size * itemsize]
        return np.asarray(array, dtype=array.dtype.newbyteorder("<"), order="C").tobytes()

    def read(self, name: str) -> Float32Array:
        code = self._tensor(name).dtype
        if code in _UNREADABLE:
            raise UnsupportedFormatError(
                self.path, f"tensor {name!r} has dtype {code}, which has no float32 reading"
            )
        array, _buffer = self._array(name)
        if code == "BF16":
            result = bf16_to_f32(array.astype(np.uint16))
        elif code == "F8_E4M3":
            result = FP8_E4M3_TABLE[array]
        elif code == "F8_E5M2":
            result = FP8_E5M2_TABLE[array]
        elif code == "BOOL":
            result = (array != 0).astype(np.float32)
        else:
            result = array.astype(np.float32)
        # np.asarray, not np.ascontiguousarray: the latter turns a 0-d scalar tensor into shape (1,).
        return np.asarray(result, dtype=np.float32, order="C")

    def close(self) -> None:
        self._inflated = None
        if self._zip is not None:
            self._zip.close()
            self._zip = None
        if self._mmap is not None:
            # A caller may still hold a raw() view; then the map closes when that view is dropped.
            with contextlib.suppress(BufferError):
                self._mmap.close()
            self._mmap = None
        if self._file is not None:
            self._file.close()
            self._file = None
