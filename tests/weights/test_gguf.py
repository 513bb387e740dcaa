"""GGUF: our bounded parser against the reference parser, every quant type, and the HF round trip."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import gguf
import numpy as np
import pytest

from modeltrace import ModelFileError, open_model
from modeltrace.weights.gguf_reader import GGUFSource
from tests.weights import synth

Q = gguf.GGMLQuantizationType


@pytest.mark.real_model
@pytest.mark.parametrize("model_id", ["smollm2", "gemma3"])
def test_tensors_match_the_reference_reader(model_id: str, zoo_file: Callable[[str], Path]) -> None:
    """Every tensor's name, type, shape and stored bytes agree with ``gguf.GGUFReader``; values agree
    for the first tensors of each storage type (all types of the file) and SmolLM2's token embedding."""
    path = zoo_file(model_id)
    reference = gguf.GGUFReader(str(path))
    seen: dict[str, int] = {}
    with GGUFSource(path) as source:
        assert [i.name for i in source.infos()] == [t.name for t in reference.tensors]
        for tensor in reference.tensors:
            info = source.info(tensor.name)
            assert info.dtype == tensor.tensor_type.name
            assert info.shape == tuple(int(d) for d in reversed(tensor.shape))
            assert source.raw(tensor.name) == tensor.data.tobytes()
            if info.numel > 40_000_000:
                continue  # the 262k-row Gemma embedding: bytes checked above, values in test_zoo_models
            seen[info.dtype] = seen.get(info.dtype, 0) + 1
            if seen[info.dtype] <= 2 or tensor.name == "token_embd.weight":
                expected = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(info.shape)
                np.testing.assert_array_equal(source.read(tensor.name), expected, err_msg=tensor.name)
    assert len(seen) >= 3


# Every type gguf.quants can dequantise; row lengths a multiple of 256 suit every block size.
DEQUANT_TYPES = [q for q in Q if q in gguf.quants._type_traits or q in (Q.F32, Q.F16)]


# Random block bytes include NaN/inf fp16 scales: the arithmetic warnings are expected, not failures.
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("qtype", DEQUANT_TYPES, ids=lambda q: q.name)
def test_every_dequantisable_type_reads_back(qtype: Q, tmp_path: Path) -> None:
    """SYNTHETIC: random block bytes of each type, written with the gguf writer, read by us."""
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    rows, cols = 3, 512
    rng = np.random.default_rng(int(qtype))
    raw = rng.integers(0, 256, size=(rows, cols // block * type_size), dtype=np.uint8)
    if qtype in (Q.F32, Q.F16, Q.BF16):
        raw = rng.standard_normal((rows, cols)).astype(
            {Q.F32: np.float32, Q.F16: np.float16, Q.BF16: np.float32}[qtype]
        )
        if qtype == Q.BF16:
            raw = (raw.view(np.uint32) >> 16).astype(np.uint16).view(np.uint8).reshape(rows, -1)
    path = tmp_path / f"{qtype.name}.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("t.weight", raw, raw_dtype=qtype if qtype not in (Q.F32, Q.F16) else None)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    expected = np.asarray(
        gguf.quants.dequantize(np.asarray(raw).view(np.uint8).reshape(rows, -1), qtype), np.float32
    )
    with GGUFSource(path) as source:
        info = source.info("t.weight")
        assert info.shape == (rows, cols) and info.dtype == qtype.name
        got = source.read("t.weight")
    np.testing.assert_array_equal(got, expected.reshape(rows, cols))


@pytest.mark.parametrize("qtype,tolerance", [(Q.F16, 1e-3), (Q.Q8_0, 2e-2)], ids=["F16", "Q8_0"])
def test_llama_hf_and_gguf_map_to_the_same_canonical_tensors(
    qtype: Q, tolerance: float, tmp_path: Path
) -> None:
    """SYNTHETIC llama saved as HF safetensors and as GGUF (Q/K permuted like llama.cpp's converter)."""
    tensors, config = synth.architecture("llama")
    hf = synth.write_hf(tmp_path / "hf", tensors, config)
    path = synth.write_llama_gguf(tmp_path / "model.gguf", tensors, qtype)
    with open_model(hf) as a, open_model(path) as b:
        assert set(a.canonical_names()) == set(b.canonical_names())
        for name in a.canonical_names():
            x, y = a.tensor(name), b.tensor(name)
            assert x.shape == y.shape, name
            err = np.abs(x - y).max() / (np.abs(x).max() + 1e-12)
            assert err < tolerance, (name, err)
        # Without undoing the permutation the q rows would not line up.
        raw_q = b.read_stored("blk.0.attn_q.weight")
        assert np.abs(raw_q - a.tensor("layers.0.attn.q.weight")).max() > 10 * tolerance * np.abs(raw_q).max()


def test_gemma_gguf_norms_are_restored_to_hf_convention(tmp_path: Path) -> None:
    """SYNTHETIC: llama.cpp stores Gemma norms as 1 + w; canonical tensors hold w, gains 1 + w."""
    w = np.linspace(-0.5, 0.5, synth.H, dtype=np.float32)
    path = tmp_path / "gemma.gguf"
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_block_count(1)
    writer.add_embedding_length(synth.H)
    writer.add_tensor("token_embd.weight", np.zeros((synth.VOCAB, synth.H), np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", w + 1)
    writer.add_tensor("output_norm.weight", w + 1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with open_model(path) as model:
        np.testing.assert_allclose(model.tensor("layers.0.attn_norm.weight"), w, atol=1e-6)
        np.testing.assert_allclose(model.gain("final_norm.weight"), w + 1, atol=1e-6)


def _header(n_tensors: int, n_kv: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv)


@pytest.mark.parametrize(
    "blob,problem",
    [
        (_header(1 << 62, 0) + b"\0" * 64, "tensors"),
        (_header(0, 1 << 62) + b"\0" * 64, "metadata"),
        (_header(0, 1) + struct.pack("<Q", 1 << 40) + b"k" * 64, "metadata key"),
        (
            _header(0, 1) + struct.pack("<Q", 1) + b"k" + struct.pack("<IIQ", 9, 6, 1 << 50) + b"\0" * 64,
            "elements",
        ),
        (_header(1, 0) + struct.pack("<Q", 1) + b"t" + struct.pack("<I", 99) + b"\0" * 64, "rank"),
        (b"GGUF" + struct.pack("<I", 1) + b"\0" * 40, "version"),
        (b"GGUF\x03\0", "GGUF"),
    ],
    ids=["tensor-count", "kv-count", "key-length", "array-count", "rank", "version", "truncated"],
)
def test_hostile_headers_fail_fast(blob: bytes, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(blob)
    with pytest.raises(ModelFileError, match=problem) as info:
        GGUFSource(path)
    assert str(path) in str(info.value)


def test_tensor_data_out_of_range_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("a.weight", np.ones((4, 32), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(ModelFileError, match="past the end"):
        GGUFSource(path)
