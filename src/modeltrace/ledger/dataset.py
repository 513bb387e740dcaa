"""Dataset manifests: per-file leaves {path commitment, size, sha256} under one Merkle root.

A file's leaf is ``JCS({"path": commitment(path salt, path), "sha256": …, "size": …})``; leaves are
ordered by path and hashed into an RFC 6962 tree. File names can be confidential (people's names,
customers, sources), so the log sees only the root and the counts. The per-file salts derive from one
random dataset secret (:func:`~modeltrace.ledger.commitments.path_salt`), kept with the file list in the
owner's evidence store: one file can be disclosed with its inclusion proof, and destroying the secret
shreds every path at once.

Input is a folder (walked without following symbolic links, which are refused; ignored names are
counted and kept as evidence) or a manifest file: JSON ``{"files": [{"path", "size", "sha256"}, …]}``
or JSON Lines of such objects.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modeltrace.ledger import jcs
from modeltrace.ledger.commitments import ItemTree, commitment, new_salt, path_salt
from modeltrace.ledger.errors import FormatError

DEFAULT_IGNORED = (".git", ".gitattributes", ".github", ".gitignore", ".DS_Store")
MAX_MANIFEST_BYTES = 1 << 30
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DatasetFile:
    path: str
    size: int
    sha256: str

    def leaf(self, secret: bytes) -> bytes:
        salt = path_salt(secret, self.path)
        return jcs.dumps(
            {"path": commitment(salt, self.path).hex(), "sha256": self.sha256, "size": self.size}
        )


@dataclass(frozen=True)
class DatasetFiles:
    """A dataset's files in path order, the ignored names, and the secret its path salts derive from."""

    files: tuple[DatasetFile, ...]
    ignored: tuple[str, ...]
    secret: bytes

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.files)

    def tree(self) -> ItemTree:
        return ItemTree([item.leaf(self.secret) for item in self.files])

    def evidence(self) -> bytes:
        """The off-log file list: what a later per-file disclosure needs."""
        return jcs.dumps(
            {
                "files": [[item.path, item.size, item.sha256] for item in self.files],
                "ignored": list(self.ignored),
                "secret": self.secret.hex(),
            }
        )

    @classmethod
    def from_evidence(cls, data: bytes) -> DatasetFiles:
        document = jcs.loads(data, max_bytes=MAX_MANIFEST_BYTES, what="dataset evidence")
        files = tuple(DatasetFile(str(p), int(s), str(h)) for p, s, h in document["files"])
        return cls(files, tuple(document["ignored"]), bytes.fromhex(document["secret"]))

    def position(self, path: str) -> int:
        for position, item in enumerate(self.files):
            if item.path == path:
                return position
        raise KeyError(path)


def _check_relative(path: str, where: str) -> str:
    if not isinstance(path, str) or not path or len(path) > 4096:
        raise FormatError(where, "file path must be a non-empty string")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or str(pure) != path or "\\" in path:
        raise FormatError(where, f"file path {path[:80]!r} is not a normalised relative POSIX path")
    if any(ord(char) < 0x20 for char in path):
        raise FormatError(where, f"file path {path[:80]!r} contains a control character")
    return path


def _sorted_unique(files: list[DatasetFile], where: str) -> tuple[DatasetFile, ...]:
    files.sort(key=lambda item: item.path)
    for previous, current in itertools.pairwise(files):
        if previous.path == current.path:
            raise FormatError(where, f"file {current.path[:80]!r} is listed twice")
    return tuple(files)


def _hash_file(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def scan_folder(root: Path, ignored: tuple[str, ...] = DEFAULT_IGNORED, threads: int = 2) -> DatasetFiles:
    """Hash every regular file under ``root``; symbolic links are refused, ignored names recorded."""
    found: list[tuple[str, Path]] = []
    skipped: list[str] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as listing:
            for item in sorted(listing, key=lambda entry: entry.name):
                relative = f"{prefix}{item.name}"
                if item.name in ignored:
                    skipped.append(relative)
                elif item.is_symlink():
                    raise FormatError(item.path, "is a symbolic link; dataset manifests refuse symlinks")
                elif item.is_dir(follow_symlinks=False):
                    walk(Path(item.path), relative + "/")
                elif item.is_file(follow_symlinks=False):
                    found.append((relative, Path(item.path)))
                else:
                    raise FormatError(item.path, "is not a regular file or folder")

    try:
        info = os.lstat(root)
    except OSError as error:
        raise FormatError(str(root), f"cannot read: {error.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise FormatError(str(root), "is not a folder")
    walk(root, "")
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        hashed = list(pool.map(lambda pair: _hash_file(pair[1]), found))
    files = [DatasetFile(rel, size, digest) for (rel, _), (size, digest) in zip(found, hashed, strict=True)]
    return DatasetFiles(_sorted_unique(files, str(root)), tuple(skipped), new_salt())


def _file_from_json(item: object, where: str) -> DatasetFile:
    if not isinstance(item, dict) or not {"path", "size", "sha256"} <= set(item):
        raise FormatError(where, "each file needs path, size and sha256")
    size, digest = item["size"], item["sha256"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise FormatError(where, f"size of {str(item['path'])[:60]!r} is not a non-negative integer")
    if not isinstance(digest, str) or _HEX64.fullmatch(digest.lower()) is None:
        raise FormatError(where, f"sha256 of {str(item['path'])[:60]!r} is not 64 hex digits")
    return DatasetFile(_check_relative(item["path"], where), size, digest.lower())


def read_manifest(path: Path) -> tuple[DatasetFiles, dict[str, object]]:
    """Files from a JSON or JSON Lines manifest, and any other top-level fields of a JSON one."""
    where = str(path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise FormatError(where, f"manifest is larger than {MAX_MANIFEST_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(where, f"cannot read manifest: {error}") from None
    extra: dict[str, object] = {}
    try:
        document = json.loads(text)
        items = document.get("files") if isinstance(document, dict) else None
        if not isinstance(items, list):
            raise FormatError(where, "a JSON manifest is an object with a 'files' list")
        extra = {k: v for k, v in document.items() if k != "files"}
    except json.JSONDecodeError:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(json.loads(line))
                except json.JSONDecodeError:
                    raise FormatError(where, f"line {number} is not JSON") from None
    files = [_file_from_json(item, f"{where}: file {number}") for number, item in enumerate(items)]
    if not files:
        raise FormatError(where, "manifest lists no files")
    return DatasetFiles(_sorted_unique(files, where), (), new_salt()), extra
