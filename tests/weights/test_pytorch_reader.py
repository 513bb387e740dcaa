"""Tests of the torch-free, pickle-safe PyTorch checkpoint reader.

Checkpoints come from two places: ``torch.save`` itself (skipped without torch), compared bitwise
with the tensors that were saved, and a small hand-rolled writer below that emits the same pickles
without torch, used for the hostile inputs.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from modeltrace.errors import ModelFileError, UnsafePickleError, UnsupportedFormatError
from modeltrace.weights import pytorch_reader
from modeltrace.weights.pytorch_reader import PyTorchSource
from modeltrace.weights.source import MAX_DIMS

# --------------------------------------------------------------------------------------------------
# A torch-free writer of torch-style checkpoints.


class _Global:
    """Pickles as ``GLOBAL module name`` without the pickler importing ``module``."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: object) -> object:  # pickle's save_reduce insists on a callable
        raise AssertionError("never called")


class _StorageStub:
    def __init__(self, key: str, type_name: str, numel: int) -> None:
        self.key, self.type_name, self.numel = key, type_name, numel


class _TensorStub:
    def __init__(self, storage: _StorageStub, offset: Any, shape: Any, stride: Any) -> None:
        self.storage, self.offset, self.shape, self.stride = storage, offset, shape, stride

    def __reduce__(self) -> tuple[object, ...]:
        args = (self.storage, self.offset, self.shape, self.stride, False, collections.OrderedDict())
        return (_Global("torch._utils", "_rebuild_tensor_v2"), args)


class _TorchlikePickler(pickle._Pickler):  # the pure-Python pickler lets us add a dispatch entry
    dispatch: ClassVar[dict[type, Callable[..., None]]] = dict(pickle._Pickler.dispatch)

    def __init__(self, file: io.BytesIO, legacy: bool) -> None:
        super().__init__(file, protocol=2)
        self._legacy = legacy

    def _save_global_stub(self, obj: _Global) -> None:
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    dispatch[_Global] = _save_global_stub

    def persistent_id(self, obj: object) -> object:
        if not isinstance(obj, _StorageStub):
            return None
        pid: tuple[object, ...] = ("storage", _Global("torch", obj.type_name), obj.key, "cpu", obj.numel)
        return (*pid, None) if self._legacy else pid


def _dumps(obj: object, legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    _TorchlikePickler(buf, legacy).dump(obj)
    return buf.getvalue()


def _write_zip(
    path: Path,
    obj: object,
    storages: Mapping[str, bytes],
    *,
    compress: bool = False,
    byteorder: bytes = b"little",
    pickle_bytes: bytes | None = None,
    extra: Mapping[str, bytes] | None = None,
) -> Path:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr("archive/data.pkl", _dumps(obj) if pickle_bytes is None else pickle_bytes)
        zf.writestr("archive/byteorder", byteorder)
        for key, data in storages.items():
            zf.writestr(f"archive/data/{key}", data)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


_ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "ByteStorage": 1}


