"""A TINY SYNTHETIC llama (random weights, 2 layers, hidden 32) with a toy byte-level BPE written here.

Nothing is trained: logits are made peaked by unit-scale embeddings so that sampled continuations are
neither uniform nor deterministic. Used to exercise serving and the tests end to end over loopback HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from modeltrace.blackbox.lm import LlamaLM
from modeltrace.blackbox.serve import LocalModel
from modeltrace.lineage.forward import LLAMA, ForwardSpec
from modeltrace.weights.bpe import ByteLevelBPE, bytes_to_unicode

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES_A = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "Ġ s", "r e", "a t", "e n", "Ġ o", "o r"]
MERGES_B = ["e s", "t i", "Ġ w", "a n", "l e", "Ġ c", "s t", "Ġ p", "a r"]
SPEC = ForwardSpec(LLAMA, n_heads=4, n_kv_heads=2, head_dim=8, rope_base=10000.0)
HIDDEN, MLP, LAYERS = 32, 64, 2


def toy_tokenizer(merges: list[str] = MERGES_A) -> ByteLevelBPE:
    """256 byte tokens, the merged tokens, then the specials (eos = <|endoftext|>)."""
    tokens = [bytes_to_unicode()[b] for b in range(256)]
    for m in merges:
        a, b = m.split(" ")
        if a + b not in tokens:
            tokens.append(a + b)
    special = list(range(len(tokens), len(tokens) + len(SPECIALS)))
    tokens += SPECIALS
    return ByteLevelBPE(tokens, merges, special, eos_id=special[0])


def toy_tensors(vocab: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d, q, kv = HIDDEN, SPEC.n_heads * SPEC.head_dim, SPEC.n_kv_heads * SPEC.head_dim

    def w(*dims: int, std: float = 0.25) -> np.ndarray:
        return (rng.standard_normal(dims) * std).astype(np.float32)

    t = {"embed.tokens.weight": w(vocab, d, std=0.6), "final_norm.weight": np.ones(d, np.float32)}
    for i in range(LAYERS):
        p = f"layers.{i}."
        t[p + "attn_norm.weight"] = np.ones(d, np.float32)
        t[p + "mlp_norm.weight"] = np.ones(d, np.float32)
        t[p + "attn.q.weight"], t[p + "attn.k.weight"] = w(q, d), w(kv, d)
        t[p + "attn.v.weight"], t[p + "attn.o.weight"] = w(kv, d), w(d, q)
        t[p + "mlp.gate.weight"], t[p + "mlp.up.weight"], t[p + "mlp.down.weight"] = (
            w(MLP, d),
            w(MLP, d),
            w(d, MLP),
        )
    return t


def noised(t: dict[str, np.ndarray], scale: float, seed: int) -> dict[str, np.ndarray]:
    """Each weight matrix plus Gaussian noise of ``scale`` times its own standard deviation."""
    rng = np.random.default_rng(seed)
    return {
        k: (v + rng.standard_normal(v.shape) * scale * float(v.std())).astype(np.float32)
        if v.ndim == 2
        else v
        for k, v in t.items()
    }


def toy_model(
    seed: int = 0,
    *,
    tensors: dict[str, np.ndarray] | None = None,
    merges: list[str] = MERGES_A,
    name: str = "toy",
) -> LocalModel:
    tok = toy_tokenizer(merges)
    t = tensors if tensors is not None else toy_tensors(len(tok), seed)
    return LocalModel(LlamaLM(t, SPEC, 512), tok, name)


def write_hf_folder(folder: Path, tensors: dict[str, np.ndarray], tok: ByteLevelBPE) -> Path:
    """An HF-layout checkpoint: config.json, model.safetensors (HF names), tokenizer.json."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    hf: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": tensors["embed.tokens.weight"],
        "model.norm.weight": tensors["final_norm.weight"],
    }
    names = {
        "attn_norm": "input_layernorm",
        "mlp_norm": "post_attention_layernorm",
        "attn.q": "self_attn.q_proj",
        "attn.k": "self_attn.k_proj",
        "attn.v": "self_attn.v_proj",
        "attn.o": "self_attn.o_proj",
        "mlp.gate": "mlp.gate_proj",
        "mlp.up": "mlp.up_proj",
        "mlp.down": "mlp.down_proj",
    }
    for i in range(LAYERS):
        for ours, theirs in names.items():
            hf[f"model.layers.{i}.{theirs}.weight"] = tensors[f"layers.{i}.{ours}.weight"]
    save_file({k: np.ascontiguousarray(v) for k, v in hf.items()}, str(folder / "model.safetensors"))
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": SPEC.n_heads,
        "num_key_value_heads": SPEC.n_kv_heads,
        "head_dim": SPEC.head_dim,
        "intermediate_size": MLP,
        "vocab_size": len(tok),
        "rope_theta": SPEC.rope_base,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": True,
        "hidden_act": "silu",
        "max_position_embeddings": 512,
    }
    (folder / "config.json").write_text(json.dumps(config))
    n_plain = len(tok) - len(SPECIALS)
    tj = {
        "model": {
            "type": "BPE",
            "vocab": {t: i for i, t in enumerate(tok.tokens[:n_plain])},
            "merges": [f"{a} {b}" for (a, b), _ in sorted(tok.ranks.items(), key=lambda kv: kv[1])],
        },
        "added_tokens": [{"id": n_plain + j, "content": s, "special": True} for j, s in enumerate(SPECIALS)],
        "pre_tokenizer": {"type": "ByteLevel"},
    }
    (folder / "tokenizer.json").write_text(json.dumps(tj))
    return folder
