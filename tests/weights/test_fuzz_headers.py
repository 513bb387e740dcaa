"""Property-based fuzzing of the safetensors and GGUF header parsers (bounded number of examples).

Starting from valid files, hypothesis flips bytes, truncates, splices and overwrites length fields with
huge values; on any input the readers must either work (and every tensor must then read) or raise
:class:`ModelFileError` — never another exception, never a giant allocation.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import gguf
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save_file

from modeltrace.errors import ModelFileError
from modeltrace.weights.gguf_reader import GGUFSource
from modeltrace.weights.safetensors_reader import SafetensorsSource
from modeltrace.weights.source import TensorSource

FUZZ = settings(
    max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


def _valid_safetensors() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.safetensors"
        save_file(
            {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(3, np.float16)},
            str(path),
            metadata={"format": "pt"},
        )
        return path.read_bytes()


def _valid_gguf() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        writer = gguf.GGUFWriter(str(path), "llama")
        writer.add_block_count(1)
        writer.add_token_list(["a", "b", "c"])
        writer.add_tensor("blk.0.attn_q.weight", np.ones((2, 32), np.float32))
        writer.add_tensor(
            "blk.0.ffn_up.weight",
            gguf.quants.quantize(np.ones((2, 32), np.float32), gguf.GGMLQuantizationType.Q8_0),
            raw_dtype=gguf.GGMLQuantizationType.Q8_0,
        )
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path.read_bytes()


SAFETENSORS, GGUF = _valid_safetensors(), _valid_gguf()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "truncate", "splice", "big", "delete"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif action == "truncate":
            del data[pos:]
        elif action == "splice":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif action == "big" and len(data) >= pos + 8:
            data[pos : pos + 8] = struct.pack(
                "<Q", draw(st.sampled_from([1 << 31, 1 << 40, 1 << 62, 2**64 - 1]))
            )
        elif action == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 8))]
    return bytes(data)


def _exercise(path: Path, opener: type[TensorSource]) -> None:
    try:
        source = opener(path)  # type: ignore[call-arg]
    except ModelFileError:
        return
    try:
        for info in source.infos():
            try:
                source.read(info.name)
                source.raw(info.name)
            except ModelFileError:
                pass
    finally:
        source.close()


@FUZZ
@given(blob=st.one_of(mutated(SAFETENSORS), st.binary(max_size=512)))
def test_safetensors_parser_never_crashes(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.safetensors"
        path.write_bytes(blob)
        _exercise(path, SafetensorsSource)


@FUZZ
@given(blob=st.one_of(mutated(GGUF), st.binary(max_size=512).map(lambda b: b"GGUF" + b)))
def test_gguf_parser_never_crashes(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.gguf"
        path.write_bytes(blob)
        _exercise(path, GGUFSource)


def test_the_seeds_themselves_parse() -> None:
    """The mutation seeds are valid files: otherwise the fuzzing above would test nothing."""
    with tempfile.TemporaryDirectory() as tmp:
        for name, blob, opener in (
            ("a.safetensors", SAFETENSORS, SafetensorsSource),
            ("a.gguf", GGUF, GGUFSource),
        ):
            path = Path(tmp) / name
            path.write_bytes(blob)
            with opener(path) as source:  # type: ignore[abstract]
                assert len(source.infos()) == 2