def _write_legacy(
    path: Path, obj: object, storages: Mapping[str, bytes], item_type: str = "FloatStorage"
) -> Path:
    buf = io.BytesIO()
    sys_info = {
        "protocol_version": 1001,
        "little_endian": True,
        "type_sizes": {"short": 2, "int": 4, "long": 4},
    }
    for header in (pytorch_reader._LEGACY_MAGIC, 1001, sys_info):
        pickle.dump(header, buf, protocol=2)
    buf.write(_dumps(obj, legacy=True))
    pickle.dump(list(storages), buf, protocol=2)
    for data in storages.values():
        buf.write(struct.pack("<q", len(data) // _ITEMSIZE[item_type]))
        buf.write(data)
    path.write_bytes(buf.getvalue())
    return path


VALUES = np.arange(12, dtype=np.float32) * np.float32(1.5) - np.float32(4.0)


def _simple_checkpoint() -> tuple[object, dict[str, bytes]]:
    """A nested state dict over one 12-float storage: a matrix, its transpose and a row at an offset."""
    storage = _StorageStub("0", "FloatStorage", 12)
    state = {
        "w": _TensorStub(storage, 0, (3, 4), (4, 1)),
        "wt": _TensorStub(storage, 0, (4, 3), (1, 4)),
        "row": _TensorStub(storage, 4, (4,), (1,)),
    }
    root = {"model": state, "epoch": 7, "name": "run-1", "lrs": [0.1, 0.2], "b": b"bytes"}
    return root, {"0": VALUES.tobytes()}


def _write(kind: str, path: Path, obj: object, storages: Mapping[str, bytes]) -> Path:
    if kind == "legacy":
        return _write_legacy(path, obj, storages)
    return _write_zip(path, obj, storages, compress=kind == "zip-deflated")


@contextmanager
def _rejected(
    path: Path, error: type[ModelFileError] = ModelFileError, match: str | None = None
) -> Iterator[list[ModelFileError]]:
    """Expect opening (and reading) ``path`` to fail with ``error``: fast, one line, naming the file."""
    caught: list[ModelFileError] = []
    start = time.perf_counter()
    with pytest.raises(error, match=match) as info:
        yield caught
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"took {elapsed:.2f} s"
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    caught.append(info.value)


def _open_and_read_all(path: Path) -> None:
    with PyTorchSource(path) as source:
        for info in source.infos():
            source.read(info.name)
            source.raw(info.name)


# --------------------------------------------------------------------------------------------------
# Well-formed hand-built checkpoints (no torch).


@pytest.mark.parametrize("kind", ["zip", "zip-deflated", "legacy"])
def test_handbuilt_checkpoint_reads_without_torch(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
    root, storages = _simple_checkpoint()
    path = _write(kind, tmp_path / "model.bin", root, storages)
    matrix = VALUES.reshape(3, 4)
    with PyTorchSource(path) as source:
        assert source.facts.format == "pytorch"
        assert [i.name for i in source.infos()] == ["model.w", "model.wt", "model.row"]
        assert source.info("model.wt").shape == (4, 3)
        assert source.info("model.wt").dtype == "F32"
        assert source.info("model.row").nbytes == 16
        assert np.array_equal(source.read("model.w"), matrix)
        assert np.array_equal(source.read("model.wt"), matrix.T)
        assert np.array_equal(source.read("model.row"), matrix[1])
        assert source.read("model.wt").flags.c_contiguous
        assert bytes(source.raw("model.w")) == matrix.tobytes()
        assert bytes(source.raw("model.wt")) == np.ascontiguousarray(matrix.T).tobytes()
        assert bytes(source.raw("model.row")) == matrix[1].tobytes()
        with pytest.raises(KeyError):
            source.read("model.missing")


def test_big_endian_zip_is_byteswapped(tmp_path: Path) -> None:
    root, _ = _simple_checkpoint()
    path = _write_zip(tmp_path / "be.pt", root, {"0": VALUES.astype(">f4").tobytes()}, byteorder=b"big")
    with PyTorchSource(path) as source:
        assert np.array_equal(source.read("model.w"), VALUES.reshape(3, 4))
        assert bytes(source.raw("model.w")) == VALUES.tobytes()  # raw is little-endian


def test_tied_weights_and_cycles_are_fine(tmp_path: Path) -> None:
    storage = _StorageStub("0", "FloatStorage", 12)
    root: dict[str, object] = {
        "embed.weight": _TensorStub(storage, 0, (3, 4), (4, 1)),
        "lm_head.weight": _TensorStub(storage, 0, (3, 4), (4, 1)),
    }
    root["self"] = root  # a pickle may build cycles; walking them must terminate
    path = _write_zip(tmp_path / "tied.pt", root, {"0": VALUES.tobytes()})
    with PyTorchSource(path) as source:
        assert [i.name for i in source.infos()] == ["embed.weight", "lm_head.weight"]
        assert np.array_equal(source.read("embed.weight"), source.read("lm_head.weight"))


def test_half_and_int_storages(tmp_path: Path) -> None:
    half = np.array([0.5, -2.0, np.inf, 65504.0], dtype=np.float16)
    longs = np.array([-3, 0, 1 << 40], dtype=np.int64)
    root = {
        "h": _TensorStub(_StorageStub("h", "HalfStorage", 4), 0, (2, 2), (2, 1)),
        "i": _TensorStub(_StorageStub("i", "LongStorage", 3), 0, (3,), (1,)),
    }
    path = _write_zip(tmp_path / "mixed.pt", root, {"h": half.tobytes(), "i": longs.tobytes()})
    with PyTorchSource(path) as source:
        assert [i.dtype for i in source.infos()] == ["F16", "I64"]
        assert np.array_equal(source.read("h"), half.astype(np.float32).reshape(2, 2))
        assert np.array_equal(source.read("i"), longs.astype(np.float32))
        assert not source.info("i").is_float


# --------------------------------------------------------------------------------------------------
# Code execution attempts.


class _Payload:
    def __init__(self, func: Callable[..., object], *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, ...]:
        return (self.func, self.args)


def _payloads(marker: Path) -> list[tuple[_Payload, set[str]]]:
    return [
        (_Payload(os.system, f"touch {marker}"), {"posix.system", "os.system", "nt.system"}),
        (_Payload(eval, f"open({str(marker)!r}, 'w')"), {"builtins.eval"}),
        (_Payload(subprocess.Popen, ["touch", str(marker)]), {"subprocess.Popen"}),
    ]


@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_pickled_code_is_refused_and_never_runs(case: int, kind: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload, names = _payloads(marker)[case]
    root, storages = _simple_checkpoint()
    root["model"]["evil"] = payload  # type: ignore[index]  # hidden among real tensors
    path = _write(kind, tmp_path / "evil.pt", root, storages)
    with _rejected(path, UnsafePickleError) as caught:
        PyTorchSource(path)
    assert caught[0].global_name in names
    assert caught[0].global_name in str(caught[0])
    assert not marker.exists()


def test_plain_pickle_with_reduce_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Payload(os.system, f"touch {marker}"), protocol=2))
    with _rejected(path, UnsafePickleError):
        PyTorchSource(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "build_state",
    [
        b"}X\x07\x00\x00\x00__doc__K\x01s",  # BUILD with a dict: would land in a __dict__
        b"N}X\x0c\x00\x00\x00__defaults__K\x01\x85s\x86",  # BUILD with slot state: would be setattr
    ],
)
def test_build_cannot_mutate_the_stand_ins(build_state: bytes, tmp_path: Path) -> None:
    pickle_bytes = b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n" + build_state + b"b."
    path = _write_zip(tmp_path / "build.pt", None, {}, pickle_bytes=pickle_bytes)
    with _rejected(path, match="malformed"):
        PyTorchSource(path)
    # The shared stand-in is untouched, and the next file still reads.
    assert pytorch_reader._rebuild_tensor_v2.__defaults__ is None
    root, storages = _simple_checkpoint()
    good = _write_zip(tmp_path / "good.pt", root, storages)
    with PyTorchSource(good) as source:
        assert np.array_equal(source.read("model.w"), VALUES.reshape(3, 4))


# --------------------------------------------------------------------------------------------------
# Garbage, truncation, unsupported containers.


@pytest.mark.parametrize(
    "content",
    [b"", b"PK", b"hello world, not a checkpoint at all\n", np.random.default_rng(0).bytes(4096)],
    ids=["empty", "tiny", "text", "random"],
)
def test_garbage_is_rejected(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "junk.bin"
    path.write_bytes(content)
    with _rejected(path):
        PyTorchSource(path)


def test_missing_file(tmp_path: Path) -> None:
    with _rejected(tmp_path / "nope.bin", match="cannot open"):
        PyTorchSource(tmp_path / "nope.bin")


@pytest.mark.parametrize("kind", ["zip", "zip-deflated", "legacy"])
def test_every_truncation_is_rejected(kind: str, tmp_path: Path) -> None:
    root, storages = _simple_checkpoint()
    whole = _write(kind, tmp_path / "whole.pt", root, storages).read_bytes()
    path = tmp_path / "cut.pt"
    # Every 3rd cut point (each lands in a different field), and every one of the last bytes.
    for cut in sorted({*range(0, len(whole), 3), *range(len(whole) - 24, len(whole))}):
        path.write_bytes(whole[:cut])
        with _rejected(path):
            _open_and_read_all(path)


@pytest.mark.parametrize("kind", ["zip", "zip-deflated", "legacy"])
def test_corrupted_bytes_never_escape_as_other_errors(kind: str, tmp_path: Path) -> None:
    root, storages = _simple_checkpoint()
    whole = bytearray(_write(kind, tmp_path / "whole.pt", root, storages).read_bytes())
    rng = np.random.default_rng(1)
    path = tmp_path / "flipped.pt"
    rejected = 0
    for _ in range(300):
        data = bytearray(whole)
        for pos in rng.integers(0, len(data), size=3):
            data[pos] = int(rng.integers(0, 256))
        path.write_bytes(data)
        start = time.perf_counter()
        try:
            _open_and_read_all(path)
        except ModelFileError:
            rejected += 1
        assert time.perf_counter() - start < 1.0
    assert rejected > 0


def test_legacy_tar_format_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("sys_info", "pickle", "tensors", "storages"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"\0" * 4))
    with _rejected(path, UnsupportedFormatError, match="tar"):
        PyTorchSource(path)


def test_torchscript_archive_is_unsupported(tmp_path: Path) -> None:
    root, storages = _simple_checkpoint()
    extra = {"archive/constants.pkl": b"\x80\x02).", "archive/code/__torch__.py": b"pass"}
    path = _write_zip(tmp_path / "scripted.pt", root, storages, extra=extra)
    with _rejected(path, UnsupportedFormatError, match="TorchScript"):
        PyTorchSource(path)


# --------------------------------------------------------------------------------------------------
# Zip bombs and oversized pickles.


def _patch_central_size(data: bytes, member: str, size: int) -> bytes:
    """Rewrite the uncompressed size the central directory records for ``member``."""
    entry = data.index(b"PK\x01\x02")  # the first central directory entry
    while True:
        name_len = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46 : entry + 46 + name_len].decode() == member:
            return data[: entry + 24] + struct.pack("<I", size) + data[entry + 28 :]
        entry = data.index(b"PK\x01\x02", entry + 4)


def test_data_pkl_declaring_absurd_size_is_rejected(tmp_path: Path) -> None:
    root, storages = _simple_checkpoint()
    path = _write_zip(tmp_path / "bomb.pt", root, storages)
    path.write_bytes(_patch_central_size(path.read_bytes(), "archive/data.pkl", 0x7FFF0000))
    with _rejected(path, match="claims"):
        PyTorchSource(path)


def test_data_pkl_over_the_limit_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytorch_reader, "MAX_HEADER_BYTES", 1 << 20)
    path = _write_zip(tmp_path / "bomb.pt", None, {}, compress=True, pickle_bytes=bytes(8 << 20))
    assert path.stat().st_size < 100_000  # a real bomb: tiny on disk
    with _rejected(path, match="limit"):
        PyTorchSource(path)


