"""Checkpoint hashing: the per-tensor Merkle root and the OpenSSF model_signing (OMS) file manifest.

Two digests name a checkpoint, for two audiences. The *tensor root* is the foundation's content digest
(:func:`modeltrace.weights.digest.content_digest`): a Merkle tree over {name, dtype, shape, sha256} of
every stored tensor sorted by name, independent of file layout, so a re-sharded or re-headered copy of
the same weights has the same root. The *OMS root* is what ``model_signing`` puts in its in-toto
subject for the same folder (``ossf/model-signing-spec``, serialization ``files``, sha256): SHA-256 over
the concatenated per-file digests, files ordered by their relative POSIX path compared component by
component (``pathlib.PurePosixPath`` order), ``.git``, ``.gitattributes``, ``.github`` and
``.gitignore`` ignored, symbolic links refused. Released bytes can then be checked with either tool.

Both digests need every tensor byte through SHA-256, so a checkpoint costs two hash passes where plain
``sha256sum`` costs one; the second pass is run on another core. For a safetensors file (almost every
checkpoint today) the file's SHA-256 and the per-tensor SHA-256s are separate tasks on a thread pool,
each reading the page-cached file into its own reused 1 MiB buffer (``readinto``: no allocation or
page faults per chunk) and hashing it; ``hashlib`` and the reads release the GIL, so with two threads
the wall time is about one pass, as fast as plain single-threaded ``sha256``. Both tasks of a file run
together, so on a cold cache the second reader finds the pages the first one just read. With one
thread, one read of each chunk feeds both. The tensor ranges come from the foundation's own header
parser, and the result is used only if the tensors found this way are exactly the tensors
:func:`modeltrace.weights.open_model` reports (names, dtypes, shapes, sizes); otherwise — other
formats, extra files — the foundation's :func:`tensor_digests` hashes the tensors. A file that changes
size while it is hashed is an error, not a digest of whatever was read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modeltrace.errors import ModelFileError
from modeltrace.merkle import MerkleAccumulator
from modeltrace.weights import open_model
from modeltrace.weights.digest import TensorDigest, tensor_digests
from modeltrace.weights.safetensors_reader import parse_header

OMS_IGNORED = (".git", ".gitattributes", ".github", ".gitignore")
OMS_PREDICATE_TYPE = "https://model_signing/signature/v1.0"
CHUNK = 1 << 20  # small enough to stay in cache from the read that writes it to the hash that reads it
_HEAD = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    path: str  # relative, POSIX
    size: int
    sha256: str


@dataclass(frozen=True)
class ModelDigest:
    """What a ``checkpoint`` entry records about a model folder (or single file)."""

    name: str
    tensor_root: str
    tensors: tuple[TensorDigest, ...]
    files: tuple[FileDigest, ...]
    oms_root: str
    format: str

    @property
    def bytes(self) -> int:
        return sum(item.size for item in self.files)


def _path_order(path: str) -> tuple[str, ...]:
    # PurePosixPath compares its parts, so "a/b" sorts before "a-b/x" although '-' < '/'.
    return PurePosixPath(path).parts


def oms_root(files: list[FileDigest]) -> str:
    """SHA-256 over the raw per-file digests in path order: model_signing's subject digest."""
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: _path_order(f.path)):
        digest.update(bytes.fromhex(item.sha256))
    return digest.hexdigest()


def model_files(root: Path, ignored: tuple[str, ...] = OMS_IGNORED) -> list[tuple[str, Path]]:
    """Regular files under ``root`` as (relative POSIX path, path), in OMS order; symlinks refused."""
    info = os.lstat(root)
    if stat.S_ISLNK(info.st_mode):
        raise ModelFileError(root, "is a symbolic link; model hashing refuses symlinks")
    if stat.S_ISREG(info.st_mode):
        return [(root.name, root)]
    found: list[tuple[str, Path]] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as listing:
            for item in listing:
                relative = f"{prefix}{item.name}"
                if relative in ignored:
                    continue
                if item.is_symlink():
                    raise ModelFileError(
                        Path(item.path), "is a symbolic link; model hashing refuses symlinks"
                    )
                if item.is_dir(follow_symlinks=False):
                    walk(Path(item.path), relative + "/")
                elif item.is_file(follow_symlinks=False):
                    found.append((relative, Path(item.path)))
                else:
                    raise ModelFileError(Path(item.path), "is not a regular file or folder")

    walk(root, "")
    if not found:
        raise ModelFileError(root, "contains no regular files to hash")
    return sorted(found, key=lambda pair: _path_order(pair[0]))


def _pieces(path: Path, start: int = 0, end: int | None = None) -> Iterator[memoryview]:
    """Bytes ``[start, end)`` of ``path`` (to EOF when ``end`` is None) as views of one reused buffer.

    Each view is valid only until the next one is produced.
    """
    buffer = memoryview(bytearray(CHUNK))
    with path.open("rb", buffering=0) as handle:
        if start:
            handle.seek(start)
        position = start
        while end is None or position < end:
            count = handle.readinto(buffer if end is None else buffer[: min(CHUNK, end - position)])
            if not count:
                return
            yield buffer[:count]
            position += count


def _sha256_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for piece in _pieces(path):
        digest.update(piece)
        size += len(piece)
    return size, digest.hexdigest()


@dataclass
class _Range:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int
    digest: hashlib._Hash


