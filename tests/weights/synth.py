"""SYNTHETIC checkpoints for tests: random weights under each architecture's real Hugging Face names.

No real model shows every architecture's naming, fused layouts and converter quirks, so these are
generated: tiny, random, and said to be synthetic. The names and layouts follow the public
``transformers`` modules for each architecture.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gguf
import numpy as np
from safetensors.numpy import save_file

from modeltrace.weights.roles import permute_rope_rows

Tensors = dict[str, np.ndarray]

L, H, HEADS, KV, FF, VOCAB, EXPERTS = 2, 64, 4, 2, 96, 120, 3
HEAD_DIM = H // HEADS


def _rand(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32) * 0.05


def _llama_like(
    rng: np.random.Generator,
    prefix: str = "model.",
    *,
    qk_norm: bool = False,
    qkv_bias: bool = False,
    gemma2: bool = False,
    fused: bool = False,
    moe: bool = False,
) -> Tensors:
    t: Tensors = {
        f"{prefix}embed_tokens.weight": _rand(rng, VOCAB, H),
        f"{prefix}norm.weight": _rand(rng, H) + 1,
    }
    for i in range(L):
        p = f"{prefix}layers.{i}."
        if fused:
            t[p + "self_attn.qkv_proj.weight"] = _rand(rng, (HEADS + 2 * KV) * HEAD_DIM, H)
            t[p + "mlp.gate_up_proj.weight"] = _rand(rng, 2 * FF, H)
        else:
            t[p + "self_attn.q_proj.weight"] = _rand(rng, HEADS * HEAD_DIM, H)
            t[p + "self_attn.k_proj.weight"] = _rand(rng, KV * HEAD_DIM, H)
            t[p + "self_attn.v_proj.weight"] = _rand(rng, KV * HEAD_DIM, H)
        if qkv_bias:
            for name, rows in (("q", HEADS), ("k", KV), ("v", KV)):
                t[p + f"self_attn.{name}_proj.bias"] = _rand(rng, rows * HEAD_DIM)
        t[p + "self_attn.o_proj.weight"] = _rand(rng, H, HEADS * HEAD_DIM)
        if qk_norm:
            t[p + "self_attn.q_norm.weight"] = _rand(rng, HEAD_DIM) + 1
            t[p + "self_attn.k_norm.weight"] = _rand(rng, HEAD_DIM) + 1
        if moe:
            t[p + "block_sparse_moe.gate.weight"] = _rand(rng, EXPERTS, H)
            for e in range(EXPERTS):
                t[p + f"block_sparse_moe.experts.{e}.w1.weight"] = _rand(rng, FF, H)
                t[p + f"block_sparse_moe.experts.{e}.w3.weight"] = _rand(rng, FF, H)
                t[p + f"block_sparse_moe.experts.{e}.w2.weight"] = _rand(rng, H, FF)
        elif not fused:
            t[p + "mlp.gate_proj.weight"] = _rand(rng, FF, H)
            t[p + "mlp.up_proj.weight"] = _rand(rng, FF, H)
        if not moe:
            t[p + "mlp.down_proj.weight"] = _rand(rng, H, FF)
        t[p + "input_layernorm.weight"] = _rand(rng, H) + 1
        t[p + "post_attention_layernorm.weight"] = _rand(rng, H) + 1
        if gemma2:
            t[p + "pre_feedforward_layernorm.weight"] = _rand(rng, H) + 1
            t[p + "post_feedforward_layernorm.weight"] = _rand(rng, H) + 1
    return t


def _bert_like(rng: np.random.Generator, prefix: str) -> Tensors:
    t: Tensors = {
        f"{prefix}embeddings.word_embeddings.weight": _rand(rng, VOCAB, H),
        f"{prefix}embeddings.position_embeddings.weight": _rand(rng, 40, H),
        f"{prefix}embeddings.token_type_embeddings.weight": _rand(rng, 2, H),
        f"{prefix}embeddings.LayerNorm.weight": _rand(rng, H) + 1,
        f"{prefix}embeddings.LayerNorm.bias": _rand(rng, H),
        f"{prefix}pooler.dense.weight": _rand(rng, H, H),
        f"{prefix}pooler.dense.bias": _rand(rng, H),
    }
    for i in range(L):
        p = f"{prefix}encoder.layer.{i}."
        for name in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            t[p + name + ".weight"] = _rand(rng, H, H)
            t[p + name + ".bias"] = _rand(rng, H)
        t[p + "intermediate.dense.weight"] = _rand(rng, FF, H)
        t[p + "intermediate.dense.bias"] = _rand(rng, FF)
        t[p + "output.dense.weight"] = _rand(rng, H, FF)
        t[p + "output.dense.bias"] = _rand(rng, H)
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + name + ".weight"] = _rand(rng, H) + 1
            t[p + name + ".bias"] = _rand(rng, H)
    return t


def _mpnet(rng: np.random.Generator) -> Tensors:
    t = _bert_like(rng, "mpnet.")
    del t["mpnet.embeddings.token_type_embeddings.weight"]
    renamed: Tensors = {}
    for name, value in t.items():
        name = name.replace("attention.self.query", "attention.attn.q").replace(
            "attention.self.key", "attention.attn.k"
        )
        name = name.replace("attention.self.value", "attention.attn.v").replace(
            "attention.output.dense", "attention.attn.o"
        )
        name = name.replace("attention.output.LayerNorm", "attention.LayerNorm")
        renamed[name] = value
    return renamed


def _nomic(rng: np.random.Generator) -> Tensors:
    t: Tensors = {
        "embeddings.word_embeddings.weight": _rand(rng, VOCAB, H),
        "embeddings.token_type_embeddings.weight": _rand(rng, 2, H),
        "emb_ln.weight": _rand(rng, H) + 1,
        "emb_ln.bias": _rand(rng, H),
    }
    for i in range(L):
        p = f"encoder.layers.{i}."
        t[p + "attn.Wqkv.weight"] = _rand(rng, 3 * H, H)
        t[p + "attn.out_proj.weight"] = _rand(rng, H, H)
        t[p + "mlp.fc11.weight"] = _rand(rng, FF, H)
        t[p + "mlp.fc12.weight"] = _rand(rng, FF, H)
        t[p + "mlp.fc2.weight"] = _rand(rng, H, FF)
        for n in ("norm1", "norm2"):
            t[p + n + ".weight"] = _rand(rng, H) + 1
            t[p + n + ".bias"] = _rand(rng, H)
    return t


def _gpt2(rng: np.random.Generator) -> Tensors:
    t: Tensors = {
        "transformer.wte.weight": _rand(rng, VOCAB, H),
        "transformer.wpe.weight": _rand(rng, 40, H),
        "transformer.ln_f.weight": _rand(rng, H) + 1,
        "transformer.ln_f.bias": _rand(rng, H),
    }
    for i in range(L):
        p = f"transformer.h.{i}."
        t[p + "attn.c_attn.weight"] = _rand(rng, H, 3 * H)  # Conv1D: [in, out]
        t[p + "attn.c_attn.bias"] = _rand(rng, 3 * H)
        t[p + "attn.c_proj.weight"] = _rand(rng, H, H)
        t[p + "attn.c_proj.bias"] = _rand(rng, H)
        t[p + "mlp.c_fc.weight"] = _rand(rng, H, FF)
        t[p + "mlp.c_fc.bias"] = _rand(rng, FF)
        t[p + "mlp.c_proj.weight"] = _rand(rng, FF, H)
        t[p + "mlp.c_proj.bias"] = _rand(rng, H)
        for n in ("ln_1", "ln_2"):
            t[p + n + ".weight"] = _rand(rng, H) + 1
            t[p + n + ".bias"] = _rand(rng, H)
    return t


def _neox(rng: np.random.Generator) -> Tensors:
    t: Tensors = {
        "gpt_neox.embed_in.weight": _rand(rng, VOCAB, H),
        "embed_out.weight": _rand(rng, VOCAB, H),
        "gpt_neox.final_layer_norm.weight": _rand(rng, H) + 1,
        "gpt_neox.final_layer_norm.bias": _rand(rng, H),
    }
    for i in range(L):
        p = f"gpt_neox.layers.{i}."
        t[p + "attention.query_key_value.weight"] = _rand(rng, 3 * H, H)
        t[p + "attention.query_key_value.bias"] = _rand(rng, 3 * H)
        t[p + "attention.dense.weight"] = _rand(rng, H, H)
        t[p + "mlp.dense_h_to_4h.weight"] = _rand(rng, FF, H)
        t[p + "mlp.dense_4h_to_h.weight"] = _rand(rng, H, FF)
        for n in ("input_layernorm", "post_attention_layernorm"):
            t[p + n + ".weight"] = _rand(rng, H) + 1
            t[p + n + ".bias"] = _rand(rng, H)
    return t


def _config(model_type: str, **extra: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_type": model_type,
        "hidden_size": H,
        "num_hidden_layers": L,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV,
        "intermediate_size": FF,
        "vocab_size": VOCAB,
        "head_dim": HEAD_DIM,
    }
    config.update(extra)
    return config


def architecture(arch: str, seed: int = 0) -> tuple[Tensors, dict[str, Any]]:
    """Random weights and a config for one architecture, under its Hugging Face names."""
    rng = np.random.default_rng(seed)
    full_heads = {"num_key_value_heads": HEADS}
    builders: dict[str, tuple[Tensors, dict[str, Any]]] = {}
    if arch in ("llama", "mistral"):
        t = _llama_like(rng)
        t["lm_head.weight"] = _rand(rng, VOCAB, H)
        builders[arch] = (t, _config(arch))
    elif arch == "qwen2":
        builders[arch] = (_llama_like(rng, qkv_bias=True), _config(arch, tie_word_embeddings=True))
    elif arch == "qwen3":
        builders[arch] = (_llama_like(rng, qk_norm=True), _config(arch, tie_word_embeddings=True))
    elif arch == "gemma":
        builders[arch] = (_llama_like(rng), _config(arch))
    elif arch == "gemma2":
        builders[arch] = (_llama_like(rng, gemma2=True), _config(arch))
    elif arch == "gemma3":
        builders[arch] = (_llama_like(rng, gemma2=True, qk_norm=True), _config("gemma3_text"))
    elif arch == "phi3":
        t = _llama_like(rng, fused=True)
        t["lm_head.weight"] = _rand(rng, VOCAB, H)
        builders[arch] = (t, _config(arch))
    elif arch == "mixtral":
        t = _llama_like(rng, moe=True)
        t["lm_head.weight"] = _rand(rng, VOCAB, H)
        builders[arch] = (t, _config(arch, num_local_experts=EXPERTS))
    elif arch == "gpt2":
        builders[arch] = (
            _gpt2(rng),
            {
                "model_type": "gpt2",
                "n_embd": H,
                "n_layer": L,
                "n_head": HEADS,
                "vocab_size": VOCAB,
                "n_inner": FF,
            },
        )
    elif arch == "gpt_neox":
        builders[arch] = (_neox(rng), _config(arch, **full_heads))
    elif arch in ("bert", "roberta", "xlm-roberta"):
        prefix = {"bert": "bert.", "roberta": "roberta.", "xlm-roberta": "roberta."}[arch]
        builders[arch] = (_bert_like(rng, prefix), _config(arch, **full_heads))
    elif arch == "mpnet":
        builders[arch] = (_mpnet(rng), _config(arch, **full_heads))
    elif arch == "nomic_bert":
        builders[arch] = (
            _nomic(rng),
            {
                "model_type": "nomic_bert",
                "n_embd": H,
                "n_layer": L,
                "n_head": HEADS,
                "vocab_size": VOCAB,
                "n_inner": FF,
            },
        )
    else:
        raise ValueError(arch)
    return builders[arch]


def write_hf(folder: Path, tensors: Tensors, config: dict[str, Any], shards: int = 1) -> Path:
    """Write a HF folder: config.json plus one file or ``shards`` files with an index."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    names = sorted(tensors)
    if shards == 1:
        save_file({n: tensors[n] for n in names}, str(folder / "model.safetensors"))
        return folder
    weight_map = {}
    for k in range(shards):
        part = names[k::shards]
        fname = f"model-{k + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in part}, str(folder / fname))
        weight_map.update(dict.fromkeys(part, fname))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    return folder


