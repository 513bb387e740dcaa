"""Hostile checkpoints, built on demand: shared by the hostile-input tests and benchmarks/hostile_bench.py.

Each builder writes one malformed or malicious input into a folder and returns its path; ``CASES`` maps
a case name to its builder and a pattern the one-line error must match.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def _safetensors(tmp: Path) -> bytes:
    save_file({"a": np.ones((4, 4), np.float32), "b": np.zeros(8, np.float32)}, str(tmp / "ok.safetensors"))
    return (tmp / "ok.safetensors").read_bytes()


def _with_header(header: dict[str, object], data: bytes = b"\0" * 128) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


def truncated_safetensors(tmp: Path) -> Path:
    path = tmp / "model.safetensors"
    path.write_bytes(_safetensors(tmp)[:-40])
    return path


def huge_header_length(tmp: Path) -> Path:
    path = tmp / "model.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 60) + b"{}" + b"\0" * 64)
    return path


def overlapping_offsets(tmp: Path) -> Path:
    path = tmp / "model.safetensors"
    header = {
        "a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
        "b": {"dtype": "F32", "shape": [8], "data_offsets": [16, 48]},
    }
    path.write_bytes(_with_header(header))
    return path


def out_of_range_offsets(tmp: Path) -> Path:
    path = tmp / "model.safetensors"
    header = {"a": {"dtype": "F32", "shape": [1 << 28], "data_offsets": [0, 1 << 30]}}
    path.write_bytes(_with_header(header))
    return path


def gguf_absurd_tensor_count(tmp: Path) -> Path:
    path = tmp / "model.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, (1 << 63) - 1, 2) + b"\0" * 256)
    return path


def gguf_absurd_metadata_count(tmp: Path) -> Path:
    path = tmp / "model.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 40) + b"\0" * 256)
    return path


def gguf_absurd_array(tmp: Path) -> Path:
    path = tmp / "model.gguf"
    key = b"tokenizer.ggml.tokens"
    body = struct.pack("<Q", len(key)) + key + struct.pack("<IIQ", 9, 8, 1 << 61)
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + body + b"\0" * 256)
    return path


class _RunsShell:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch PWNED_BY_PICKLE",))


def pickle_with_os_system(tmp: Path) -> Path:
    path = tmp / "pytorch_model.bin"
    payload = pickle.dumps({"weight": _RunsShell()}, protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
        archive.writestr("archive/version", "3\n")
    path.write_bytes(buffer.getvalue())
    return path


def zip_bomb_bin(tmp: Path) -> Path:
    """A .bin whose data.pkl inflates to 1 GiB of zeros from about a megabyte."""
    path = tmp / "pytorch_model.bin"
    chunk = b"\0" * (64 * 1024 * 1024)
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open("archive/data.pkl", "w", force_zip64=True) as member,
    ):
        for _ in range(16):
            member.write(chunk)
    return path


def folder_without_weights(tmp: Path) -> Path:
    folder = tmp / "empty-model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "llama"}')
    (folder / "README.md").write_text("no weights here")
    return folder


def garbage_file(tmp: Path) -> Path:
    path = tmp / "model.bin"
    path.write_bytes(bytes(range(256)) * 64)
    return path


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "truncated-safetensors": (truncated_safetensors, "past the end|outside the data region|truncated"),
    "header-length-2^60": (huge_header_length, "header claims"),
    "overlapping-offsets": (overlapping_offsets, "overlap"),
    "out-of-range-offsets": (out_of_range_offsets, "outside the data region"),
    "gguf-tensor-count": (gguf_absurd_tensor_count, "tensors"),
    "gguf-metadata-count": (gguf_absurd_metadata_count, "metadata"),
    "gguf-array-count": (gguf_absurd_array, "elements"),
    "pickle-os-system": (pickle_with_os_system, "system"),
    "zip-bomb-bin": (zip_bomb_bin, "size|bytes|limit|large"),
    "no-weights": (folder_without_weights, "no model weights"),
    "garbage": (garbage_file, "not|unsupported|cannot|invalid"),
}