def test_data_pkl_inflating_past_its_declared_size_is_rejected(tmp_path: Path) -> None:
    path = _write_zip(tmp_path / "bomb.pt", None, {}, compress=True, pickle_bytes=bytes(16 << 20))
    path.write_bytes(_patch_central_size(path.read_bytes(), "archive/data.pkl", 100))
    with _rejected(path):
        PyTorchSource(path)


def test_legacy_pickle_over_the_limit_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, storages = _simple_checkpoint()
    root["notes"] = "x" * 10_000  # type: ignore[index]
    path = _write_legacy(tmp_path / "big.pt", root, storages)
    monkeypatch.setattr(pytorch_reader, "MAX_HEADER_BYTES", 4096)
    with _rejected(path, match="larger than the limit"):
        PyTorchSource(path)


def test_memo_index_bomb_is_harmless(tmp_path: Path) -> None:
    # LONG_BINPUT 0xfffffff0: the C unpickler would allocate and zero a 32 GiB memo array.
    pickle_bytes = b"\x80\x02}r\xf0\xff\xff\xff."
    path = _write_zip(tmp_path / "memo.pt", None, {}, pickle_bytes=pickle_bytes)
    start = time.perf_counter()
    with PyTorchSource(path) as source:
        assert list(source.infos()) == []
    assert time.perf_counter() - start < 1.0


