"""Canonical roles: what each stored tensor *is*, whatever the architecture and the format called it.

A canonical name says the role, the layer and the parameter, e.g. ``layers.3.attn.q.weight``,
``layers.3.mlp_norm.weight``, ``layers.3.moe.experts.5.down.weight``, ``embed.tokens.weight``. The
canonical tensor is the one Hugging Face ``transformers`` would hold for that parameter, in PyTorch
layout ``[out, in]``: fused projections are split, GPT-2's Conv1D weights transposed, llama.cpp's
per-head Q/K row permutation undone, Gemma's stored ``1 + w`` norm gains turned back into ``w``. The
gain a norm actually multiplies by (``1 + w`` for Gemma) is the canonical tensor plus
``RoleBinding.gain_offset``.

Layer roles (``layers.N.`` prefix; encoder-decoder models use ``encoder.layers.N.`` / ``decoder.layers.N.``):

========================  =====================================================================
``attn.q|k|v|o``          attention projections (``xattn.*`` for cross-attention)
``attn.q_norm|k_norm``    per-head norms on queries/keys (Qwen3, Gemma 3)
``attn_norm``             pre-norm before attention
``mlp_norm``              pre-norm before the MLP
``post_attn_norm``        norm on the attention output before the residual add (Gemma 2/3)
``post_mlp_norm``         norm on the MLP output before the residual add (Gemma 2/3)
``attn_residual_norm``    post-LN on the residual stream after attention (BERT family)
``mlp_residual_norm``     post-LN on the residual stream after the MLP (BERT family)
``mlp.gate|up|down``      MLP; a non-gated MLP has only ``up`` (in) and ``down`` (out)
``moe.router``            MoE router; ``moe.experts.E.gate|up|down``; ``moe.shared.*``, ``moe.shared_gate``
========================  =====================================================================

Global roles: ``embed.tokens``, ``embed.positions``, ``embed.token_types``, ``embed.norm``,
``final_norm``, ``lm_head``, ``pooler``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from modeltrace.weights.source import Float32Array, TensorInfo

RMS, LAYER = "rmsnorm", "layernorm"


@dataclass(frozen=True)
class NormInfo:
    """What a norm computes and where it sits."""

    kind: str  #: ``rmsnorm`` or ``layernorm``
    placement: str  #: ``pre`` (sublayer input), ``post`` (sublayer output), ``residual`` (post-LN)


@dataclass(frozen=True)
class RoleBinding:
    """How to produce one canonical tensor from one stored tensor."""

    canonical: str
    source: str
    role: str  #: the role without layer and parameter, e.g. ``attn.q`` or ``mlp_norm``
    layer: int | None
    param: str  #: ``weight`` or ``bias``
    stack: str = "layers"
    expert: int | None = None
    transpose: bool = False
    #: Which rows of the (transposed) stored tensor: a fused projection split into parts.
    rows: tuple[int, int] | None = None
    #: GPT-NeoX fuses q/k/v per head: (n_heads, part index 0..2, head_dim).
    neox_part: tuple[int, int, int] | None = None
    #: Undo llama.cpp's per-head RoPE row interleave with this many heads.
    unpermute_heads: int | None = None
    #: Added to the stored value to get the canonical one (GGUF Gemma norms store 1 + w: -1).
    value_offset: float = 0.0
    #: Added to the canonical value to get the gain the norm multiplies by (Gemma: 1).
    gain_offset: float = 0.0
    norm: NormInfo | None = None
    fused: bool = False
    guessed: bool = False

    def apply(self, stored: Float32Array) -> Float32Array:
        """Turn the stored float32 tensor into the canonical one."""
        out = stored
        if self.expert is not None:
            out = out[self.expert]
        if self.transpose:
            out = out.T
        if self.neox_part is not None:
            heads, part, head_dim = self.neox_part
            grouped = out.reshape(heads, 3, head_dim, *out.shape[1:])
            out = grouped[:, part].reshape(heads * head_dim, *out.shape[1:])
        if self.rows is not None:
            out = out[self.rows[0] : self.rows[1]]
        if self.unpermute_heads is not None:
            out = unpermute_rope_rows(out, self.unpermute_heads)
        out = np.ascontiguousarray(out, dtype=np.float32)
        if self.value_offset:
            out = out + np.float32(self.value_offset)
        return out


def unpermute_rope_rows(rows: Float32Array, n_heads: int) -> Float32Array:
    """Undo llama.cpp's ``permute``: per head, interleaved RoPE pairs back to HF's half-split order.

    llama.cpp's converter maps HF rows ``(head, half, i)`` to ``(head, i, half)``; we reverse that.
    """
    out_dim = rows.shape[0]
    head_dim = out_dim // n_heads
    shaped = rows.reshape(n_heads, head_dim // 2, 2, *rows.shape[1:])
    return np.ascontiguousarray(shaped.swapaxes(1, 2).reshape(rows.shape))


def permute_rope_rows(rows: Float32Array, n_heads: int) -> Float32Array:
    """What llama.cpp's converter does (used by tests and by writers that emit GGUF)."""
    out_dim = rows.shape[0]
    head_dim = out_dim // n_heads
    shaped = rows.reshape(n_heads, 2, head_dim // 2, *rows.shape[1:])
    return np.ascontiguousarray(shaped.swapaxes(1, 2).reshape(rows.shape))


@dataclass(frozen=True)
class Dimensions:
    """What the role mapper needs to know to split fused tensors and undo permutations."""

    hidden: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    head_dim: int | None = None


@dataclass
class RoleMap:
    """The result of mapping one model's tensors to roles."""

    bindings: dict[str, RoleBinding] = field(default_factory=dict)
    #: Stored tensors given no role, with the reason (buffers, unknown names).
    unassigned: dict[str, str] = field(default_factory=dict)
    #: True when some role came from the shape-based fallback.
    guessed: bool = False

    def add(self, binding: RoleBinding) -> None:
        self.bindings[binding.canonical] = binding


# ---------------------------------------------------------------------------------------------
# Name tables. Each entry maps a per-layer suffix (after ``<stack>.<N>.``) to (role, param-kind).
# ``@`` in a role marks a fused tensor handled by a splitter.

_HF_LAYER: dict[str, str] = {
    # llama, mistral, qwen2/3, gemma*, phi3, mixtral, qwen-moe
    "self_attn.q_proj": "attn.q",
    "self_attn.k_proj": "attn.k",
    "self_attn.v_proj": "attn.v",
    "self_attn.o_proj": "attn.o",
    "self_attn.qkv_proj": "@qkv",
    "self_attn.q_norm": "attn.q_norm",
    "self_attn.k_norm": "attn.k_norm",
    "mlp.gate_proj": "mlp.gate",
    "mlp.up_proj": "mlp.up",
    "mlp.down_proj": "mlp.down",
    "mlp.gate_up_proj": "@gate_up",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "@post_attention_layernorm",
    "pre_feedforward_layernorm": "mlp_norm",
    "post_feedforward_layernorm": "post_mlp_norm",
    "block_sparse_moe.gate": "moe.router",
    "mlp.gate": "moe.router",
    "mlp.shared_expert_gate": "moe.shared_gate",
    "mlp.shared_expert.gate_proj": "moe.shared.gate",
    "mlp.shared_expert.up_proj": "moe.shared.up",
    "mlp.shared_expert.down_proj": "moe.shared.down",
    # gpt2 (Conv1D: stored [in, out])
    "ln_1": "attn_norm",
    "ln_2": "mlp_norm",
    "attn.c_attn": "@qkv^T",
    "attn.c_proj": "attn.o^T",
    "mlp.c_fc": "mlp.up^T",
    "mlp.c_proj": "mlp.down^T",
    # gpt_neox
    "attention.query_key_value": "@neox_qkv",
    "attention.dense": "attn.o",
    "mlp.dense_h_to_4h": "mlp.up",
    "mlp.dense_4h_to_h": "mlp.down",
    # bert, roberta, xlm-roberta
    "attention.self.query": "attn.q",
    "attention.self.key": "attn.k",
    "attention.self.value": "attn.v",
    "attention.output.dense": "attn.o",
    "attention.output.LayerNorm": "attn_residual_norm",
    "intermediate.dense": "mlp.up",
    "output.dense": "mlp.down",
    "output.LayerNorm": "mlp_residual_norm",
    # mpnet
    "attention.attn.q": "attn.q",
    "attention.attn.k": "attn.k",
    "attention.attn.v": "attn.v",
    "attention.attn.o": "attn.o",
    "attention.LayerNorm": "attn_residual_norm",
    # nomic-bert
    "attn.Wqkv": "@qkv",
    "attn.out_proj": "attn.o",
    "mlp.fc11": "mlp.up",
    "mlp.fc12": "mlp.gate",
    "mlp.fc1": "mlp.up",
    "mlp.fc2": "mlp.down",
    "norm1": "attn_residual_norm",
    "norm2": "mlp_residual_norm",
    # whisper (pre-LN encoder-decoder)
    "self_attn.out_proj": "attn.o",
    "self_attn_layer_norm": "attn_norm",
    "encoder_attn.q_proj": "xattn.q",
    "encoder_attn.k_proj": "xattn.k",
    "encoder_attn.v_proj": "xattn.v",
    "encoder_attn.out_proj": "xattn.o",
    "encoder_attn_layer_norm": "xattn_norm",
    "fc1": "mlp.up",
    "fc2": "mlp.down",
    "final_layer_norm": "mlp_norm",
}

_HF_EXPERT = re.compile(r"(?:block_sparse_moe|mlp)\.experts\.(\d+)\.(w1|w2|w3|gate_proj|up_proj|down_proj)")
_EXPERT_PART = {
    "w1": "gate",
    "w3": "up",
    "w2": "down",
    "gate_proj": "gate",
    "up_proj": "up",
    "down_proj": "down",
}

_HF_GLOBAL: dict[str, str] = {
    "embed_tokens": "embed.tokens",
    "wte": "embed.tokens",
    "embed_in": "embed.tokens",
    "embeddings.word_embeddings": "embed.tokens",
    "wpe": "embed.positions",
    "embeddings.position_embeddings": "embed.positions",
    "embeddings.token_type_embeddings": "embed.token_types",
    "embeddings.LayerNorm": "embed.norm",
    "emb_ln": "embed.norm",
    "norm": "final_norm",
    "ln_f": "final_norm",
    "final_layer_norm": "final_norm",
    "lm_head": "lm_head",
    "embed_out": "lm_head",
    "pooler.dense": "pooler",
    "encoder.embed_tokens": "embed.tokens",
    "decoder.embed_tokens": "embed.tokens",
    "encoder.embed_positions": "encoder.embed.positions",
    "decoder.embed_positions": "embed.positions",
    "encoder.layer_norm": "encoder.final_norm",
    "decoder.layer_norm": "final_norm",
    "encoder.conv1": "encoder.conv1",
    "encoder.conv2": "encoder.conv2",
}

_GGUF_LAYER: dict[str, str] = {
    "attn_q": "attn.q",
    "attn_k": "attn.k",
    "attn_v": "attn.v",
    "attn_output": "attn.o",
    "attn_qkv": "@qkv",
    "attn_q_norm": "attn.q_norm",
    "attn_k_norm": "attn.k_norm",
    "attn_norm": "attn_norm",
    "ffn_norm": "mlp_norm",
    "post_attention_norm": "post_attn_norm",
    "attn_post_norm": "post_attn_norm",
    "post_ffw_norm": "post_mlp_norm",
    "ffn_post_norm": "post_mlp_norm",
    "attn_output_norm": "attn_residual_norm",
    "layer_output_norm": "mlp_residual_norm",
    "ffn_gate": "mlp.gate",
    "ffn_up": "mlp.up",
    "ffn_down": "mlp.down",
    "ffn_gate_inp": "moe.router",
    "ffn_gate_exps": "@experts.gate",
    "ffn_up_exps": "@experts.up",
    "ffn_down_exps": "@experts.down",
    "ffn_gate_shexp": "moe.shared.gate",
    "ffn_up_shexp": "moe.shared.up",
    "ffn_down_shexp": "moe.shared.down",
    "ffn_gate_inp_shexp": "moe.shared_gate",
}

_GGUF_GLOBAL: dict[str, str] = {
    "token_embd": "embed.tokens",
    "position_embd": "embed.positions",
    "token_types": "embed.token_types",
    "token_embd_norm": "embed.norm",
    "output_norm": "final_norm",
    "output": "lm_head",
}

#: Stored tensors that are buffers or caches, not parameters.
_BUFFER = re.compile(
    r"(^|\.)(position_ids|inv_freq|masked_bias|attn\.bias|attention\.bias|rope_freqs|"
    r"rotary_emb\.inv_freq|num_batches_tracked)(\.weight)?$"
)
#: Prefixes wrappers put in front of the names we know.
_PREFIXES = (
    "model.language_model.",
    "language_model.model.",
    "language_model.",
    "model.",
    "transformer.",
    "gpt_neox.",
    "bert.",
    "roberta.",
    "xlm_roberta.",
    "mpnet.",
    "base_model.",
    "backbone.",
)
_HF_LAYER_RE = re.compile(r"(?:(encoder|decoder)\.)?(?:layers|layer|h|blocks)\.(\d+)\.(.+)")
_GGUF_LAYER_RE = re.compile(r"blk\.(\d+)\.(.+)")
_PARAM_RE = re.compile(r"(.+)\.(weight|bias|gamma|beta|scale)$")
_PARAM_ALIAS = {"gamma": "weight", "beta": "bias", "scale": "weight"}

#: GGUF architectures whose converter interleaves Q/K rows for RoPE (llama.cpp ``LlamaModel``).
GGUF_ROPE_PERMUTED = frozenset({"llama", "mistral", "granite", "granitemoe", "deci"})
#: GGUF architectures that store a fused gate+up projection as ``ffn_up``.
GGUF_FUSED_UP = frozenset({"phi3", "phi4"})
#: Architectures whose RMSNorm multiplies by ``1 + w``.
GEMMA_FAMILY = frozenset({"gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n"})
#: Architectures that are post-LN (norms on the residual stream).
POST_LN_FAMILY = frozenset(
    {"bert", "roberta", "xlm-roberta", "mpnet", "nomic_bert", "nomic-bert", "distilbert"}
)
ENCODER_DECODER = frozenset({"whisper", "bart", "mbart", "marian", "t5"})
_LAYERNORM_FAMILY = frozenset({"gpt2", "gpt_neox", "whisper", "phi", "starcoder", "falcon", "bloom"})


def strip_prefix(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if name.startswith(prefix) and len(name) > len(prefix):
                name = name[len(prefix) :]
                changed = True
    return name


def norm_kind(architecture: str) -> str:
    arch = architecture.lower()
    if arch in POST_LN_FAMILY or arch in _LAYERNORM_FAMILY:
        return LAYER
    return RMS


def map_roles(
    infos: Sequence[TensorInfo],
    architecture: str,
    dims: Dimensions,
    *,
    gguf: bool = False,
) -> RoleMap:
    """Assign a canonical role to each stored tensor; unknown names fall back to a shape guess."""
    arch = architecture.lower()
    result = RoleMap()
    names = {info.name for info in infos}
    has_pre_ffn = any(
        n.endswith(("pre_feedforward_layernorm.weight", "ffn_norm.weight")) for n in names
    ) and any("post_feedforward_layernorm" in n or "post_ffw_norm" in n for n in names)
    # llama.cpp keeps Phi-3's fused gate_up as "ffn_up" (twice the MLP width) with no "ffn_gate".
    fused_up = gguf and not any(".ffn_gate." in n for n in names) and arch in GGUF_FUSED_UP
    context = _Context(arch, dims, gguf, has_pre_ffn, fused_up)
    leftovers: list[TensorInfo] = []
    for info in infos:
        if _BUFFER.search(info.name) or not info.is_float:
            result.unassigned[info.name] = "buffer or integer tensor, not a parameter"
            continue
        bindings = _bind(info, context)
        if bindings is None:
            leftovers.append(info)
            continue
        for binding in bindings:
            result.add(binding)
    if leftovers:
        _guess_by_shape(leftovers, result, context)
    return result


@dataclass(frozen=True)
class _Context:
    arch: str
    dims: Dimensions
    gguf: bool
    gemma_post_norms: bool
    fused_up: bool = False

    @property
    def norm(self) -> str:
        return norm_kind(self.arch)


def _split_param(name: str) -> tuple[str, str]:
    match = _PARAM_RE.fullmatch(name)
    if match is None:
        return name, "weight"
    return match.group(1), _PARAM_ALIAS.get(match.group(2), match.group(2))


def _bind(info: TensorInfo, ctx: _Context) -> list[RoleBinding] | None:
    base, param = _split_param(strip_prefix(info.name) if not ctx.gguf else info.name)
    if ctx.gguf:
        layer_match = _GGUF_LAYER_RE.fullmatch(base)
        if layer_match:
            role = _GGUF_LAYER.get(layer_match.group(2))
            return _layer_bindings(info, ctx, role, int(layer_match.group(1)), "layers", param)
        role = _GGUF_GLOBAL.get(base)
        return None if role is None else [_global_binding(info, ctx, role, param)]
    layer_match = _HF_LAYER_RE.fullmatch(base)
    if layer_match:
        # Only encoder-decoder models have two stacks; BERT's "encoder.layer.N" is the only stack.
        two_stacks = layer_match.group(1) and ctx.arch in ENCODER_DECODER
        stack = f"{layer_match.group(1)}.layers" if two_stacks else "layers"
        layer, suffix = int(layer_match.group(2)), layer_match.group(3)
        expert = _HF_EXPERT.fullmatch(suffix)
        if expert:
            role = f"moe.experts.{expert.group(1)}.{_EXPERT_PART[expert.group(2)]}"
            return [_binding(info, ctx, role, layer, stack, param)]
        return _layer_bindings(info, ctx, _HF_LAYER.get(suffix), layer, stack, param)
    role = _HF_GLOBAL.get(base)
    return None if role is None else [_global_binding(info, ctx, role, param)]


def _norm_info(role: str, ctx: _Context) -> NormInfo | None:
    if role in ("attn_norm", "mlp_norm", "xattn_norm", "final_norm", "attn.q_norm", "attn.k_norm"):
        return NormInfo(ctx.norm, "pre")
    if role in ("post_attn_norm", "post_mlp_norm"):
        return NormInfo(ctx.norm, "post")
    if role in ("attn_residual_norm", "mlp_residual_norm", "embed.norm"):
        placement = "residual" if ctx.arch in POST_LN_FAMILY or role != "embed.norm" else "pre"
        return NormInfo(LAYER if ctx.arch in POST_LN_FAMILY else ctx.norm, placement)
    if role.endswith("final_norm"):
        return NormInfo(ctx.norm, "pre")
    return None


def _binding(
    info: TensorInfo, ctx: _Context, role: str, layer: int | None, stack: str, param: str, **extra: object
) -> RoleBinding:
    prefix = f"{stack}.{layer}." if layer is not None else ""
    norm = _norm_info(role, ctx)
    offsets: dict[str, float] = {}
    if norm is not None and param == "weight" and ctx.arch in GEMMA_FAMILY:
        offsets = {"gain_offset": 1.0, "value_offset": -1.0 if ctx.gguf else 0.0}
    binding = RoleBinding(
        canonical=f"{prefix}{role}.{param}",
        source=info.name,
        role=role,
        layer=layer,
        param=param,
        stack=stack,
        norm=norm,
        **offsets,  # type: ignore[arg-type]
    )
    return replace(binding, **extra) if extra else binding  # type: ignore[arg-type]


def _global_binding(info: TensorInfo, ctx: _Context, role: str, param: str) -> RoleBinding:
    return _binding(info, ctx, role, None, "layers", param)


def _layer_bindings(
    info: TensorInfo, ctx: _Context, role: str | None, layer: int, stack: str, param: str
) -> list[RoleBinding] | None:
    if role is None:
        return None
    if role == "@post_attention_layernorm":
        # Gemma 2/3 have a real post-attention norm; elsewhere this is the pre-MLP norm.
        role = (
            "post_attn_norm" if ctx.gemma_post_norms or ctx.arch in GEMMA_FAMILY - {"gemma"} else "mlp_norm"
        )
    if role == "mlp.up" and ctx.fused_up:
        role = "@gate_up"
    transpose = role.endswith("^T")
    role = role.removesuffix("^T")
    if role.startswith("@"):
        return _split_fused(info, ctx, role[1:], layer, stack, param, transpose)
    binding = _binding(info, ctx, role, layer, stack, param, transpose=transpose and param == "weight")
    if ctx.gguf and ctx.arch in GGUF_ROPE_PERMUTED and role in ("attn.q", "attn.k"):
        heads = ctx.dims.n_heads if role == "attn.q" else (ctx.dims.n_kv_heads or ctx.dims.n_heads)
        if heads:
            binding = replace(binding, unpermute_heads=heads)
    return [binding]


def _qkv_sizes(info: TensorInfo, ctx: _Context, transpose: bool) -> tuple[int, int, int]:
    total = info.shape[-1] if transpose else info.shape[0]
    dims = ctx.dims
    if dims.n_heads and dims.head_dim:
        q = dims.n_heads * dims.head_dim
        kv = (dims.n_kv_heads or dims.n_heads) * dims.head_dim
        if q + 2 * kv == total:
            return q, kv, kv
    return total // 3, total // 3, total // 3


def _split_fused(
    info: TensorInfo, ctx: _Context, kind: str, layer: int, stack: str, param: str, transpose: bool
) -> list[RoleBinding]:
    transpose = transpose and param == "weight"
    if kind.startswith("experts."):
        part = kind.split(".", 1)[1]
        n_experts = info.shape[0] if len(info.shape) == 3 else 0
        return [
            _binding(info, ctx, f"moe.experts.{e}.{part}", layer, stack, param, expert=e, fused=True)
            for e in range(n_experts)
        ]
    if kind == "neox_qkv":
        heads = ctx.dims.n_heads or 1
        head_dim = info.shape[0] // (3 * heads)
        return [
            _binding(
                info, ctx, f"attn.{part}", layer, stack, param, neox_part=(heads, index, head_dim), fused=True
            )
            for index, part in enumerate("qkv")
        ]
    sizes: tuple[int, ...]
    parts: tuple[str, ...]
    if kind == "qkv":
        sizes = _qkv_sizes(info, ctx, transpose)
        parts = ("attn.q", "attn.k", "attn.v")
    else:  # gate_up: two equal halves, gate first (phi3)
        total = info.shape[-1] if transpose else info.shape[0]
        sizes = (total // 2, total // 2)
        parts = ("mlp.gate", "mlp.up")
    bindings, start = [], 0
    for part, size in zip(parts, sizes, strict=True):
        bindings.append(
            _binding(
                info,
                ctx,
                part,
                layer,
                stack,
                param,
                rows=(start, start + size),
                transpose=transpose,
                fused=True,
            )
        )
        start += size
    return bindings


# ---------------------------------------------------------------------------------------------
# Shape-based fallback for names we do not know.

_LAYER_NUMBER = re.compile(r"(\d+)")


def _guess_by_shape(infos: Iterable[TensorInfo], result: RoleMap, ctx: _Context) -> None:
    infos = list(infos)
    hidden = ctx.dims.hidden or _most_common_width(infos)
    counters: dict[tuple[int | None, str], int] = {}
    for info in infos:
        role = _shape_role(info, hidden)
        if role is None or hidden is None:
            result.unassigned[info.name] = "unknown name and no shape rule applies"
            continue
        match = _LAYER_NUMBER.search(info.name)
        layer = int(match.group(1)) if match and not role.startswith(("embed", "lm_head")) else None
        key = (layer, role)
        counters[key] = counters.get(key, 0) + 1
        if counters[key] > 1 or (layer is None and (None, role) in counters and role != "embed.tokens"):
            role = f"{role}#{counters[key]}"
        _, param = _split_param(info.name)
        binding = _binding(info, ctx, role, layer, "layers", param, guessed=True)
        if binding.canonical in result.bindings:
            result.unassigned[info.name] = f"shape guess {role} collides with a named tensor"
            continue
        result.add(binding)
        result.guessed = True


def _most_common_width(infos: Sequence[TensorInfo]) -> int | None:
    counts: dict[int, int] = {}
    for info in infos:
        if len(info.shape) == 1:
            counts[info.shape[0]] = counts.get(info.shape[0], 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


def _shape_role(info: TensorInfo, hidden: int | None) -> str | None:
    if hidden is None:
        return None
    shape = info.shape
    if len(shape) == 1:
        return "norm" if shape[0] == hidden else None
    if len(shape) != 2:
        return None
    rows, cols = shape
    if cols == hidden and rows > 8 * hidden:
        return "embed.tokens"
    if rows == cols == hidden:
        return "attn.proj"
    if cols == hidden and rows > hidden:
        return "mlp.up"
    if rows == hidden and cols > hidden:
        return "mlp.down"
    if cols == hidden:
        return "attn.proj"
    return None


def config_dims(config: Mapping[str, object]) -> Dimensions:
    """Pull the numbers the role mapper needs from a HF-style config."""

    def first_int(*keys: str) -> int | None:
        for key in keys:
            value = config.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return None

    hidden = first_int("hidden_size", "n_embd", "d_model", "dim")
    heads = first_int("num_attention_heads", "n_head", "encoder_attention_heads")
    kv = first_int("num_key_value_heads", "n_head_kv", "num_kv_heads") or heads
    head_dim = first_int("head_dim") or (hidden // heads if hidden and heads else None)
    return Dimensions(hidden=hidden, n_heads=heads, n_kv_heads=kv, head_dim=head_dim)
