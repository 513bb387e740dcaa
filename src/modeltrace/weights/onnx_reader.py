"""Read an ONNX model as the logical tensors of the network it was exported from.

ONNX exporters anonymise and re-lay-out weights: a linear layer's weight becomes ``val_49_q`` (int8,
stored ``[in, out]`` because the graph computes ``x @ W``) with a scale ``val_49_scale``, joined to
the activations by ``Cast -> Mul -> MatMul -> Add(bias)``. Only the bias keeps the module name. This
reader therefore never trusts initializer names for layout; it walks the graph:

* every value computed from initializers alone through ``Identity``, ``Transpose``, ``Cast``,
  ``Sub`` (zero point), ``Mul`` (scale) and ``DequantizeLinear`` is a *chain* over one stored tensor;
* a chain consumed as the weight of ``MatMul`` / ``Gemm`` is a linear weight: it is named after the
  bias that is added to its output (``X.bias`` -> ``X.weight``) and transposed to PyTorch ``[out, in]``
  as the graph demands (``MatMul`` always, ``Gemm`` unless ``transB=1``);
* a chain read by ``Gather`` is an embedding table and keeps its (de-suffixed) name;
* other float initializers (biases, LayerNorm gains, token-type rows) keep their own names, while
  shape constants, scalars and integer buffers are left out.

A common wrapper prefix (``inner.``) is stripped. Quantised tensors are dequantised exactly as the
graph would (numpy broadcasting in the stored layout, before any transpose), so per-row and
per-column scales land on the right axis.

Safety: the protobuf is parsed from bytes we read ourselves (at most 2 GiB, the protobuf limit);
external data is resolved lazily, only inside the model's folder, with every offset and length
checked against the file size; every declared shape must match the bytes it claims.
"""

from __future__ import annotations

import math
import re
import stat
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper

from modeltrace.errors import ModelFileError
from modeltrace.weights.source import (
    FP8_E4M3_TABLE,
    FP8_E5M2_TABLE,
    MAX_DIMS,
    Float32Array,
    SourceFacts,
    TensorInfo,
    TensorSource,
    bf16_to_f32,
)

__all__ = ["OnnxSource"]

#: Protobuf cannot parse a message above 2 GiB; bigger ONNX models must use external data.
_MAX_PROTO_BYTES = 2**31
#: Integer constants longer than this are never shape vectors (only used for head detection).
_MAX_SHAPE_CONST = 16
#: Suffixes exporters add to the stored integer part of a quantised tensor.
_QUANT_SUFFIXES = ("_quantized", "_quant", "_int8", "_uint8", "_int4", "_q")
#: Top-level module names that are part of Hugging Face naming, so never stripped as a wrapper.
_KEEP_PREFIXES = frozenset({"model", "encoder", "decoder", "transformer"})
#: Children that show a prefix wraps a whole model (``inner.embeddings``, ``inner.encoder``), not a layer.
_MODEL_CHILDREN = frozenset(
    {
        "embeddings",
        "encoder",
        "decoder",
        "layers",
        "layer",
        "h",
        "blocks",
        "model",
        "transformer",
        "embed_tokens",
        "wte",
        "wpe",
        "norm",
        "lm_head",
        "pooler",
    }
)
#: Reads one stored tensor by name, in its stored shape.
_Lookup = Callable[[str], npt.NDArray[Any]]
_LAYER_RE = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


@dataclass(frozen=True)
class _Elem:
    """One ONNX element type: our dtype code, its numpy storage type and bits per element."""

    code: str
    storage: str
    bits: int
    is_float: bool


_ELEMS: dict[int, _Elem] = {
    TensorProto.FLOAT: _Elem("F32", "<f4", 32, True),
    TensorProto.FLOAT16: _Elem("F16", "<f2", 16, True),
    TensorProto.BFLOAT16: _Elem("BF16", "<u2", 16, True),
    TensorProto.DOUBLE: _Elem("F64", "<f8", 64, True),
    TensorProto.FLOAT8E4M3FN: _Elem("F8_E4M3", "u1", 8, True),
    TensorProto.FLOAT8E5M2: _Elem("F8_E5M2", "u1", 8, True),
    TensorProto.INT8: _Elem("I8", "i1", 8, False),
    TensorProto.UINT8: _Elem("U8", "u1", 8, False),
    TensorProto.INT4: _Elem("I4", "u1", 4, False),
    TensorProto.UINT4: _Elem("U4", "u1", 4, False),
    TensorProto.INT16: _Elem("I16", "<i2", 16, False),
    TensorProto.UINT16: _Elem("U16", "<u2", 16, False),
    TensorProto.INT32: _Elem("I32", "<i4", 32, False),
    TensorProto.UINT32: _Elem("U32", "<u4", 32, False),
    TensorProto.INT64: _Elem("I64", "<i8", 64, False),
    TensorProto.UINT64: _Elem("U64", "<u8", 64, False),
    TensorProto.BOOL: _Elem("BOOL", "u1", 8, False),
}
_CHAIN_OPS = frozenset({"Identity", "Transpose", "Cast", "Mul", "Sub", "DequantizeLinear"})
_FLOAT_CASTS = frozenset(code for code, elem in _ELEMS.items() if elem.is_float)
#: Integer types a quantised weight is stored in (an untraced one is still listed, raw).
_QUANT_CODES = frozenset({"I8", "U8", "I4", "U4"})