def _colliding_ints(count: int, after: bytes = b"") -> bytes:
    """Pickle opcodes pushing ``count`` distinct ints sharing one hash (k * (2**61 - 1)), each + ``after``."""
    ints = (pickle.dumps(k * ((1 << 61) - 1), protocol=2)[2:-1] for k in range(1, count + 1))
    return b"".join(op + after for op in ints)


@pytest.mark.parametrize(
    "pickle_bytes",
    [
        b"\x80\x02}(" + _colliding_ints(20_000, after=b"N") + b"u.",  # dict keys
        b"\x80\x02c__builtin__\nset\n](" + _colliding_ints(20_000) + b"e\x85R.",  # set members
        b"\x80\x02}p99999999999999999999999\n.",  # a memo index far past any real one
        b"\x80\x02}(X\x01\x00\x00\x00au.",  # a key without a value
    ],
    ids=["dict-keys", "set-members", "memo-index", "odd-setitems"],
)
def test_hash_collision_and_memo_attacks_are_rejected(pickle_bytes: bytes, tmp_path: Path) -> None:
    # Without the key checks the first two take minutes: every insert scans all earlier keys.
    path = _write_zip(tmp_path / "collide.pt", None, {}, pickle_bytes=pickle_bytes)
    with _rejected(path, match="malformed"):
        PyTorchSource(path)


