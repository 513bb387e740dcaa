"""Checkpoint hashing: the foundation's per-tensor root and the OpenSSF model_signing file manifest."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

import numpy as np
import pytest

from modeltrace.errors import ModelFileError
from modeltrace.ledger import model_hash
from modeltrace.ledger.model_hash import hash_model, oms_manifest
from modeltrace.weights import open_model
from modeltrace.weights.digest import content_digest
from tests.ledger.logkit import tiny_model, write_safetensors


def independent_oms_root(folder: Path) -> str:
    """model_signing's subject digest, recomputed here without the code under test."""
    ignored = {".git", ".gitattributes", ".github", ".gitignore"}
    files = []
    for path in folder.rglob("*"):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        if path.is_file() and not ignored & set(relative.parts):
            files.append((relative, hashlib.sha256(path.read_bytes()).digest()))
    return hashlib.sha256(b"".join(digest for _, digest in sorted(files))).hexdigest()


def foundation_root(folder: Path) -> str:
    model = open_model(folder)
    try:
        return content_digest(model.source)
    finally:
        model.source.close()


def test_tiny_folder_roots_match_the_foundation_and_model_signing(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "m")
    (folder / ".git").mkdir()
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    digest = hash_model(folder)
    assert digest.tensor_root == foundation_root(folder)
    assert digest.oms_root == independent_oms_root(folder)
    assert [f.path for f in digest.files] == [
        "config.json",
        "extra/notes.txt",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
    ]
    assert len(digest.tensors) == 4 and digest.format == "safetensors"
    manifest = oms_manifest(digest)
    assert manifest["subject"] == [{"name": "m", "digest": {"sha256": digest.oms_root}}]
    resources = manifest["predicate"]["resources"]  # type: ignore[index]
    assert [r["name"] for r in resources] == [f.path for f in digest.files]


def test_fast_path_equals_the_foundations_tensor_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tiny_model(tmp_path / "m")
    fast = hash_model(folder)
    calls: list[int] = []
    original = model_hash.tensor_digests

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model_hash, "tensor_digests", counted)
    hash_model(folder)
    assert not calls  # the single-pass path was taken for an all-safetensors folder
    monkeypatch.setattr(model_hash, "_safetensors_ranges", lambda *a: (_ for _ in ()).throw(ValueError("no")))
    slow = hash_model(folder)
    assert calls and slow.tensors == fast.tensors and slow.tensor_root == fast.tensor_root


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_every_thread_count_gives_the_same_digests(tmp_path: Path, threads: int) -> None:
    # One thread feeds both hashers from one read; more split the file digest and tensor groups into
    # separate tasks. The digests must not depend on it.
    folder = tiny_model(tmp_path / "m")
    write_safetensors(
        folder / "model-00001-of-00002.safetensors",
        {f"t{i:02d}": np.full(7 + 300 * i, i, dtype=np.float32) for i in range(12)}
        | {"empty": np.zeros(0, dtype=np.float32)},
    )
    (folder / "model.safetensors.index.json").unlink()  # the shards no longer match an index
    expected = hash_model(folder, threads=2)
    assert hash_model(folder, threads=threads) == expected
    assert expected.tensor_root == foundation_root(folder)
    assert expected.oms_root == independent_oms_root(folder)


def test_path_order_is_by_component_not_by_string(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    (folder / "a").mkdir(parents=True)
    write_safetensors(folder / "model.safetensors", {"w": np.ones(3, dtype=np.float32)})
    (folder / "a" / "b.txt").write_text("b")
    (folder / "a-b").mkdir()
    (folder / "a-b" / "x.txt").write_text("x")
    files = [name for name, _ in model_hash.model_files(folder)]
    assert files == ["a/b.txt", "a-b/x.txt", "model.safetensors"]
    assert sorted(files) == ["a-b/x.txt", "a/b.txt", "model.safetensors"]  # as strings '-' < '/'
    assert hash_model(folder).oms_root == independent_oms_root(folder)


def test_any_changed_byte_changes_the_roots(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "m")
    before = hash_model(folder)
    shard = folder / "model-00002-of-00002.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor
    shard.write_bytes(bytes(data))
    after = hash_model(folder)
    assert after.tensor_root != before.tensor_root and after.oms_root != before.oms_root
    (folder / "extra" / "notes.txt").write_text("changed\n")  # not a tensor: only the file manifest moves
    last = hash_model(folder)
    assert last.tensor_root == after.tensor_root and last.oms_root != after.oms_root


def test_symlinks_are_refused(tmp_path: Path) -> None:
    folder = tiny_model(tmp_path / "m")
    (folder / "link.json").symlink_to(folder / "config.json")
    with pytest.raises(ModelFileError, match="symbolic link"):
        hash_model(folder)


def test_single_file_model(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    write_safetensors(path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)})
    digest = hash_model(path)
    assert digest.tensor_root == foundation_root(path)
    assert [f.path for f in digest.files] == ["model.safetensors"]
    assert digest.oms_root == hashlib.sha256(hashlib.sha256(path.read_bytes()).digest()).hexdigest()


@pytest.mark.real_model
def test_minilm6_from_the_zoo() -> None:
    from modeltrace.zoo import fetch

    folder = fetch("minilm6")
    digest = hash_model(folder)
    assert digest.tensor_root == foundation_root(folder)
    assert digest.oms_root == independent_oms_root(folder)
    assert len(digest.tensors) > 100 and digest.bytes > 90_000_000
