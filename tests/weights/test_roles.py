"""Canonical roles for every supported architecture, on SYNTHETIC checkpoints with real HF names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modeltrace import open_model
from tests.weights import synth
from tests.weights.synth import FF, HEAD_DIM, HEADS, KV, H, L

LLAMA_LAYER = {
    "attn.q",
    "attn.k",
    "attn.v",
    "attn.o",
    "attn_norm",
    "mlp_norm",
    "mlp.gate",
    "mlp.up",
    "mlp.down",
}
GEMMA2_LAYER = LLAMA_LAYER | {"post_attn_norm", "post_mlp_norm"}
BERT_LAYER = {
    "attn.q",
    "attn.k",
    "attn.v",
    "attn.o",
    "attn_residual_norm",
    "mlp.up",
    "mlp.down",
    "mlp_residual_norm",
}

EXPECTED_LAYER_ROLES = {
    "llama": LLAMA_LAYER,
    "mistral": LLAMA_LAYER,
    "qwen2": LLAMA_LAYER,
    "qwen3": LLAMA_LAYER | {"attn.q_norm", "attn.k_norm"},
    "gemma": LLAMA_LAYER,
    "gemma2": GEMMA2_LAYER,
    "gemma3": GEMMA2_LAYER | {"attn.q_norm", "attn.k_norm"},
    "phi3": LLAMA_LAYER,
    "mixtral": (LLAMA_LAYER - {"mlp.gate", "mlp.up", "mlp.down"})
    | {"moe.router"}
    | {f"moe.experts.{e}.{p}" for e in range(synth.EXPERTS) for p in ("gate", "up", "down")},
    "gpt2": {"attn.q", "attn.k", "attn.v", "attn.o", "attn_norm", "mlp_norm", "mlp.up", "mlp.down"},
    "gpt_neox": {"attn.q", "attn.k", "attn.v", "attn.o", "attn_norm", "mlp_norm", "mlp.up", "mlp.down"},
    "bert": BERT_LAYER,
    "roberta": BERT_LAYER,
    "xlm-roberta": BERT_LAYER,
    "mpnet": BERT_LAYER,
    "nomic_bert": BERT_LAYER | {"mlp.gate"},
}


@pytest.mark.parametrize("arch", sorted(EXPECTED_LAYER_ROLES))
def test_every_tensor_gets_its_role(arch: str, tmp_path: Path) -> None:
    tensors, config = synth.architecture(arch)
    with open_model(synth.write_hf(tmp_path / arch, tensors, config)) as model:
        assert not model.roles.unassigned, model.roles.unassigned
        assert not any(b.guessed for b in model.roles.bindings.values())
        assert model.config.n_layers == L
        assert model.config.hidden == H
        for layer in range(L):
            roles = {b.role for b in model.layer_roles(layer).values()}
            assert roles == EXPECTED_LAYER_ROLES[arch], (layer, roles ^ EXPECTED_LAYER_ROLES[arch])
        assert model.has("embed.tokens.weight")
        for name in model.canonical_names():
            assert model.tensor(name).shape == model.shape(name)


def test_llama_config_and_kinds(tmp_path: Path) -> None:
    tensors, config = synth.architecture("llama")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        assert (model.config.n_heads, model.config.n_kv_heads, model.config.mlp_width) == (HEADS, KV, FF)
        assert model.config.tied_embeddings is False
        norm = model.binding("layers.0.attn_norm.weight").norm
        assert norm is not None and (norm.kind, norm.placement) == ("rmsnorm", "pre")


def test_phi3_fused_projections_are_split(tmp_path: Path) -> None:
    tensors, config = synth.architecture("phi3")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        qkv = tensors["model.layers.1.self_attn.qkv_proj.weight"]
        q_rows, kv_rows = HEADS * HEAD_DIM, KV * HEAD_DIM
        np.testing.assert_array_equal(model.tensor("layers.1.attn.q.weight"), qkv[:q_rows])
        np.testing.assert_array_equal(model.tensor("layers.1.attn.k.weight"), qkv[q_rows : q_rows + kv_rows])
        np.testing.assert_array_equal(model.tensor("layers.1.attn.v.weight"), qkv[q_rows + kv_rows :])
        gate_up = tensors["model.layers.1.mlp.gate_up_proj.weight"]
        np.testing.assert_array_equal(model.tensor("layers.1.mlp.gate.weight"), gate_up[:FF])
        np.testing.assert_array_equal(model.tensor("layers.1.mlp.up.weight"), gate_up[FF:])


def test_gpt2_conv1d_is_transposed_and_split(tmp_path: Path) -> None:
    tensors, config = synth.architecture("gpt2")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        c_attn = tensors["transformer.h.0.attn.c_attn.weight"]
        np.testing.assert_array_equal(model.tensor("layers.0.attn.k.weight"), c_attn.T[H : 2 * H])
        np.testing.assert_array_equal(
            model.tensor("layers.0.attn.v.bias"), tensors["transformer.h.0.attn.c_attn.bias"][2 * H :]
        )
        np.testing.assert_array_equal(
            model.tensor("layers.0.mlp.up.weight"), tensors["transformer.h.0.mlp.c_fc.weight"].T
        )
        assert model.shape("layers.0.mlp.down.weight") == (H, FF)
        assert model.config.norm_kind == "layernorm"


def test_neox_per_head_qkv_split(tmp_path: Path) -> None:
    tensors, config = synth.architecture("gpt_neox")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        fused = tensors["gpt_neox.layers.0.attention.query_key_value.weight"].reshape(HEADS, 3, H // HEADS, H)
        for index, part in enumerate("qkv"):
            np.testing.assert_array_equal(
                model.tensor(f"layers.0.attn.{part}.weight"), fused[:, index].reshape(H, H)
            )
        assert model.has("lm_head.weight")


def test_mixtral_experts(tmp_path: Path) -> None:
    tensors, config = synth.architecture("mixtral")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        assert model.config.n_experts == synth.EXPERTS
        np.testing.assert_array_equal(
            model.tensor("layers.1.moe.experts.2.down.weight"),
            tensors["model.layers.1.block_sparse_moe.experts.2.w2.weight"],
        )


def test_gemma_norms_report_the_one_plus_w_gain(tmp_path: Path) -> None:
    tensors, config = synth.architecture("gemma3")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        stored = tensors["model.layers.0.post_attention_layernorm.weight"]
        np.testing.assert_array_equal(model.tensor("layers.0.post_attn_norm.weight"), stored)
        np.testing.assert_allclose(model.gain("layers.0.post_attn_norm.weight"), stored + 1)
        assert model.binding("layers.0.post_attn_norm.weight").norm.placement == "post"  # type: ignore[union-attr]


def test_bert_post_ln_placement_and_prefix(tmp_path: Path) -> None:
    tensors, config = synth.architecture("bert")
    with open_model(synth.write_hf(tmp_path, tensors, config)) as model:
        norm = model.binding("layers.1.mlp_residual_norm.weight").norm
        assert norm is not None and (norm.kind, norm.placement) == ("layernorm", "residual")
        assert model.has("pooler.weight") and model.has("embed.token_types.weight")


def test_sharded_folder_with_index(tmp_path: Path) -> None:
    tensors, config = synth.architecture("llama")
    with open_model(synth.write_hf(tmp_path, tensors, config, shards=3)) as model:
        assert len(model.infos()) == len(tensors)
        np.testing.assert_array_equal(
            model.tensor("layers.1.mlp.up.weight"), tensors["model.layers.1.mlp.up_proj.weight"]
        )


def test_hub_cache_layout(tmp_path: Path) -> None:
    tensors, config = synth.architecture("qwen2")
    repo = tmp_path / "models--org--tiny"
    synth.write_hf(repo / "snapshots" / "abc123", tensors, config)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    with open_model(repo) as model:
        assert model.architecture == "qwen2"
        assert model.has("layers.0.attn.q.bias")


def test_unknown_names_fall_back_to_shapes_and_say_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors = {"tok.table": rng.standard_normal((1000, 32)).astype(np.float32)}
    for i in range(3):
        tensors[f"stage{i}.mix.w"] = rng.standard_normal((32, 32)).astype(np.float32)
        tensors[f"stage{i}.widen.w"] = rng.standard_normal((128, 32)).astype(np.float32)
        tensors[f"stage{i}.narrow.w"] = rng.standard_normal((32, 128)).astype(np.float32)
        tensors[f"stage{i}.scale"] = np.ones(32, np.float32)
    synth.save_file(tensors, str(tmp_path / "weird.safetensors"))
    with open_model(tmp_path / "weird.safetensors") as model:
        assert model.roles.guessed
        assert all(b.guessed for b in model.roles.bindings.values())
        assert model.binding("layers.2.mlp.up.weight").source == "stage2.widen.w"
        assert model.binding("layers.1.mlp.down.weight").source == "stage1.narrow.w"
        assert model.binding("embed.tokens.weight").source == "tok.table"
        assert "roles_guessed" in model.summary() and model.summary()["roles_guessed"]


def test_pytorch_bin_shards_with_index(tmp_path: Path) -> None:
    """A HF folder of ``pytorch_model-*.bin`` shards written by real ``torch.save``."""
    torch = pytest.importorskip("torch")
    tensors, config = synth.architecture("gpt_neox")
    names = sorted(tensors)
    weight_map = {}
    for k, part in enumerate((names[::2], names[1::2])):
        fname = f"pytorch_model-0000{k + 1}-of-00002.bin"
        torch.save({n: torch.from_numpy(tensors[n].copy()) for n in part}, tmp_path / fname)
        weight_map.update(dict.fromkeys(part, fname))
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (tmp_path / "config.json").write_text(json.dumps(config))
    with open_model(tmp_path) as model:
        assert model.format == "pytorch" and not model.roles.unassigned
        np.testing.assert_array_equal(
            model.tensor("layers.1.mlp.down.weight"), tensors["gpt_neox.layers.1.mlp.dense_4h_to_h.weight"]
        )


def test_folder_prefers_the_model_file_over_loose_extras(tmp_path: Path) -> None:
    """An adapter or a second copy beside model.safetensors is not merged into the model."""
    tensors, config = synth.architecture("llama")
    folder = synth.write_hf(tmp_path, tensors, config)
    synth.save_file(
        {"base_model.lora_A.weight": np.ones((4, 4), np.float32)}, str(folder / "adapter_model.safetensors")
    )
    with open_model(folder) as model:
        assert len(model.infos()) == len(tensors)