_GGUF_NAMES = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
    "self_attn.q_norm": "attn_q_norm",
    "self_attn.k_norm": "attn_k_norm",
}


def write_llama_gguf(
    path: Path, tensors: Tensors, qtype: gguf.GGMLQuantizationType, tokens: list[str] | None = None
) -> Path:
    """Convert a synthetic llama state dict to GGUF the way llama.cpp's converter does.

    Q/K rows are permuted per head (``permute`` in ``convert_hf_to_gguf.py``); 2-D weights are stored in
    ``qtype``, 1-D norms in F32.
    """
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(L)
    writer.add_embedding_length(H)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV)
    writer.add_feed_forward_length(FF)
    writer.add_context_length(256)
    words = tokens or [f"tok{i}" for i in range(VOCAB)]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(words)
    writer.add_token_types([1] * len(words))
    for name, value in sorted(tensors.items()):
        base = name.removeprefix("model.").removesuffix(".weight")
        if base == "embed_tokens":
            out = "token_embd"
        elif base == "norm":
            out = "output_norm"
        elif base == "lm_head":
            out = "output"
        else:
            _, idx, rest = base.split(".", 2)
            out = f"blk.{idx}.{_GGUF_NAMES[rest]}"
            if rest == "self_attn.q_proj":
                value = permute_rope_rows(value, HEADS)
            elif rest == "self_attn.k_proj":
                value = permute_rope_rows(value, KV)
        out += ".weight"
        if value.ndim == 1:
            writer.add_tensor(out, value.astype(np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(out, value.astype(np.float16))
        else:
            writer.add_tensor(out, gguf.quants.quantize(value, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