@dataclass(frozen=True)
class _Stored:
    """One stored tensor (initializer or Constant node): where its bytes are, not the bytes' meaning."""

    name: str
    order: int
    elem: _Elem
    dims: tuple[int, ...]
    nbytes: int
    data: bytes | None
    file: Path | None = None
    offset: int = 0

    @property
    def numel(self) -> int:
        return math.prod(self.dims)


@dataclass(frozen=True)
class _Step:
    """One graph operation between a stored tensor and the value the network uses."""

    op: str  # "transpose" | "cast" | "mul" | "sub" | "dq"
    perm: tuple[int, ...] = ()
    scale: str | None = None
    zero: str | None = None
    axis: int = 0
    block: int = 0


@dataclass(frozen=True)
class _Chain:
    """A value computed from one stored tensor (``data``) and constant scales only."""

    data: str
    steps: tuple[_Step, ...]
    shape: tuple[int, ...]

    @property
    def extras(self) -> tuple[str, ...]:
        names: list[str] = []
        for step in self.steps:
            for name in (step.scale, step.zero):
                if name is not None and name not in names:
                    names.append(name)
        return tuple(names)

    @property
    def scaled(self) -> bool:
        return any(step.scale is not None for step in self.steps)


@dataclass(frozen=True)
class _Logical:
    """One tensor as we present it: a chain, plus the transpose the consuming op implies."""

    name: str
    chain: _Chain
    transpose: bool
    info: TensorInfo


@dataclass(frozen=True)
class _Use:
    """A chain value read by ``node`` at input ``index`` (``node`` is None for an unused value)."""

    value: str
    chain: _Chain
    node: onnx.NodeProto | None
    index: int
    position: int


