"""Tests of the CTranslate2 ``model.bin`` reader: synthetic tiny files built here, hostile files, the zoo."""

from __future__ import annotations

import struct
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from modeltrace.errors import ModelFileError, UnsupportedFormatError
from modeltrace.weights.ctranslate2_reader import CTranslate2Source

# ---- synthetic model.bin files (not real models: d = 4, one layer each side, hand-chosen values) -------

D = 4
_CODES = {"<f4": 0, "i1": 1, "<i2": 2, "<i4": 3, "<f2": 4}


def _string(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("<H", len(data)) + data


@dataclass
class Synthetic:
    """Bytes of a synthetic model.bin and where the fields a hostile test patches sit."""

    data: bytearray = field(default_factory=bytearray)
    at: dict[str, int] = field(default_factory=dict)

    def patch(self, key: str, fmt: str, value: int) -> bytes:
        out = bytearray(self.data)
        struct.pack_into(fmt, out, self.at[key], value)
        return bytes(out)


def build(variables: dict[str, np.ndarray], aliases: dict[str, str], spec: str = "WhisperSpec",
          version: int = 6) -> Synthetic:
    syn = Synthetic()
    out = syn.data
    out += struct.pack("<I", version) + _string(spec) + struct.pack("<I", 3)
    syn.at["count"] = len(out)
    out += struct.pack("<I", len(variables))
    for name, value in variables.items():
        syn.at[f"{name}.name_len"] = len(out)
        out += _string(name) + struct.pack("<B", value.ndim)
        syn.at[f"{name}.dims"] = len(out)
        out += struct.pack(f"<{value.ndim}I", *value.shape)
        out += struct.pack("<B", _CODES[value.dtype.str.replace("|", "")])
        syn.at[f"{name}.nbytes"] = len(out)
        out += struct.pack("<I", value.nbytes) + value.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    return syn


def fused(rows: int, zero_third: int | None = None, parts: int = 3) -> np.ndarray:
    """A [rows, D] f32 ramp; with ``zero_third`` that part is set to zeros (the converter's padding)."""
    value = np.arange(rows * D, dtype="<f4").reshape(rows, D) + 1
    if zero_third is not None:
        step = rows // parts
        value[zero_third * step : (zero_third + 1) * step] = 0
    return value


#: The int8 cross-attention K/V weight [2D, D] and its per-row scale: float = q / scale.
KV_Q = np.array([[127, -127, 0, 64]] * (2 * D), dtype="i1")
KV_SCALE = np.array([2.0, 4.0, 0.5, 1.0, 8.0, 2.0, 2.0, 2.0], dtype="<f4")


def whisper_variables(k_bias: float = 0.0) -> dict[str, np.ndarray]:
    bias = np.concatenate([np.full(D, 1.0), np.full(D, k_bias), np.full(D, 3.0)]).astype("<f4")
    return {
        "decoder/embeddings/weight": np.arange(6 * D, dtype="<f2").reshape(6, D),
        "decoder/layer_0/attention/linear_0/weight": fused(D),
        "decoder/layer_0/attention/linear_1/bias": np.concatenate([np.zeros(D), np.ones(D)]).astype("<f4"),
        "decoder/layer_0/attention/linear_1/weight": KV_Q,
        "decoder/layer_0/attention/linear_1/weight_scale": KV_SCALE,
        "decoder/num_heads": np.array(2, dtype="<i2"),
        "decoder/pre_norm": np.array(1, dtype="i1"),
        "encoder/conv1/weight": np.ones((D, 3, 3), dtype="<f4"),
        "encoder/layer_0/self_attention/layer_norm/gamma": np.full(D, 2.0, dtype="<f4"),
        "encoder/layer_0/self_attention/linear_0/bias": bias,
        "encoder/layer_0/self_attention/linear_0/weight": fused(3 * D),
        "encoder/layer_0/ffn/linear_0/weight": np.ones((3 * D, D), dtype="<i2"),
        "encoder/layer_0/ffn/linear_0/weight_scale": np.array(4.0, dtype="<f4"),
        "encoder/num_heads": np.array(2, dtype="<i2"),
    }


ALIASES = {"decoder/projection/weight": "decoder/embeddings/weight"}


@pytest.fixture
def synthetic_file(tmp_path: Path) -> Path:
    path = tmp_path / "synthetic-model.bin"
    path.write_bytes(build(whisper_variables(), ALIASES).data)
    return path


def test_synthetic_fused_qkv_is_split_into_byte_slices(synthetic_file: Path) -> None:
    stored = fused(3 * D)
    with CTranslate2Source(synthetic_file) as source:
        prefix = "model.encoder.layers.0.self_attn"
        for index, part in enumerate(("q_proj", "k_proj", "v_proj")):
            info = source.info(f"{prefix}.{part}.weight")
            assert (info.shape, info.dtype, info.nbytes) == ((D, D), "F32", D * D * 4)
            rows = stored[index * D : (index + 1) * D]
            assert bytes(source.raw(info.name)) == rows.tobytes()
            np.testing.assert_array_equal(source.read(info.name), rows)
            assert source.stored_name(info.name) == "encoder/layer_0/self_attention/linear_0/weight"
        # The zero K third of the fused bias is padding: q and v biases only.
        assert source.read(f"{prefix}.q_proj.bias").tolist() == [1.0] * D
        assert source.read(f"{prefix}.v_proj.bias").tolist() == [3.0] * D
        assert f"{prefix}.k_proj.bias" not in {info.name for info in source.infos()}
        assert source.read("model.encoder.layers.0.self_attn_layer_norm.weight").tolist() == [2.0] * D


def test_synthetic_nonzero_key_bias_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "synthetic-kbias.bin"
    path.write_bytes(build(whisper_variables(k_bias=0.25), ALIASES).data)
    with CTranslate2Source(path) as source:
        assert source.read("model.encoder.layers.0.self_attn.k_proj.bias").tolist() == [0.25] * D


def test_synthetic_int8_cross_attention_kv_dequantised_by_hand(synthetic_file: Path) -> None:
    with CTranslate2Source(synthetic_file) as source:
        key = source.read("model.decoder.layers.0.encoder_attn.k_proj.weight")
        value = source.read("model.decoder.layers.0.encoder_attn.v_proj.weight")
        # Row r is [127, -127, 0, 64] / scale[r]; scales 2, 4, 0.5, 1 for K and 8, 2, 2, 2 for V.
        assert key[0].tolist() == [63.5, -63.5, 0.0, 32.0]
        assert key[1].tolist() == [31.75, -31.75, 0.0, 16.0]
        assert key[2].tolist() == [254.0, -254.0, 0.0, 128.0]
        assert value[0].tolist() == [15.875, -15.875, 0.0, 8.0]
        info = source.info("model.decoder.layers.0.encoder_attn.v_proj.weight")
        assert (info.dtype, info.shape, info.nbytes) == ("I8xF32", (D, D), D * D + D * 4)
        assert bytes(source.raw(info.name)) == KV_Q[D:].tobytes() + KV_SCALE[D:].tobytes()
        # The V half of the bias is kept, the zero K half is padding.
        assert source.read("model.decoder.layers.0.encoder_attn.v_proj.bias").tolist() == [1.0] * D
        names = {info.name for info in source.infos()}
        assert "model.decoder.layers.0.encoder_attn.k_proj.bias" not in names
        assert not any(name.endswith("_scale") for name in names)


def test_synthetic_int16_scalar_scale_and_fp16(synthetic_file: Path) -> None:
    with CTranslate2Source(synthetic_file) as source:
        fc1 = source.read("model.encoder.layers.0.fc1.weight")
        assert fc1.shape == (3 * D, D)
        assert np.all(fc1 == 0.25)  # 1 / 4.0
        assert source.info("model.encoder.layers.0.fc1.weight").dtype == "I16xF32"
        embed = source.read("model.decoder.embed_tokens.weight")
        assert embed.dtype == np.float32
        assert embed[5].tolist() == [20.0, 21.0, 22.0, 23.0]


def test_synthetic_scalars_aliases_and_config(synthetic_file: Path) -> None:
    with CTranslate2Source(synthetic_file) as source:
        names = [info.name for info in source.infos()]
        assert "decoder.num_heads" not in names and "proj_out.weight" not in names
        assert len(names) == len(set(names)) == 13
        meta = source.facts.metadata
        assert (meta["decoder.num_heads"], meta["decoder.pre_norm"], meta["encoder.num_heads"]) == (2, 1, 2)
        assert meta["aliases"] == {"proj_out.weight": "model.decoder.embed_tokens.weight"}
        assert meta["ctranslate2.aliases"] == ALIASES
        assert (meta["ctranslate2.variables"], meta["ctranslate2.tensors"]) == (14, 9)
        config = source.facts.config
        assert config["model_type"] == "whisper"
        assert (config["d_model"], config["num_mel_bins"], config["vocab_size"]) == (D, 3, 6)
        assert (config["encoder_layers"], config["decoder_layers"]) == (1, 1)
        assert (config["encoder_attention_heads"], config["encoder_ffn_dim"]) == (2, 3 * D)


def test_other_specs_keep_stored_names(tmp_path: Path) -> None:
    path = tmp_path / "synthetic-transformer.bin"
    variables = {
        "encoder/layer_0/self_attention/linear_0/weight": fused(3 * D),
        "decoder/num_heads": np.array(2, dtype="<i2"),
    }
    path.write_bytes(build(variables, {}, spec="TransformerSpec").data)
    with CTranslate2Source(path) as source:
        assert [info.name for info in source.infos()] == ["encoder.layer_0.self_attention.linear_0.weight"]
        assert source.info("encoder.layer_0.self_attention.linear_0.weight").shape == (3 * D, D)
        assert source.facts.config == {}


def _assert_hostile(path: Path, needle: str) -> None:
    """Opening ``path`` must fail at once, with one line naming the file, in bounded memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ModelFileError) as caught:
            CTranslate2Source(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 4 * 1024 * 1024
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert needle in message


@pytest.mark.parametrize("keep", [2, 9, 30, 100, 400, -1])
def test_truncated_file_is_refused(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "truncated.bin"
    path.write_bytes(bytes(build(whisper_variables(), ALIASES).data[:keep]))
    _assert_hostile(path, "CTranslate2")


@pytest.mark.parametrize("value", [2**31, 2**32 - 1])
def test_huge_variable_count_is_refused(tmp_path: Path, value: int) -> None:
    path = tmp_path / "huge-count.bin"
    path.write_bytes(build(whisper_variables(), ALIASES).patch("count", "<I", value))
    _assert_hostile(path, f"variable count is {value}")


def test_huge_dimensions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge-dims.bin"
    name = "encoder/conv1/weight"
    path.write_bytes(build(whisper_variables(), ALIASES).patch(f"{name}.dims", "<I", 2**31))
    _assert_hostile(path, "expected")


def test_data_beyond_end_is_refused(tmp_path: Path) -> None:
    # A self-consistent [2^20, 2^8] f32 variable: its 1 GiB of data would run far past the end.
    variables = {"encoder/conv1/bias": np.zeros((1, 1), dtype="<f4")}
    syn = build(variables, {})
    data = bytearray(syn.data)
    struct.pack_into("<2I", data, syn.at["encoder/conv1/bias.dims"], 2**20, 2**8)
    struct.pack_into("<I", data, syn.at["encoder/conv1/bias.nbytes"], 2**30)
    path = tmp_path / "far-data.bin"
    path.write_bytes(bytes(data))
    _assert_hostile(path, "data of 'encoder/conv1/bias'")


def test_name_length_beyond_end_is_refused(tmp_path: Path) -> None:
    syn = build(whisper_variables(), ALIASES)
    assert len(syn.data) < 0xFFFF
    path = tmp_path / "long-name.bin"
    path.write_bytes(syn.patch("encoder/conv1/weight.name_len", "<H", 0xFFFF))
    _assert_hostile(path, "name of variable 7")


def test_other_versions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "v5.bin"
    path.write_bytes(build(whisper_variables(), ALIASES, version=5).data)
    with pytest.raises(UnsupportedFormatError, match="version 5"):
        CTranslate2Source(path)


# ---- the real CTranslate2 Whisper models of the zoo ------------------------------------------------------


@pytest.fixture(scope="module")
def whisper_gp() -> Iterator[CTranslate2Source]:
    from modeltrace.zoo import fetch

    with CTranslate2Source(fetch("whisper-gp") / "model.bin") as source:
        yield source


@pytest.fixture(scope="module")
def whisper_sfy() -> Iterator[CTranslate2Source]:
    from modeltrace.zoo import fetch

    with CTranslate2Source(fetch("whisper-sfy") / "model.bin") as source:
        yield source


@pytest.mark.real_model
def test_whisper_gp_inventory(whisper_gp: CTranslate2Source) -> None:
    meta = whisper_gp.facts.metadata
    assert (meta["ctranslate2.spec"], meta["ctranslate2.revision"]) == ("WhisperSpec", 3)
    assert (meta["ctranslate2.variables"], meta["ctranslate2.tensors"]) == (212, 203)
    infos = whisper_gp.infos()
    # 203 stored tensors, 18 fused ones split (12 into three, 6 into two), 18 zero key-bias slices dropped.
    assert len(infos) == 245
    assert {info.dtype for info in infos} == {"F16"}
    assert sum(info.numel for info in infos) == 72_593_920
    assert meta["aliases"] == {"proj_out.weight": "model.decoder.embed_tokens.weight"}
    assert meta["decoder.num_heads"] == meta["encoder.num_heads"] == 8
    config = whisper_gp.facts.config
    expected = {"model_type": "whisper", "d_model": 512, "encoder_layers": 6, "decoder_layers": 6,
                "encoder_attention_heads": 8, "decoder_attention_heads": 8, "encoder_ffn_dim": 2048,
                "vocab_size": 51865, "max_source_positions": 1500, "max_target_positions": 448}
    assert {key: config[key] for key in expected} == expected
    assert len(config["suppress_tokens"]) == 88  # from the folder's config.json


@pytest.mark.real_model
def test_whisper_names_are_hugging_face_roles(whisper_gp: CTranslate2Source) -> None:
    names = {info.name for info in whisper_gp.infos()}
    for side in ("encoder", "decoder"):
        for part in ("q_proj", "k_proj", "v_proj", "out_proj"):
            assert f"model.{side}.layers.5.self_attn.{part}.weight" in names
        assert f"model.{side}.layers.0.self_attn.k_proj.bias" not in names
        assert f"model.{side}.layer_norm.weight" in names
    assert "model.decoder.layers.3.encoder_attn.k_proj.weight" in names
    assert "model.decoder.layers.3.encoder_attn_layer_norm.bias" in names
    # Whisper's encoder positions are sinusoids: row 0 is sin(0) = 0 for the first half, cos(0) = 1 after.
    positions = whisper_gp.read("model.encoder.embed_positions.weight")
    assert positions.shape == (1500, 512)
    np.testing.assert_array_equal(positions[0], np.repeat([0.0, 1.0], 256))
    # q/k/v of one fused tensor are consecutive slices of the stored rows.
    q, k, v = (whisper_gp.raw(f"model.decoder.layers.2.self_attn.{p}_proj.weight") for p in "qkv")
    assert len(q) == len(k) == len(v) == 512 * 512 * 2
    assert bytes(q) != bytes(k) != bytes(v)


@pytest.mark.real_model
def test_whisper_gp_and_sfy_have_identical_tensors(
    whisper_gp: CTranslate2Source, whisper_sfy: CTranslate2Source
) -> None:
    assert whisper_gp.path.stat().st_size != whisper_sfy.path.stat().st_size  # the files differ
    assert whisper_sfy.facts.metadata["ctranslate2.variables"] == 214
    assert "decoder.scale_alibi" in whisper_sfy.facts.metadata
    assert "decoder.scale_alibi" not in whisper_gp.facts.metadata
    assert list(whisper_gp.infos()) == list(whisper_sfy.infos())
    for info in whisper_gp.infos():
        assert bytes(whisper_gp.raw(info.name)) == bytes(whisper_sfy.raw(info.name)), info.name