def test_bytearray8_claiming_a_terabyte_is_rejected(tmp_path: Path) -> None:
    pickle_bytes = b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"."
    path = _write_zip(tmp_path / "bytearray.pt", None, {}, pickle_bytes=pickle_bytes)
    with _rejected(path, match="malformed"):
        PyTorchSource(path)


def test_deep_nesting_is_rejected(tmp_path: Path) -> None:
    root: object = {"w": _TensorStub(_StorageStub("0", "FloatStorage", 12), 0, (12,), (1,))}
    for _ in range(100):
        root = {"x": root}
    path = _write_zip(tmp_path / "deep.pt", root, {"0": VALUES.tobytes()})
    with _rejected(path, match="nested"):
        PyTorchSource(path)


# --------------------------------------------------------------------------------------------------
# Tensors pointing outside their storage, and other lies.


@pytest.mark.parametrize(
    ("offset", "shape", "stride", "match"),
    [
        (12, (1,), (1,), "reaches element 12"),  # offset at the end
        (0, (13,), (1,), "reaches element 12"),  # one element too many
        (0, (3, 4), (5, 1), "reaches element 13"),  # stride walks off the end
        (9, (2, 2), (1, 2), "reaches element 12"),  # offset plus strides
        (0, (-1,), (1,), "negative"),
        (0, (3,), (-1,), "negative"),
        (-1, (3,), (1,), "negative"),
        (0, (1,) * (MAX_DIMS + 1), (1,) * (MAX_DIMS + 1), "dimensions"),
        (0, (1 << 70,), (1,), "absurdly large"),
        (0, (3.0,), (1,), "not an integer"),
        (0, (True,), (1,), "not an integer"),
        (0, (3,), (1, 1), "strides"),
        (0, (1 << 40,), (0,), "shows"),  # a broadcast view of one element claiming a terabyte
        (0, [3], "abc", "not a tuple"),
    ],
)
def test_out_of_bounds_tensors_are_rejected(
    offset: Any, shape: Any, stride: Any, match: str, tmp_path: Path
) -> None:
    storage = _StorageStub("0", "FloatStorage", 12)
    root = {"ok": _TensorStub(storage, 0, (12,), (1,)), "bad": _TensorStub(storage, offset, shape, stride)}
    path = _write_zip(tmp_path / "oob.pt", root, {"0": VALUES.tobytes()})
    with _rejected(path, match=match):
        PyTorchSource(path)