class OnnxSource(TensorSource):
    """An ONNX model's weights as logical tensors with Hugging Face names, ``[out, in]`` layout."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        model = _parse(self.path)
        graph = model.graph
        self._stored = _collect_stored(self.path, graph)
        chains = _build_chains(graph, self._stored, self.path)
        recovered = _Recovery(graph, self._stored, chains, self.path)
        logical, prefix = _strip_prefix(recovered.logical)
        self._tensors = {item.name: item for item in logical}
        self._infos = [item.info for item in logical]
        metadata = _metadata(model, prefix, self._stored)
        self.facts = SourceFacts(
            format="onnx",
            metadata=metadata,
            config=_infer_config(self._infos, recovered.heads(), recovered.layer_norm_eps()),
        )

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def raw(self, name: str) -> memoryview | bytes:
        chain = self._tensors[name].chain
        parts = [self._bytes(self._stored[item]) for item in (chain.data, *chain.extras)]
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read(self, name: str) -> Float32Array:
        item = self._tensors[name]
        value = _apply(item.chain, self._array)
        if item.transpose:
            value = value.T
        return np.ascontiguousarray(value, dtype=np.float32)

    def _bytes(self, stored: _Stored) -> bytes:
        if stored.data is not None:
            return stored.data
        assert stored.file is not None
        try:
            with stored.file.open("rb") as handle:
                handle.seek(stored.offset)
                data = handle.read(stored.nbytes)
        except OSError as exc:
            raise ModelFileError(self.path, f"cannot read external data of {stored.name!r}: {exc}") from exc
        if len(data) != stored.nbytes:
            # The file was checked at open time; it shrank since.
            raise ModelFileError(self.path, f"external data of {stored.name!r} is truncated")
        return data

    def _array(self, name: str) -> npt.NDArray[Any]:
        """A stored tensor in its stored shape: floats widened to float32, integers as stored."""
        stored = self._stored[name]
        flat = _decode(stored.elem, self._bytes(stored), stored.numel)
        return flat.reshape(stored.dims)


# --- parsing and stored tensors -------------------------------------------------------------------


def _parse(path: Path) -> onnx.ModelProto:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(path, "not a regular file")
        if info.st_size >= _MAX_PROTO_BYTES:
            raise ModelFileError(path, "ONNX protobuf larger than 2 GiB (protobuf cannot hold it)")
        with path.open("rb") as handle:
            blob = handle.read(_MAX_PROTO_BYTES)
    except OSError as exc:
        raise ModelFileError(path, f"cannot read the ONNX file: {exc.strerror or exc}") from exc
    model = onnx.ModelProto()
    try:
        # Parse the bytes ourselves: onnx.load would also follow external-data paths.
        model.ParseFromString(blob)
    except Exception as exc:  # protobuf raises DecodeError, RecursionError, ... on hostile input
        problem = f"not a valid ONNX protobuf (truncated or corrupt): {_one_line(exc)}"
        raise ModelFileError(path, problem) from exc
    if not model.HasField("graph") or model.ir_version <= 0:
        raise ModelFileError(path, "not an ONNX model: no graph or IR version in the protobuf")
    return model


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def _collect_stored(path: Path, graph: onnx.GraphProto) -> dict[str, _Stored]:
    """Initializers, then tensors held by Constant nodes (exporters use both for weights)."""
    stored: dict[str, _Stored] = {}
    sizes: dict[Path, int] = {}
    tensors: list[tuple[str, TensorProto]] = [(t.name, t) for t in graph.initializer]
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            tensors.extend((node.output[0], attr.t) for attr in node.attribute if attr.name == "value")
    for name, tensor in tensors:
        if not name:
            raise ModelFileError(path, "an initializer has no name")
        if name in stored:
            raise ModelFileError(path, f"two initializers are named {name!r}")
        item = _stored_tensor(path, name, len(stored), tensor, sizes)
        if item is not None:
            stored[name] = item
    for node in graph.node:
        if node.op_type == "Constant" and node.output and node.output[0] not in stored:
            item = _constant_values(node, len(stored))
            if item is not None:
                stored[item.name] = item
    return stored


def _stored_tensor(
    path: Path, name: str, order: int, tensor: TensorProto, sizes: dict[Path, int]
) -> _Stored | None:
    elem = _ELEMS.get(tensor.data_type)
    if elem is None:
        return None  # strings, complex, exotic float formats: never weights we can compare
    dims = tuple(int(d) for d in tensor.dims)
    if len(dims) > MAX_DIMS:
        raise ModelFileError(path, f"initializer {name!r} has {len(dims)} dimensions (at most {MAX_DIMS})")
    if any(d < 0 for d in dims):
        raise ModelFileError(path, f"initializer {name!r} has a negative dimension {list(dims)}")
    nbytes = (math.prod(dims) * elem.bits + 7) // 8
    if tensor.data_location == TensorProto.EXTERNAL:
        file, offset = _external(path, name, tensor, nbytes, sizes)
        return _Stored(name, order, elem, dims, nbytes, None, file, offset)
    data = tensor.raw_data if tensor.HasField("raw_data") else _typed_bytes(tensor, elem)
    if len(data) != nbytes:
        raise ModelFileError(
            path,
            f"initializer {name!r} declares shape {list(dims)} ({nbytes} bytes of {elem.code}) "
            f"but stores {len(data)} bytes",
        )
    return _Stored(name, order, elem, dims, nbytes, bytes(data))


def _typed_bytes(tensor: TensorProto, elem: _Elem) -> bytes:
    """Little-endian bytes of a tensor kept in the typed repeated fields instead of ``raw_data``."""
    if elem.code == "F32":
        return np.asarray(tensor.float_data, dtype="<f4").tobytes()
    if elem.code == "F64":
        return np.asarray(tensor.double_data, dtype="<f8").tobytes()
    if elem.code == "I64":
        return np.asarray(tensor.int64_data, dtype="<i8").tobytes()
    if elem.code in ("U32", "U64"):
        return np.asarray(tensor.uint64_data, dtype=np.uint64).astype(elem.storage).tobytes()
    if elem.code == "I32":
        return np.asarray(tensor.int32_data, dtype="<i4").tobytes()
    # Everything narrower sits one storage unit (a bit pattern, or a byte of two nibbles) per int32.
    unit = "<u2" if elem.bits == 16 else "u1"
    return np.asarray(tensor.int32_data, dtype=np.int64).astype(unit).tobytes()


def _external(
    path: Path, name: str, tensor: TensorProto, nbytes: int, sizes: dict[Path, int]
) -> tuple[Path, int]:
    """Resolve and bound one external-data reference; the bytes are read only when asked for."""
    fields = {entry.key: entry.value for entry in tensor.external_data}
    location = fields.get("location", "")
    if not location:
        raise ModelFileError(path, f"external tensor {name!r} has no location")
    folder = path.parent.resolve()
    try:
        target = (folder / location).resolve()
    except (OSError, ValueError) as exc:
        raise ModelFileError(path, f"external tensor {name!r}: bad location {location!r}") from exc
    # resolve() follows symlinks too, so a link pointing outside the folder is refused as well.
    if Path(location).is_absolute() or not target.is_relative_to(folder):
        raise ModelFileError(
            path, f"external tensor {name!r}: location {location!r} escapes the model's folder (refused)"
        )
    size = sizes.get(target)
    if size is None:
        try:
            info = target.stat()
        except OSError as exc:
            raise ModelFileError(path, f"external tensor {name!r}: cannot open {location!r}") from exc
        if not stat.S_ISREG(info.st_mode):
            raise ModelFileError(path, f"external tensor {name!r}: {location!r} is not a regular file")
        size = sizes[target] = info.st_size
    try:
        offset = int(fields.get("offset", "0"))
        length = int(fields.get("length", str(nbytes)))
    except ValueError as exc:
        raise ModelFileError(path, f"external tensor {name!r}: offset/length are not integers") from exc
    if offset < 0 or length < 0 or offset + length > size:
        raise ModelFileError(
            path,
            f"external tensor {name!r}: bytes {offset}..{offset + length} lie outside {location!r} "
            f"({size} bytes)",
        )
    if length != nbytes:
        raise ModelFileError(
            path,
            f"external tensor {name!r} declares shape {list(tensor.dims)} ({nbytes} bytes) "
            f"but its data length is {length}",
        )
    return target, offset


def _constant_values(node: onnx.NodeProto, order: int) -> _Stored | None:
    """``Constant`` nodes with ``value_int(s)`` / ``value_float(s)``: shape vectors and scalars."""
    for attr in node.attribute:
        if attr.name in ("value_int", "value_ints"):
            array: npt.NDArray[Any] = np.asarray(helper.get_attribute_value(attr), dtype="<i8")
            elem = _ELEMS[TensorProto.INT64]
        elif attr.name in ("value_float", "value_floats"):
            array = np.asarray(helper.get_attribute_value(attr), dtype="<f4")
            elem = _ELEMS[TensorProto.FLOAT]
        else:
            continue
        if array.ndim > 1:
            return None
        return _Stored(node.output[0], order, elem, array.shape, array.nbytes, array.tobytes())
    return None


def _decode(elem: _Elem, data: bytes, numel: int) -> npt.NDArray[Any]:
    """Flat values of stored bytes: floats as float32, integers in their own type."""
    if elem.code == "BF16":
        return bf16_to_f32(np.frombuffer(data, dtype="<u2"))
    if elem.code == "F8_E4M3":
        return FP8_E4M3_TABLE[np.frombuffer(data, dtype=np.uint8)]
    if elem.code == "F8_E5M2":
        return FP8_E5M2_TABLE[np.frombuffer(data, dtype=np.uint8)]
    if elem.bits == 4:
        packed = np.frombuffer(data, dtype=np.uint8)
        # Two values per byte, the first in the low nibble.
        nibbles = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(-1)[:numel]
        if elem.code == "I4":
            return (nibbles.astype(np.int8) ^ 8) - 8  # sign-extend 4 bits
        return nibbles
    if elem.code == "BOOL":
        return np.frombuffer(data, dtype=np.uint8)
    return np.frombuffer(data, dtype=elem.storage)


# --- chains: values computed from one stored tensor -----------------------------------------------


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return default


def _build_chains(graph: onnx.GraphProto, stored: dict[str, _Stored], path: Path) -> dict[str, _Chain]:
    """Every value computed from stored tensors by weight-preparing ops, in node order.

    Nodes are topologically sorted in a valid model; in a hostile one an out-of-order node simply
    does not extend a chain.
    """
    chains = {name: _Chain(name, (), item.dims) for name, item in stored.items()}
    for node in graph.node:
        if not node.output or node.output[0] in chains:
            continue
        chain = _extend(node, chains, stored, path)
        if chain is not None:
            chains[node.output[0]] = chain
    return chains


def _extend(
    node: onnx.NodeProto, chains: dict[str, _Chain], stored: dict[str, _Stored], path: Path
) -> _Chain | None:
    inputs = [chains.get(name) if name else None for name in node.input]
    first = inputs[0] if inputs else None
    op = node.op_type
    if first is None:
        return None  # computed from activations (Mul(activation, const) included): not a weight
    if op == "Identity":
        return first
    if op == "Transpose":
        return _transpose(node, first)
    if op == "Cast":
        if _attr(node, "to", 0) not in _FLOAT_CASTS:
            return None
        return _Chain(first.data, (*first.steps, _Step("cast")), first.shape)
    if op in ("Mul", "Sub"):
        return _elementwise(node, inputs, stored)
    if op == "DequantizeLinear":
        return _dequantize(node, inputs, stored, path)
    return None


def _transpose(node: onnx.NodeProto, chain: _Chain) -> _Chain | None:
    rank = len(chain.shape)
    perm = tuple(int(p) for p in _attr(node, "perm", list(range(rank))[::-1]))
    if sorted(perm) != list(range(rank)):
        return None
    shape = tuple(chain.shape[p] for p in perm)
    return _Chain(chain.data, (*chain.steps, _Step("transpose", perm=perm)), shape)


def _constant_operand(chain: _Chain | None, stored: dict[str, _Stored]) -> _Stored | None:
    """A stored tensor used directly (through Identity at most) as a scale or zero point."""
    if chain is None or chain.steps:
        return None
    return stored[chain.data]


def _fits(shape: tuple[int, ...], operand: tuple[int, ...]) -> bool:
    """Whether ``operand`` broadcasts onto ``shape`` without changing it (numpy/ONNX rules)."""
    try:
        return np.broadcast_shapes(shape, operand) == shape
    except ValueError:
        return False


def _elementwise(
    node: onnx.NodeProto, inputs: list[_Chain | None], stored: dict[str, _Stored]
) -> _Chain | None:
    """``data * scale`` or ``data - zero_point`` where the second operand is a stored constant."""
    if len(inputs) != 2 or inputs[0] is None:
        return None
    data, other = inputs[0], _constant_operand(inputs[1], stored)
    if node.op_type == "Mul":
        if other is None or not other.elem.is_float:
            return _scaled_second(node, inputs, stored)
        # Two plain constants: the bigger one is the data, or the one that was already cast.
        if not data.steps and other.numel >= math.prod(data.shape):
            return _scaled_second(node, inputs, stored)
        if not _fits(data.shape, other.dims):
            return None
        return _Chain(data.data, (*data.steps, _Step("mul", scale=other.name)), data.shape)
    if other is None or not _fits(data.shape, other.dims):
        return None
    return _Chain(data.data, (*data.steps, _Step("sub", zero=other.name)), data.shape)


def _scaled_second(
    node: onnx.NodeProto, inputs: list[_Chain | None], stored: dict[str, _Stored]
) -> _Chain | None:
    """``scale * data`` with the scale first."""
    if len(inputs) != 2 or inputs[1] is None:
        return None
    data, scale = inputs[1], _constant_operand(inputs[0], stored)
    if scale is None or not scale.elem.is_float or not _fits(data.shape, scale.dims):
        return None
    if not data.steps and scale.numel >= math.prod(data.shape):
        return None  # two plain constants of one size: nothing tells which is the weight
    return _Chain(data.data, (*data.steps, _Step("mul", scale=scale.name)), data.shape)


def _dequantize(
    node: onnx.NodeProto, inputs: list[_Chain | None], stored: dict[str, _Stored], path: Path
) -> _Chain | None:
    """``DequantizeLinear(x, scale, zero_point)`` on a stored x; malformed parameters are an error."""
    x = _constant_operand(inputs[0], stored)
    scale = _constant_operand(inputs[1], stored) if len(inputs) > 1 else None
    zero = _constant_operand(inputs[2], stored) if len(inputs) > 2 else None
    if x is None or scale is None or (len(inputs) > 2 and node.input[2] and zero is None):
        return None  # activations (QDQ of inputs), not weights
    rank = len(x.dims)
    axis = int(_attr(node, "axis", 1))
    block = int(_attr(node, "block_size", 0))
    problem = _dequantize_problem(x, scale, zero, axis, block)
    if problem:
        raise ModelFileError(path, f"DequantizeLinear of {x.name!r}: {problem}")
    axis = axis + rank if axis < 0 else axis
    step = _Step("dq", scale=scale.name, zero=zero.name if zero else None, axis=axis, block=block)
    return _Chain(x.name, (step,), x.dims)


def _dequantize_problem(x: _Stored, scale: _Stored, zero: _Stored | None, axis: int, block: int) -> str:
    rank = len(x.dims)
    if not scale.elem.is_float:
        return f"scale {scale.name!r} is {scale.elem.code}, not a float"
    # The spec wants equal shapes; a scalar against a [1] (both per tensor) is harmless, so allowed.
    same_shape = zero is not None and (zero.dims == scale.dims or zero.numel == scale.numel == 1)
    if zero is not None and (not same_shape or zero.elem != x.elem):
        return f"zero point {zero.name!r} does not match the scale's shape or the data type"
    if scale.numel == 1:
        return ""  # per tensor
    if not -rank <= axis < rank:
        return f"axis {axis} is outside rank {rank}"
    axis = axis + rank if axis < 0 else axis
    if block <= 0:
        if scale.dims != (x.dims[axis],):
            return f"per-axis scale shape {list(scale.dims)} does not match dimension {x.dims[axis]}"
        return ""
    want = tuple(-(-d // block) if i == axis else d for i, d in enumerate(x.dims))
    if scale.dims != want:
        return f"blocked scale shape {list(scale.dims)} is not {list(want)}"
    return ""


def _apply(chain: _Chain, array: _Lookup) -> npt.NDArray[Any]:
    """Evaluate a chain as the graph would, in the stored layout (so scales hit the right axis)."""
    value: npt.NDArray[Any] = array(chain.data)
    for step in chain.steps:
        if step.op == "transpose":
            value = np.transpose(value, step.perm)
        elif step.op == "cast":
            value = value.astype(np.float32)
        elif step.op == "mul":
            assert step.scale is not None
            value = value.astype(np.float32) * array(step.scale).astype(np.float32)
        elif step.op == "sub":
            assert step.zero is not None
            value = value.astype(np.float32) - array(step.zero).astype(np.float32)
        else:
            value = _dequantize_values(value, step, array)
    return value


def _dequantize_values(value: npt.NDArray[Any], step: _Step, array: _Lookup) -> npt.NDArray[Any]:
    assert step.scale is not None
    scale = array(step.scale).astype(np.float32)
    zero = array(step.zero).astype(np.float32) if step.zero else np.zeros_like(scale)
    if scale.size == 1:
        return (value.astype(np.float32) - zero.reshape(())) * scale.reshape(())
    if step.block > 0:
        # Blocked: each scale covers `block` consecutive entries along the axis (last block may be
        # short). Index rather than np.repeat, so a hostile huge block_size cannot blow up memory.
        owner = np.arange(value.shape[step.axis]) // step.block
        scale = np.take(scale, owner, axis=step.axis)
        zero = np.take(zero, owner, axis=step.axis)
    else:
        # Per axis: a 1-D scale placed on `axis`, never left to trailing-axis broadcasting.
        shape = [1] * value.ndim
        shape[step.axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (value.astype(np.float32) - zero) * scale


# --- recovering names and layouts from the graph --------------------------------------------------


class _Recovery:
    """Picks, for every stored tensor, the use that tells its role, and names it from the graph."""

    def __init__(
        self, graph: onnx.GraphProto, stored: dict[str, _Stored], chains: dict[str, _Chain], path: Path
    ) -> None:
        self._graph = graph
        self._stored = stored
        self._chains = chains
        self._path = path
        self._consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
        self._producers = {out: node for node in graph.node for out in node.output}
        for node in graph.node:
            for index, name in enumerate(node.input):
                if name:
                    self._consumers.setdefault(name, []).append((node, index))
        #: Output value of each recovered linear layer (after its bias) -> output features.
        self._linear_outputs: dict[str, int] = {}
        self.logical = self._recover()

    def _recover(self) -> list[_Logical]:
        best: dict[str, _Use] = {}
        for use in self._terminal_uses():
            current = best.get(use.chain.data)
            if current is None or self._rank(use) > self._rank(current):
                best[use.chain.data] = use
        extras = {name for use in best.values() for name in use.chain.extras}
        result: list[_Logical] = []
        taken: set[str] = set()
        for data in sorted(best, key=lambda name: self._stored[name].order):
            use = best[data]
            if data in extras and self._kind(use) == "other":
                continue  # a scale or zero point, folded into the tensor it scales
            item = self._logical(use, taken)
            if item is not None:
                taken.add(item.name)
                result.append(item)
        return result

    def _terminal_uses(self) -> list[_Use]:
        """Chain values read by something other than the next step of their own chain, or by nothing."""
        uses: list[_Use] = []
        for value, chain in self._chains.items():
            readers = self._consumers.get(value, [])
            for node, index in readers:
                if not self._extends(node, chain):
                    uses.append(_Use(value, chain, node, index, len(uses)))
            if not readers:
                uses.append(_Use(value, chain, None, 0, len(uses)))
        return uses

    def _extends(self, node: onnx.NodeProto, chain: _Chain) -> bool:
        """Whether ``node`` computes the next value of the same chain (not a use of the weight)."""
        if node.op_type not in _CHAIN_OPS or not node.output:
            return False
        following = self._chains.get(node.output[0])
        return following is not None and following.data == chain.data

    def _kind(self, use: _Use) -> str:
        node, index, rank = use.node, use.index, len(use.chain.shape)
        if node is None:
            return "other"
        if node.op_type == "Gather" and index == 0:
            return "gather"
        if node.op_type in ("MatMul", "Gemm") and index == 1 and rank == 2:
            return node.op_type.lower()
        return "other"

    def _rank(self, use: _Use) -> tuple[bool, bool, int]:
        # Prefer the fully dequantised value (reading a Cast output alone would ignore the scales),
        # then a use that fixes the role and layout, then the first one in the graph.
        return (use.chain.scaled, self._kind(use) != "other", -use.position)

    def _logical(self, use: _Use, taken: set[str]) -> _Logical | None:
        chain, kind = use.chain, self._kind(use)
        if not chain.scaled and not _worth_listing(self._stored[chain.data], kind):
            return None
        transpose = False
        name: str | None = None
        if kind in ("matmul", "gemm"):
            assert use.node is not None
            trans_b = kind == "gemm" and int(_attr(use.node, "transB", 0)) == 1
            transpose = not trans_b
            out = chain.shape[0] if trans_b else chain.shape[1]
            name = self._linear_name(use.node, out)
        if name is None or name in taken:
            name = _fallback_name(chain, use.value)
        if name in taken:
            name = chain.data
        if name in taken:
            raise ModelFileError(self._path, f"two tensors would be named {name!r}")
        shape = chain.shape[::-1] if transpose else chain.shape
        return _Logical(name, chain, transpose, self._info(name, chain, shape))

    def _info(self, name: str, chain: _Chain, shape: tuple[int, ...]) -> TensorInfo:
        data = self._stored[chain.data]
        extras = [self._stored[extra] for extra in chain.extras]
        dtype = data.elem.code
        if chain.scaled:
            scale = next(self._stored[s.scale] for s in chain.steps if s.scale is not None)
            dtype = f"{data.elem.code}x{scale.elem.code}"
        return TensorInfo(name, dtype, tuple(shape), data.nbytes + sum(e.nbytes for e in extras))

    def _linear_name(self, node: onnx.NodeProto, out: int) -> str | None:
        """``X.weight`` from the bias ``X.bias`` added to this MatMul / Gemm output."""
        if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
            self._linear_outputs[node.output[0]] = out
            return self._bias_module(node.input[2], out)
        for reader, index in self._consumers.get(node.output[0], []):
            if reader.op_type != "Add" or len(reader.input) != 2:
                continue
            module = self._bias_module(reader.input[1 - index], out)
            if module is not None:
                self._linear_outputs[reader.output[0]] = out
                return module
        self._linear_outputs[node.output[0]] = out
        return None

    def _bias_module(self, value: str, out: int) -> str | None:
        chain = self._chains.get(value)
        if chain is None or math.prod(chain.shape) != out:
            return None
        name = _desuffix(chain.data) if chain.scaled else chain.data
        return name[: -len(".bias")] + ".weight" if name.endswith(".bias") else None

    def heads(self) -> int | None:
        """Attention heads, from the Reshape that splits a projection into ``[..., heads, head_dim]``."""
        votes: Counter[int] = Counter()
        for node in self._graph.node:
            if node.op_type != "Reshape" or len(node.input) < 2 or node.input[0] not in self._linear_outputs:
                continue
            out = self._linear_outputs[node.input[0]]
            tail = self._shape_tail(node.input[1])
            if len(tail) < 2 or tail[-1] <= 0 or tail[-1] >= out or out % tail[-1]:
                continue
            heads = out // tail[-1]
            if tail[-2] in (-1, heads):
                votes[heads] += 1
        return votes.most_common(1)[0][0] if votes else None

    def _shape_tail(self, value: str) -> list[int]:
        """The trailing constant entries of a shape vector (a constant, or a Concat ending in constants)."""
        const = self._int_vector(value)
        if const is not None:
            return const
        node = self._producers.get(value)
        if node is None or node.op_type != "Concat":
            return []
        tail: list[int] = []
        for part in reversed(node.input):
            values = self._int_vector(part)
            if values is None:
                break
            tail = values + tail
        return tail

    def _int_vector(self, name: str) -> list[int] | None:
        item = self._stored.get(name)
        if item is None or item.elem.code not in ("I64", "I32") or len(item.dims) > 1:
            return None
        if item.numel > _MAX_SHAPE_CONST or item.data is None:
            return None
        return [int(v) for v in _decode(item.elem, item.data, item.numel)]

    def layer_norm_eps(self) -> float | None:
        for node in self._graph.node:
            if node.op_type == "LayerNormalization":
                return float(f"{float(_attr(node, 'epsilon', 1e-5)):.6g}")  # undo float32 rounding
        return None


def _worth_listing(data: _Stored, kind: str) -> bool:
    """Whether a stored tensor read as is is a weight (biases, norms, tables) rather than a constant."""
    if data.elem.is_float:
        # Scalars such as 1/sqrt(d) or -inf masks are graph constants; a named one-element bias is not.
        return kind != "other" or data.numel > 1 or "." in data.name
    # Integer buffers (ids, shapes, masks) are not weights; untraced quantised matrices are, raw.
    return data.elem.code in _QUANT_CODES and len(data.dims) >= 2


def _desuffix(name: str) -> str:
    for suffix in _QUANT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _fallback_name(chain: _Chain, value: str) -> str:
    """A module-like name from the stored tensor or the value the graph computes, else the own name."""
    if chain.scaled:
        base = _desuffix(chain.data)
        if "." in base:
            return base
        if "." in value:
            return value
    return chain.data


def _strip_prefix(items: list[_Logical]) -> tuple[list[_Logical], str]:
    """Strip a wrapper module (``inner.``) that every dotted name shares and HF naming lacks.

    Only a prefix over a whole model (two or more children, one of them model-level) is a wrapper:
    ``emb.{LayerNorm, word_embeddings}`` is a real module and keeps its name.
    """
    dotted = [item.name for item in items if "." in item.name]
    heads = {name.split(".", 1)[0] for name in dotted}
    if len(dotted) < 2 or len(heads) != 1:
        return items, ""
    head = heads.pop()
    children = {name.split(".", 2)[1] for name in dotted if name.count(".") >= 2}
    if head in _KEEP_PREFIXES or len(children) < 2 or not children & _MODEL_CHILDREN:
        return items, ""
    prefix = head + "."
    names = {item.name for item in items}
    renamed: list[_Logical] = []
    for item in items:
        new = item.name[len(prefix) :]
        if item.name.startswith(prefix) and new and new not in names:
            info = TensorInfo(new, item.info.dtype, item.info.shape, item.info.nbytes)
            renamed.append(_Logical(new, item.chain, item.transpose, info))
        else:
            renamed.append(item)
    return renamed, prefix


# --- facts ----------------------------------------------------------------------------------------


def _metadata(model: onnx.ModelProto, prefix: str, stored: dict[str, _Stored]) -> dict[str, Any]:
    opsets = {entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import}
    metadata: dict[str, Any] = {
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "ir_version": int(model.ir_version),
        "opset": opsets.get("ai.onnx"),
        "opset_imports": opsets,
        "domain": model.domain,
        "model_version": int(model.model_version),
        "graph_name": model.graph.name,
        "metadata_props": {entry.key: entry.value for entry in model.metadata_props},
    }
    if prefix:
        metadata["stripped_prefix"] = prefix
    files = sorted({item.file.name for item in stored.values() if item.file is not None})
    if files:
        metadata["external_data"] = files
    return metadata


def _find(shapes: dict[str, tuple[int, ...]], suffixes: tuple[str, ...]) -> tuple[int, ...] | None:
    for name, shape in shapes.items():
        if any(name == s or name.endswith("." + s) for s in suffixes):
            return shape
    return None


def _infer_config(infos: Sequence[TensorInfo], heads: int | None, eps: float | None) -> dict[str, Any]:
    """Hugging Face config keys that the tensor names and shapes (and the graph) pin down."""
    shapes = {info.name: info.shape for info in infos}
    config: dict[str, Any] = {}
    if any("attention.self.query" in n for n in shapes) and any("word_embeddings" in n for n in shapes):
        config["model_type"] = "bert"
    word = _find(shapes, ("word_embeddings.weight", "embed_tokens.weight", "wte.weight"))
    if word is not None and len(word) == 2:
        config["vocab_size"], config["hidden_size"] = word
    position = _find(shapes, ("position_embeddings.weight", "wpe.weight"))
    if position is not None and len(position) == 2:
        config["max_position_embeddings"] = position[0]
    token_type = _find(shapes, ("token_type_embeddings.weight",))
    if token_type is not None and len(token_type) == 2:
        config["type_vocab_size"] = token_type[0]
    layers = {int(m.group(1)) for name in shapes if (m := _LAYER_RE.search(name))}
    if layers:
        config["num_hidden_layers"] = max(layers) + 1
    inner = _find(shapes, ("intermediate.dense.weight", "mlp.up_proj.weight", "mlp.fc1.weight"))
    if inner is not None and len(inner) == 2:
        config["intermediate_size"] = inner[0]
    hidden = config.get("hidden_size")
    if heads is not None and (hidden is None or hidden % heads == 0):
        config["num_attention_heads"] = heads
    if eps is not None:
        config["layer_norm_eps"] = eps
    return config
