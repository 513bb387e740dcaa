"""Norm folding preserves the function (SYNTHETIC layers with random non-unit gains and biases)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modeltrace import open_model
from modeltrace.weights.fold import fold_head, fold_layer
from tests.weights import synth


def _rms(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + 1e-6)


def _layernorm(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt((centred * centred).mean(axis=-1, keepdims=True) + 1e-5)


@pytest.mark.parametrize("arch", ["llama", "gemma", "qwen3", "phi3", "mixtral"])
def test_pre_rmsnorm_folding_keeps_every_projection_output(arch: str, tmp_path: Path) -> None:
    tensors, config = synth.architecture(arch, seed=3)
    x = np.random.default_rng(0).standard_normal((5, synth.H)).astype(np.float32)
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        folded = fold_layer(model, 1)
        assert "layers.1.attn_norm.weight" in folded.folded and "layers.1.mlp_norm.weight" in folded.folded
        for norm, feeds in (
            ("attn_norm", ("attn.q", "attn.k", "attn.v")),
            ("mlp_norm", ("mlp.gate", "mlp.up")),
        ):
            gain = model.gain(f"layers.1.{norm}.weight")
            assert not np.allclose(gain, 1.0)
            targets = [f"layers.1.{f}.weight" for f in feeds if model.has(f"layers.1.{f}.weight")]
            targets += [
                k
                for k in folded.tensors
                if ".moe." in k
                and k.endswith(("gate.weight", "up.weight"))
                and norm == "mlp_norm"
                and "experts" in k
            ]
            assert targets
            for name in targets:
                before = (_rms(x) * gain) @ model.tensor(name).T
                after = _rms(x) @ folded.tensors[name].T
                np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5, err_msg=name)
            # After folding, the norm multiplies by exactly one.
            offset = model.binding(f"layers.1.{norm}.weight").gain_offset
            np.testing.assert_array_equal(folded.tensors[f"layers.1.{norm}.weight"] + offset, 1.0)
        if arch == "qwen3":
            assert "layers.1.attn.q_norm.weight" in folded.unfolded


def test_layernorm_bias_moves_into_the_linear_bias(tmp_path: Path) -> None:
    tensors, config = synth.architecture("gpt2", seed=4)
    x = np.random.default_rng(1).standard_normal((3, synth.H)).astype(np.float32)
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        folded = fold_layer(model, 0)
        gain, bias = model.gain("layers.0.mlp_norm.weight"), model.tensor("layers.0.mlp_norm.bias")
        w, b = model.tensor("layers.0.mlp.up.weight"), model.tensor("layers.0.mlp.up.bias")
        before = (_layernorm(x) * gain + bias) @ w.T + b
        after = (
            _layernorm(x) @ folded.tensors["layers.0.mlp.up.weight"].T
            + folded.tensors["layers.0.mlp.up.bias"]
        )
        np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(folded.tensors["layers.0.mlp_norm.bias"], 0.0)


def test_post_ln_norms_are_reported_not_folded(tmp_path: Path) -> None:
    tensors, config = synth.architecture("bert")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        folded = fold_layer(model, 0)
        assert folded.folded == []
        assert "residual" in folded.unfolded["layers.0.attn_residual_norm.weight"]
        np.testing.assert_array_equal(
            folded.tensors["layers.0.attn.q.weight"], model.tensor("layers.0.attn.q.weight")
        )


def test_final_norm_folds_into_a_tied_head(tmp_path: Path) -> None:
    tensors, config = synth.architecture("qwen2")
    x = np.random.default_rng(2).standard_normal((4, synth.H)).astype(np.float32)
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        assert model.tied_embeddings
        head = fold_head(model)
        before = (_rms(x) * model.gain("final_norm.weight")) @ model.tensor("embed.tokens.weight").T
        np.testing.assert_allclose(_rms(x) @ head.tensors["lm_head.weight"].T, before, rtol=1e-4, atol=1e-5)
