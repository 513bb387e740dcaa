"""Reader for CTranslate2 ``model.bin`` files (binary version 6), as written by ``ModelSpec._serialize``.

Layout: u32 version, string spec name, u32 spec revision, u32 variable count; per variable a string
name, u8 rank, u32 dims[rank], u8 dtype, u32 byte count and the data; then u32 alias count and
(alias, target) string pairs. Strings are a u16 length and that many bytes, the last one a NUL.
Every count, length and dimension is checked against the file size before it is used.

Three things make the stored variables differ from the model's parameters, and the reader undoes them:

* configuration scalars (``num_heads``, ``pre_norm``, ...) are stored as 0-d variables: they go to
  ``facts.metadata``, not to the tensor list;
* duplicated weights are stored once and aliased (``decoder/projection/weight``): the alias is listed
  in the metadata, not exposed as a second tensor;
* int8/int16 weights carry a ``<name>_scale`` (per row for int8, one scalar for int16) with
  ``float = q / scale``: the scale is folded into the weight, never exposed alone.

For ``WhisperSpec`` tensors get Hugging Face Whisper names, and the fused projections are split into
virtual tensors whose ``raw()`` is their slice of the stored bytes: self-attention ``linear_0``
[3d, d] into q/k/v thirds, cross-attention ``linear_1`` [2d, d] into k/v halves. The converter pads
the missing key bias with zeros; an all-zero key bias slice is not exposed (Hugging Face has none).
"""

from __future__ import annotations

import contextlib
import json
import math
import mmap
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.binary import ByteCursor
from modeltrace.weights.source import (
    MAX_DIMS,
    MAX_HEADER_BYTES,
    Float32Array,
    SourceFacts,
    TensorInfo,
    TensorSource,
    bf16_to_f32,
)

__all__ = ["CTranslate2Source"]

_VERSION = 6
#: dtype code -> (our name, numpy dtype of the stored bytes), the order of CTranslate2's DataType enum.
_DTYPES: dict[int, tuple[str, str]] = {
    0: ("F32", "<f4"),
    1: ("I8", "i1"),
    2: ("I16", "<i2"),
    3: ("I32", "<i4"),
    4: ("F16", "<f2"),
    5: ("BF16", "<u2"),
}
_DTYPES_BY_NAME = dict(_DTYPES.values())
_FLOAT_DTYPES = frozenset({"F32", "F16", "BF16"})
#: Smallest variable record: u16 name length, u8 rank, u8 dtype, u32 byte count.
_VAR_MIN_BYTES = 2 + 1 + 1 + 4
#: Smallest alias record: two string lengths.
_ALIAS_MIN_BYTES = 2 + 2
#: A sibling config.json larger than this is not a CTranslate2 config.
_MAX_CONFIG_BYTES = 16 * 1024 * 1024
#: CTranslate2's ``ops::ActivationType`` codes that have a plain Hugging Face name.
_ACTIVATIONS = {0: "relu", 2: "silu", 3: "gelu"}


class _Cursor(ByteCursor):
    """The shared cursor plus CTranslate2's u16-length strings."""

    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        super().__init__(buf, path, "CTranslate2")

    def string(self, what: str) -> str:
        length = self.scalar("<H", f"length of {what}")
        start = self.skip(length, what)
        data = bytes(self.buf[start : start + length])
        if data.endswith(b"\0"):
            data = data[:-1]
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"corrupt CTranslate2 file: {what} at offset {start} is not UTF-8") from None