def test_broadcast_view_within_the_cap_is_fine(tmp_path: Path) -> None:
    root = {"b": _TensorStub(_StorageStub("0", "FloatStorage", 12), 0, (5, 12), (0, 1))}
    path = _write_zip(tmp_path / "bcast.pt", root, {"0": VALUES.tobytes()})
    with PyTorchSource(path) as source:
        assert np.array_equal(source.read("b"), np.broadcast_to(VALUES, (5, 12)))


@pytest.mark.parametrize(
    ("storages", "numel", "match"),
    [
        ({"0": VALUES.tobytes()[:-4]}, 12, "holds 44 bytes but the pickle claims 48"),
        ({}, 12, "missing"),
        ({"0": VALUES.tobytes()}, -5, "negative"),
        ({"0": VALUES.tobytes()}, 1 << 80, "absurdly large"),
    ],
)
def test_storage_lies_are_rejected(
    storages: dict[str, bytes], numel: int, match: str, tmp_path: Path
) -> None:
    root = {"w": _TensorStub(_StorageStub("0", "FloatStorage", numel), 0, (2,), (1,))}
    path = _write_zip(tmp_path / "lie.pt", root, storages)
    with _rejected(path, match=match):
        PyTorchSource(path)


def test_legacy_element_count_mismatch_is_rejected(tmp_path: Path) -> None:
    root = {"w": _TensorStub(_StorageStub("0", "FloatStorage", 11), 0, (11,), (1,))}
    path = _write_legacy(tmp_path / "lie.pt", root, {"0": VALUES.tobytes()})  # writes a count of 12
    with _rejected(path, match="12 elements"):
        PyTorchSource(path)


def test_storage_declared_twice_with_different_sizes(tmp_path: Path) -> None:
    root = {
        "a": _TensorStub(_StorageStub("0", "FloatStorage", 12), 0, (12,), (1,)),
        "b": _TensorStub(_StorageStub("0", "FloatStorage", 6), 0, (6,), (1,)),
    }
    path = _write_zip(tmp_path / "twice.pt", root, {"0": VALUES.tobytes()})
    with _rejected(path, match="declared twice"):
        PyTorchSource(path)


def test_duplicate_flattened_names_are_rejected(tmp_path: Path) -> None:
    storage = _StorageStub("0", "FloatStorage", 12)
    root = {"a.b": _TensorStub(storage, 0, (1,), (1,)), "a": {"b": _TensorStub(storage, 1, (1,), (1,))}}
    path = _write_zip(tmp_path / "dup.pt", root, {"0": VALUES.tobytes()})
    with _rejected(path, match="same name"):
        PyTorchSource(path)


# --------------------------------------------------------------------------------------------------
# Real torch.save output, compared bitwise.