def _safetensors_ranges(path: Path, size: int) -> list[_Range]:
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
        if len(head) >= 8:
            length = int.from_bytes(head[:8], "little")
            if _HEAD < 8 + length <= size:
                head += handle.read(8 + length - len(head))
    header, data_start = parse_header(path, head, size)
    ranges: list[_Range] = []
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        begin, end = spec["data_offsets"]
        shape = tuple(int(d) for d in spec["shape"])
        ranges.append(
            _Range(name, str(spec["dtype"]), shape, data_start + begin, data_start + end, hashlib.sha256())
        )
    return sorted(ranges, key=lambda item: item.begin)


def _feed(path: Path, ranges: list[_Range], whole: hashlib._Hash | None) -> int:
    """One read of ``path`` feeding each range's hasher its bytes (and ``whole`` every byte, if given).

    Without ``whole`` only the span of ``ranges`` is read. Returns the bytes read; a file shorter than
    its tensors claim is an error.
    """
    if whole is None and not ranges:
        return 0
    start, end = (0, None) if whole is not None else (ranges[0].begin, max(r.end for r in ranges))
    position, first = start, 0
    for piece in _pieces(path, start, end):
        if whole is not None:
            whole.update(piece)
        stop = position + len(piece)
        while first < len(ranges) and ranges[first].end <= position:
            first += 1
        current = first
        while current < len(ranges) and ranges[current].begin < stop:
            item = ranges[current]
            low, high = max(item.begin, position), min(item.end, stop)
            if low < high:
                item.digest.update(piece[low - position : high - position])
            current += 1
        position = stop
    if ranges and position < max(r.end for r in ranges):
        raise ModelFileError(path, "is shorter than its tensors (changed while it was being hashed?)")
    return position - start


def _split(ranges: list[_Range], parts: int) -> list[list[_Range]]:
    """Consecutive groups of about equal bytes, one hashing task each (a tensor is never split)."""
    total = sum(r.end - r.begin for r in ranges)
    groups: list[list[_Range]] = [[]]
    filled = 0
    for item in ranges:
        if groups[-1] and len(groups) < parts and filled >= total * len(groups) / parts:
            groups.append([])
        groups[-1].append(item)
        filled += item.end - item.begin
    return groups


def _safetensors_file(path: Path) -> tuple[int, list[_Range]]:
    size = path.stat().st_size
    try:
        return size, _safetensors_ranges(path, size)
    except (ModelFileError, KeyError, TypeError, ValueError):
        # Not a file the fast path understands; the foundation's reader judges it below.
        return size, []


def _hash_files(listing: list[tuple[str, Path]], threads: int) -> tuple[list[FileDigest], list[_Range]]:
    """Per-file digests in ``listing`` order, and the tensor ranges of the safetensors files, hashed."""
    files: list[FileDigest] = []
    fast: list[_Range] = []
    if threads <= 1:
        for relative, path in listing:
            expected, ranges = _safetensors_file(path) if relative.endswith(".safetensors") else (-1, [])
            whole = hashlib.sha256()
            size = _feed(path, ranges, whole)
            if expected >= 0 and size != expected:
                raise ModelFileError(path, "changed size while it was being hashed")
            files.append(FileDigest(relative, size, whole.hexdigest()))
            fast.extend(ranges)
        return files, fast
    with ThreadPoolExecutor(max_workers=threads) as pool:
        # A file's tasks are queued together, so they run side by side over the same pages.
        tasks = []
        for relative, path in listing:
            expected, ranges = _safetensors_file(path) if relative.endswith(".safetensors") else (-1, [])
            file_task = pool.submit(_sha256_file, path)
            parts = [pool.submit(_feed, path, group, None) for group in _split(ranges, threads - 1)]
            tasks.append((relative, path, expected, file_task, parts))
            fast.extend(ranges)
        for relative, path, expected, file_task, parts in tasks:
            size, hexdigest = file_task.result()
            for part in parts:
                part.result()
            if expected >= 0 and size != expected:
                raise ModelFileError(path, "changed size while it was being hashed")
            files.append(FileDigest(relative, size, hexdigest))
    return files, fast


def hash_model(path: str | Path, *, threads: int = 2) -> ModelDigest:
    """Hash a model folder or file: per-tensor Merkle root, per-file digests and the OMS root."""
    root = Path(path)
    if not root.exists():
        raise ModelFileError(root, "does not exist")
    files, fast = _hash_files(model_files(root), max(1, threads))
    model = open_model(root)
    try:
        infos = {(i.name, i.dtype, i.shape, i.nbytes) for i in model.source.infos()}
        found = {(r.name, r.dtype, r.shape, r.end - r.begin) for r in fast}
        if fast and infos == found and len(fast) == len(infos):
            tensors = tuple(
                TensorDigest(r.name, r.dtype, r.shape, r.digest.hexdigest())
                for r in sorted(fast, key=lambda r: r.name)
            )
        else:
            tensors = tuple(tensor_digests(model.source, threads))
        model_format = model.format
    finally:
        model.source.close()
    accumulator = MerkleAccumulator()
    for item in tensors:
        accumulator.add(item.leaf())
    name = root.name if root.is_dir() else root.stem
    return ModelDigest(name, accumulator.root().hex(), tensors, tuple(files), oms_root(files), model_format)


def oms_manifest(digest: ModelDigest) -> dict[str, object]:
    """The in-toto Statement v1 that ``model_signing`` signs for this folder (files serialization)."""
    ordered = sorted(digest.files, key=lambda f: _path_order(f.path))
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": digest.name, "digest": {"sha256": digest.oms_root}}],
        "predicateType": OMS_PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": sorted(OMS_IGNORED),
            },
            "resources": [{"name": f.path, "algorithm": "sha256", "digest": f.sha256} for f in ordered],
        },
    }