@dataclass(frozen=True)
class _Variable:
    """One stored variable: where its bytes are and how to read them."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int

    @property
    def itemsize(self) -> int:
        return self.nbytes // max(math.prod(self.shape), 1)

    @property
    def row_bytes(self) -> int:
        return self.nbytes // self.shape[0] if self.shape and self.shape[0] else 0


@dataclass(frozen=True)
class _Exposed:
    """A tensor as exposed: rows ``[start, stop)`` of a stored variable, with its scale if quantised."""

    info: TensorInfo
    var: _Variable
    start: int
    stop: int
    scale: _Variable | None


class CTranslate2Source(TensorSource):
    """A CTranslate2 ``model.bin``, memory-mapped; Whisper tensors under Hugging Face names."""

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        self.path = path / "model.bin" if path.is_dir() else path
        self._mm = _map_file(self.path)
        try:
            self._load()
        except BaseException:
            self.close()
            raise

    def _load(self) -> None:
        spec, revision, variables, aliases = _parse(self._mm, self.path)
        scales = _pair_scales(self.path, variables)
        scale_names = set(scales.values())
        # An int16 scale is 0-d too, but it belongs to its weight, not to the configuration.
        scalars = {
            name: _scalar_value(self._mm, var)
            for name, var in variables.items()
            if not var.shape and name not in scale_names
        }
        tensors = [var for var in variables.values() if var.shape and var.name not in scale_names]
        whisper = spec == "WhisperSpec"
        self._exposed: list[_Exposed] = []
        for var in tensors:
            scale = _scale_of(var, variables, scales)
            self._exposed.extend(self._expose(var, scale, whisper))
        self._by_name = {item.info.name: item for item in self._exposed}
        if len(self._by_name) != len(self._exposed):
            raise ModelFileError(self.path, "corrupt CTranslate2 file: two variables map to one tensor name")
        self._infos = [item.info for item in self._exposed]
        metadata: dict[str, Any] = {
            # Scalars first, so a variable that happens to be named like one of our keys cannot replace it.
            **{name.replace("/", "."): value for name, value in scalars.items()},
            "ctranslate2.version": _VERSION,
            "ctranslate2.spec": spec,
            "ctranslate2.revision": revision,
            "ctranslate2.variables": len(variables),
            "ctranslate2.tensors": len(tensors),
            "ctranslate2.aliases": dict(aliases),
            "aliases": {_dotted(a, whisper): _dotted(t, whisper) for a, t in aliases.items()},
        }
        config = _whisper_config(variables, scalars) if whisper else {}
        folder_config = _read_folder_config(self.path)
        if folder_config is not None:
            metadata["ctranslate2.config"] = folder_config
            config.update(_hf_generation_keys(folder_config))
        self.facts = SourceFacts(format="ctranslate2", metadata=metadata, config=config)

    def _expose(self, var: _Variable, scale: _Variable | None, whisper: bool) -> list[_Exposed]:
        targets = _whisper_targets(var.name) if whisper else None
        if targets is None:
            return [self._slice(var.name.replace("/", "."), var, 0, var.shape[0], scale)]
        rows = var.shape[0]
        if rows % len(targets):
            problem = f"{rows} rows of fused {var.name!r} do not split in {len(targets)}"
            problem = f"corrupt CTranslate2 file: {problem}"
            raise ModelFileError(self.path, problem)
        part = rows // len(targets)
        exposed = []
        for index, name in enumerate(targets):
            item = self._slice(name, var, index * part, (index + 1) * part, scale)
            if name.endswith("k_proj.bias") and len(targets) > 1 and not np.any(self._read_item(item)):
                continue  # the converter's zero padding, not a parameter
            exposed.append(item)
        return exposed

    def _slice(self, name: str, var: _Variable, start: int, stop: int, scale: _Variable | None) -> _Exposed:
        shape = (stop - start, *var.shape[1:])
        nbytes = (stop - start) * var.row_bytes
        dtype = var.dtype
        if scale is not None:
            dtype = f"{var.dtype}x{scale.dtype}"
            nbytes += scale.nbytes if not scale.shape else (stop - start) * scale.row_bytes
        info = TensorInfo(name=name, dtype=dtype, shape=shape, nbytes=nbytes)
        return _Exposed(info, var, start, stop, scale)

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def __enter__(self) -> Self:
        # Narrower than the base class, so ``with Reader(path) as source`` keeps reader-only methods.
        return self

    def stored_name(self, name: str) -> str:
        """The stored variable a tensor comes from (a fused one for split q/k/v)."""
        return self._item(name).var.name

    def raw(self, name: str) -> memoryview | bytes:
        item = self._item(name)
        view = memoryview(self._mm)
        var = item.var
        data = view[var.offset + item.start * var.row_bytes : var.offset + item.stop * var.row_bytes]
        if item.scale is None:
            return data
        scale = item.scale
        if scale.shape:
            first, last = item.start * scale.row_bytes, item.stop * scale.row_bytes
        else:
            first, last = 0, scale.nbytes
        scale_bytes = view[scale.offset + first : scale.offset + last]
        return bytes(data) + bytes(scale_bytes)

    def read(self, name: str) -> Float32Array:
        return self._read_item(self._item(name))

    def _read_item(self, item: _Exposed) -> Float32Array:
        values = _rows(self._mm, item.var, item.start, item.stop)
        if item.scale is not None:
            scale = (
                _rows(self._mm, item.scale, item.start, item.stop)
                if item.scale.shape
                else _rows(self._mm, item.scale, 0, 1)
            )
            # CTranslate2 stores q = round(w * scale), so w = q / scale, row by row.
            scale = scale.reshape((-1,) + (1,) * (values.ndim - 1))
            values /= scale
        return values

    def close(self) -> None:
        # A caller may still hold a raw() view; then the map goes when the last view does.
        with contextlib.suppress(BufferError):
            self._mm.close()

    def _item(self, name: str) -> _Exposed:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(name) from None


def _map_file(path: Path) -> mmap.mmap:
    try:
        with path.open("rb") as handle:
            if path.stat().st_size == 0:
                raise ModelFileError(path, "empty file, not a CTranslate2 model")
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ModelFileError(path, f"cannot open: {exc.strerror or exc}") from None


def _parse(mm: mmap.mmap, path: Path) -> tuple[str, int, dict[str, _Variable], dict[str, str]]:
    cur = _Cursor(mm, path)
    version = cur.scalar("<I", "version")
    if version != _VERSION:
        raise UnsupportedFormatError(
            path, f"CTranslate2 model.bin version {version} is not supported (only version {_VERSION})"
        )
    spec = cur.string("spec name")
    revision = cur.scalar("<I", "spec revision")
    count = cur.count("<I", "variable count", _VAR_MIN_BYTES)
    variables: dict[str, _Variable] = {}
    for index in range(count):
        var = _read_variable(cur, index)
        if var.name in variables:
            raise cur.fail(f"corrupt CTranslate2 file: variable {var.name!r} appears twice")
        variables[var.name] = var
    aliases: dict[str, str] = {}
    for index in range(cur.count("<I", "alias count", _ALIAS_MIN_BYTES)):
        alias, target = cur.string(f"alias {index}"), cur.string(f"target of alias {index}")
        if target not in variables:
            raise cur.fail(f"corrupt CTranslate2 file: alias {alias!r} points to unknown variable {target!r}")
        aliases[alias] = target
    return spec, revision, variables, aliases


def _read_variable(cur: _Cursor, index: int) -> _Variable:
    name = cur.string(f"name of variable {index}")
    rank = cur.scalar("<B", f"rank of {name!r}")
    if rank > MAX_DIMS:
        raise cur.fail(f"corrupt CTranslate2 file: variable {name!r} has rank {rank}, max {MAX_DIMS}")
    shape = tuple(int(d) for d in cur.unpack(f"<{rank}I", f"dimensions of {name!r}"))
    code = cur.scalar("<B", f"dtype of {name!r}")
    if code not in _DTYPES:
        raise UnsupportedFormatError(cur.path, f"CTranslate2 variable {name!r} has unknown dtype code {code}")
    dtype, np_dtype = _DTYPES[code]
    nbytes = cur.scalar("<I", f"byte count of {name!r}")
    expected = math.prod(shape) * np.dtype(np_dtype).itemsize
    if nbytes != expected:
        raise cur.fail(
            f"corrupt CTranslate2 file: {dtype} variable {name!r} of shape {list(shape)} has {nbytes} bytes, "
            f"expected {expected}"
        )
    offset = cur.skip(nbytes, f"data of {name!r}")
    if not shape and nbytes > MAX_HEADER_BYTES:
        raise cur.fail(f"corrupt CTranslate2 file: scalar {name!r} is {nbytes} bytes")
    return _Variable(name=name, dtype=dtype, shape=shape, offset=offset, nbytes=nbytes)


def _rows(mm: mmap.mmap, var: _Variable, start: int, stop: int) -> Float32Array:
    """Rows ``[start, stop)`` of a stored variable, widened to float32 (a fresh array, not a view)."""
    np_dtype = np.dtype(_DTYPES_BY_NAME[var.dtype])
    per_row = math.prod(var.shape[1:]) if var.shape else 1
    offset = var.offset + start * per_row * np_dtype.itemsize
    stored = np.frombuffer(mm, dtype=np_dtype, count=(stop - start) * per_row, offset=offset)
    values = bf16_to_f32(stored.view(np.uint16)) if var.dtype == "BF16" else stored.astype(np.float32)
    return values.reshape((stop - start, *var.shape[1:]) if var.shape else ())


def _scalar_value(mm: mmap.mmap, var: _Variable) -> int | float:
    value = np.frombuffer(mm, dtype=_DTYPES_BY_NAME[var.dtype], count=1, offset=var.offset)
    if var.dtype == "BF16":
        return float(bf16_to_f32(value.view(np.uint16))[0])
    item = value[0].item()
    return float(item) if var.dtype in _FLOAT_DTYPES else int(item)


def _pair_scales(path: Path, variables: dict[str, _Variable]) -> dict[str, str]:
    """Map each quantised weight to its ``<name>_scale`` variable, checking the scale fits the weight."""
    pairs: dict[str, str] = {}
    for name, var in variables.items():
        scale = variables.get(f"{name}_scale")
        if scale is None or not var.shape or var.dtype not in ("I8", "I16"):
            continue
        if scale.dtype not in _FLOAT_DTYPES or math.prod(scale.shape) not in (1, var.shape[0]):
            problem = f"scale {scale.name!r} {list(scale.shape)} does not fit {name!r}"
            problem = f"corrupt CTranslate2 file: {problem}"
            raise ModelFileError(path, problem)
        pairs[name] = scale.name
    return pairs


def _scale_of(var: _Variable, variables: dict[str, _Variable], scales: dict[str, str]) -> _Variable | None:
    scale_name = scales.get(var.name)
    if scale_name is None:
        return None
    scale = variables[scale_name]
    if math.prod(scale.shape) == var.shape[0] and scale.shape and scale.shape[0] != var.shape[0]:
        # A [1, rows] scale is still one per row; give it the rows as its first dimension for slicing.
        return _Variable(scale.name, scale.dtype, (var.shape[0],), scale.offset, scale.nbytes)
    return scale


# ---- Whisper names ------------------------------------------------------------------------------------

_LAYER = re.compile(
    r"(encoder|decoder)/layer_(\d{1,6})/(self_attention|attention|ffn)/(\w+)/(weight|bias|gamma|beta)"
)
_LEAF = {"weight": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}
# (block, module) -> HF module name(s) under ``layers.{i}``; several names mean a fused variable.
_LAYER_MODULES: dict[tuple[str, str], tuple[str, ...]] = {
    ("self_attention", "layer_norm"): ("self_attn_layer_norm",),
    ("self_attention", "linear_0"): ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    ("self_attention", "linear_1"): ("self_attn.out_proj",),
    ("attention", "layer_norm"): ("encoder_attn_layer_norm",),
    ("attention", "linear_0"): ("encoder_attn.q_proj",),
    ("attention", "linear_1"): ("encoder_attn.k_proj", "encoder_attn.v_proj"),
    ("attention", "linear_2"): ("encoder_attn.out_proj",),
    ("ffn", "layer_norm"): ("final_layer_norm",),
    ("ffn", "linear_0"): ("fc1",),
    ("ffn", "linear_1"): ("fc2",),
}
_TOP_LEVEL = {
    "encoder/conv1/weight": "model.encoder.conv1.weight",
    "encoder/conv1/bias": "model.encoder.conv1.bias",
    "encoder/conv2/weight": "model.encoder.conv2.weight",
    "encoder/conv2/bias": "model.encoder.conv2.bias",
    "encoder/position_encodings/encodings": "model.encoder.embed_positions.weight",
    "encoder/layer_norm/gamma": "model.encoder.layer_norm.weight",
    "encoder/layer_norm/beta": "model.encoder.layer_norm.bias",
    "decoder/embeddings/weight": "model.decoder.embed_tokens.weight",
    "decoder/position_encodings/encodings": "model.decoder.embed_positions.weight",
    "decoder/layer_norm/gamma": "model.decoder.layer_norm.weight",
    "decoder/layer_norm/beta": "model.decoder.layer_norm.bias",
    "decoder/projection/weight": "proj_out.weight",
}


def _whisper_targets(name: str) -> tuple[str, ...] | None:
    """The Hugging Face name(s) of a stored Whisper variable, or None to keep the stored name."""
    if name in _TOP_LEVEL:
        return (_TOP_LEVEL[name],)
    match = _LAYER.fullmatch(name)
    if match is None:
        return None
    side, layer, block, module, leaf = match.groups()
    hf_modules = _LAYER_MODULES.get((block, module))
    if hf_modules is None or (side == "encoder" and block == "attention"):
        return None
    return tuple(f"model.{side}.layers.{int(layer)}.{hf}.{_LEAF[leaf]}" for hf in hf_modules)


def _dotted(name: str, whisper: bool) -> str:
    targets = _whisper_targets(name) if whisper else None
    if targets is not None and len(targets) == 1:
        return targets[0]
    return name.replace("/", ".")


def _whisper_config(variables: dict[str, _Variable], scalars: dict[str, int | float]) -> dict[str, Any]:
    """A Hugging Face WhisperConfig subset, from the shapes (never trusting a single number alone)."""

    def shape(name: str) -> tuple[int, ...] | None:
        var = variables.get(name)
        return var.shape if var is not None else None

    def count_layers(side: str) -> int:
        pattern = re.compile(rf"{side}/layer_(\d+)/")
        found = {int(m.group(1)) for name in variables if (m := pattern.match(name))}
        return max(found) + 1 if found else 0

    config: dict[str, Any] = {
        "model_type": "whisper",
        "encoder_layers": count_layers("encoder"),
        "decoder_layers": count_layers("decoder"),
    }
    optional = {
        "d_model": ("encoder/conv1/weight", 0),
        "num_mel_bins": ("encoder/conv1/weight", 1),
        "max_source_positions": ("encoder/position_encodings/encodings", 0),
        "max_target_positions": ("decoder/position_encodings/encodings", 0),
        "vocab_size": ("decoder/embeddings/weight", 0),
        "encoder_ffn_dim": ("encoder/layer_0/ffn/linear_0/weight", 0),
        "decoder_ffn_dim": ("decoder/layer_0/ffn/linear_0/weight", 0),
    }
    for key, (name, axis) in optional.items():
        dims = shape(name)
        if dims is not None and len(dims) > axis:
            config[key] = dims[axis]
    for side in ("encoder", "decoder"):
        if f"{side}/num_heads" in scalars:
            config[f"{side}_attention_heads"] = int(scalars[f"{side}/num_heads"])
    activation = scalars.get("decoder/activation")
    if isinstance(activation, int) and activation in _ACTIVATIONS:
        config["activation_function"] = _ACTIVATIONS[activation]
    if "decoder/scale_embeddings" in scalars:
        config["scale_embedding"] = bool(scalars["decoder/scale_embeddings"])
    return config


def _read_folder_config(model_path: Path) -> dict[str, Any] | None:
    """The converter's ``config.json`` next to ``model.bin`` (generation settings), if there is one."""
    path = model_path.parent / "config.json"
    try:
        if not path.is_file():
            return None
        if path.stat().st_size > _MAX_CONFIG_BYTES:
            raise ModelFileError(path, f"config.json is larger than {_MAX_CONFIG_BYTES} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"unreadable config.json: {exc}") from None
    if not isinstance(data, dict):
        raise ModelFileError(path, "config.json is not a JSON object")
    return data


def _hf_generation_keys(config: dict[str, Any]) -> dict[str, Any]:
    """CTranslate2's Whisper config keys under the names Hugging Face uses for the same lists."""
    renames = {
        "suppress_ids": "suppress_tokens",
        "suppress_ids_begin": "begin_suppress_tokens",
        "alignment_heads": "alignment_heads",
        "lang_ids": "lang_ids",
    }
    return {hf: config[ct2] for ct2, hf in renames.items() if ct2 in config}