def _special_floats(rng: np.random.Generator, n: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    values = rng.standard_normal(n) * 3.0
    values[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30]
    return values


def _torch_state(torch: Any) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    base = torch.from_numpy(_special_floats(rng, 48).astype(np.float32)).reshape(6, 8)
    embed = torch.from_numpy(rng.standard_normal((5, 4)).astype(np.float32))
    linear = torch.nn.Linear(4, 3)
    state: dict[str, Any] = {
        "f32": base,
        "f16": base.to(torch.float16),
        "bf16": base.to(torch.bfloat16),
        "f64": torch.from_numpy(_special_floats(rng, 10)),
        "i64": torch.tensor([-(1 << 40), -1, 0, 7, 1 << 23], dtype=torch.int64),
        "i32": torch.tensor([-5, 0, 123456], dtype=torch.int32),
        "i16": torch.tensor([-300, 300], dtype=torch.int16),
        "i8": torch.tensor([-128, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "mask": torch.tensor([True, False, True]),
        "transposed": base.t(),
        "strided": base[1:, ::3],
        "row_view": base[2],
        "bf16_t": base.to(torch.bfloat16).t(),
        "broadcast": torch.arange(3.0).expand(4, 3),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "embed.weight": embed,
        "lm_head.weight": embed,  # tied: the same tensor under two names
        "embed_flat": embed.view(-1),  # tied: another view of its storage
        "param": torch.nn.Parameter(torch.ones(2, 2)),
        "linear": linear.state_dict(),  # OrderedDict carrying _metadata
    }
    tagged = torch.ones(3)
    tagged.note = "carries a Python attribute"  # pickled through _rebuild_from_type_v2
    state["tagged"] = tagged
    return state


def _flat(prefix: str, node: Any, torch: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, torch.Tensor):
        yield prefix, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _flat(f"{prefix}.{key}" if prefix else key, value, torch)


def _assert_bitwise(actual: np.ndarray[Any, Any], tensor: Any) -> None:
    expected = tensor.detach().float().numpy()
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    assert np.array_equal(actual.view(np.uint32), expected.view(np.uint32))


def _torch_save(torch: Any, obj: object, path: Path, kind: str) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=kind != "legacy")
    if kind == "zip-deflated":  # same archive, members recompressed: the non-mmap path
        with zipfile.ZipFile(path) as src:
            members = [(info.filename, src.read(info)) for info in src.infolist()]
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
            for name, data in members:
                dst.writestr(name, data)
    return path


@pytest.mark.parametrize("kind", ["zip", "zip-deflated", "legacy"])
def test_torch_checkpoints_read_bitwise(kind: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    state = _torch_state(torch)
    checkpoint = {"state_dict": state, "epoch": 3, "name": "run", "lrs": [0.1, 0.2], "cfg": {"depth": 2}}
    path = _torch_save(torch, checkpoint, tmp_path / "pytorch_model.bin", kind)
    expected = dict(_flat("", checkpoint, torch))
    with PyTorchSource(path) as source:
        assert [i.name for i in source.infos()] == list(expected)
        for name, tensor in expected.items():
            info = source.info(name)
            assert info.shape == tuple(tensor.shape), name
            assert info.nbytes == tensor.numel() * tensor.element_size(), name
            _assert_bitwise(source.read(name), tensor)
            stored = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            assert bytes(source.raw(name)) == stored, name
        dtypes = {i.name.removeprefix("state_dict."): i.dtype for i in source.infos()}
    assert dtypes["f32"] == "F32" and dtypes["f16"] == "F16" and dtypes["bf16"] == "BF16"
    assert dtypes["f64"] == "F64" and dtypes["i64"] == "I64" and dtypes["mask"] == "BOOL"
    assert dtypes["i8"] == "I8" and dtypes["u8"] == "U8"


@pytest.mark.parametrize("kind", ["zip", "legacy"])
def test_torch_v3_dtypes(kind: str, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    values = torch.tensor([0.0, -0.5, 1.25, 448.0, -3.0, 0.001])
    state = {
        "e4m3": values.to(torch.float8_e4m3fn),
        "e5m2": values.to(torch.float8_e5m2),
        "u16": torch.tensor([1, 2, 65535], dtype=torch.int32).to(torch.uint16),
        "c64": torch.ones(2, dtype=torch.complex64),
    }
    path = _torch_save(torch, state, tmp_path / "v3.pt", kind)
    with PyTorchSource(path) as source:
        assert [i.dtype for i in source.infos()] == ["F8_E4M3", "F8_E5M2", "U16", "C64"]
        for name in ("e4m3", "e5m2", "u16"):
            _assert_bitwise(source.read(name), state[name])
        assert bytes(source.raw("c64")) == state["c64"].view(torch.uint8).numpy().tobytes()
        with pytest.raises(UnsupportedFormatError, match="C64"):
            source.read("c64")


def test_torch_bare_tensor_and_module_state(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tensor = torch.randn(3, 2)
    path = tmp_path / "bare.pt"
    torch.save(tensor, path)
    with PyTorchSource(path) as source:
        assert [i.name for i in source.infos()] == ["tensor"]
        _assert_bitwise(source.read("tensor"), tensor)
    layer = torch.nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=32)
    path = tmp_path / "layer.pt"
    torch.save(layer.state_dict(), path)
    with PyTorchSource(path) as source:
        assert [i.name for i in source.infos()] == list(layer.state_dict())
        for name, value in layer.state_dict().items():
            _assert_bitwise(source.read(name), value)
