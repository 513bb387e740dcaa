"""The attack suite: derived variants of a base model, built on canonical tensors, for evaluating ``compare``.

Every attack takes a dict of canonical tensors (see :mod:`.forward`; norm entries hold the gains the
norms multiply by) and returns a new dict; the input is never modified. Attacks are of two kinds:

**Function-preserving** (the model computes the same outputs, up to float rounding; tests prove it with
:func:`.forward.max_output_change`). An evader uses them to make every weight look unrelated index by
index while keeping the stolen model's behaviour. Each has the signature ``(tensors, spec, rng)``:

- :func:`permute_mlp_neurons` — reorder hidden units (gate/up rows and down columns alike);
- :func:`permute_heads` — reorder KV groups, and query heads within their group (GQA-safe);
- :func:`fold_and_rotate` — fold every RMSNorm gain into the next linear map, then rotate the residual
  stream by a random orthogonal matrix (llama family only: RMSNorm commutes with a rotation once its
  gain is 1; BERT's post-LN LayerNorm does not);
- :func:`scale_qk_pairs` — scale each RoPE pair of queries by ``a`` and the matching key pair by ``1/a``;
- :func:`scale_vo_heads` — map each value head by an invertible matrix ``M`` and the output columns
  that read it by ``M⁻¹``;
- :func:`scale_mlp_neurons` — scale up-projection rows by ``s`` and down columns by ``1/s`` (SwiGLU is
  linear in its up branch; GELU's MLP is not, so BERT refuses it).

**Lossy** (the function changes; lineage must still be found): :func:`add_noise`, :func:`int8_round_trip`,
:func:`int4_round_trip`, :func:`gguf_round_trip` (Q4_K), :func:`magnitude_prune`, :func:`drop_layers`,
:func:`prune_mlp_width`, :func:`extend_vocabulary`, :func:`prune_vocabulary`, :func:`merge_lora`,
:func:`average_with` (with :func:`random_like` or a trained independent model),
:func:`transplant_embeddings` and :func:`finetune`.

Writers put the result back on disk where ``compare`` can open it: :func:`write_gguf_llama` (llama.cpp
names and Q/K row order, F32, with a GGUF vocabulary), :func:`write_hf_llama` (safetensors under
Hugging Face names, ``config.json`` and a minimal byte-level BPE ``tokenizer.json``) and
:func:`write_hf_bert` (safetensors, ``config.json``, ``vocab.txt``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from modeltrace.lineage.forward import BERT, LLAMA, ForwardSpec, Tensors, layer_indices
from modeltrace.weights.model import Model
from modeltrace.weights.roles import permute_rope_rows
from modeltrace.weights.source import Float32Array

Attack = Callable[[Tensors, ForwardSpec, np.random.Generator], Tensors]

_READERS_LLAMA = ("attn.q", "attn.k", "attn.v", "mlp.gate", "mlp.up")
_WRITERS = ("attn.o", "mlp.down")
_EMBEDDINGS = ("embed.tokens.weight", "lm_head.weight")


def _f32(array: np.ndarray) -> Float32Array:
    return np.ascontiguousarray(array, dtype=np.float32)


def _log_uniform(rng: np.random.Generator, spread: float, size: int | tuple[int, ...]) -> np.ndarray:
    """Factors between 1/spread and spread, log-uniform: large rescalings are the hard case."""
    return np.exp(rng.uniform(-np.log(spread), np.log(spread), size))


def _require(spec: ForwardSpec, family: str, attack: str, why: str) -> None:
    if spec.family != family:
        raise ValueError(f"{attack} is not function-preserving for {spec.family} models: {why}")


# ---------------------------------------------------------------------------------------------------
# Function-preserving
# ---------------------------------------------------------------------------------------------------


def permute_mlp_neurons(tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator) -> Tensors:
    """Function-preserving: a random order of each layer's MLP hidden units.

    Hidden units are exchangeable: permuting the rows of gate and up (and their biases) and the
    columns of down by one permutation changes no output.
    """
    out = dict(tensors)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}.mlp."
        order = rng.permutation(tensors[p + "up.weight"].shape[0])
        for name in ("gate.weight", "gate.bias", "up.weight", "up.bias"):
            if p + name in tensors:
                out[p + name] = _f32(tensors[p + name][order])
        out[p + "down.weight"] = _f32(tensors[p + "down.weight"][:, order])
    return out


def head_order(spec: ForwardSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random (query-head order, KV-head order) that keeps every query head with its KV head.

    KV groups move as wholes; inside a group the query heads are shuffled. With ``new[j] = old[order[j]]``
    for both, query head j still reads KV head ``j // group``.
    """
    group = spec.n_heads // spec.n_kv_heads
    kv_order = rng.permutation(spec.n_kv_heads)
    q_order = np.concatenate([g * group + rng.permutation(group) for g in kv_order])
    return q_order, kv_order


def _head_rows(order: np.ndarray, head_dim: int) -> np.ndarray:
    return (order[:, None] * head_dim + np.arange(head_dim)[None, :]).ravel()


def permute_heads(tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator) -> Tensors:
    """Function-preserving: attention heads reordered per layer, respecting GQA groups.

    Rows of q (per query head) and of k and v (per KV head) move with their biases; the columns of o
    move with the query heads that feed them.
    """
    out = dict(tensors)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}.attn."
        q_order, kv_order = head_order(spec, rng)
        q_rows, kv_rows = _head_rows(q_order, spec.head_dim), _head_rows(kv_order, spec.head_dim)
        for name, rows in (("q", q_rows), ("k", kv_rows), ("v", kv_rows)):
            for param in ("weight", "bias"):
                if f"{p}{name}.{param}" in tensors:
                    out[f"{p}{name}.{param}"] = _f32(tensors[f"{p}{name}.{param}"][rows])
        out[p + "o.weight"] = _f32(tensors[p + "o.weight"][:, q_rows])
    return out


def fold_norms(tensors: Tensors, spec: ForwardSpec) -> Tensors:
    """Function-preserving (llama family): every RMSNorm gain multiplied into the columns it feeds.

    ``W·(g ⊙ n(x)) = (W·diag g)·n(x)``. A tied head gets its own folded copy (``lm_head.weight``): the
    input embedding must not see the final norm's gain, so the result is untied.
    """
    _require(spec, LLAMA, "norm folding", "post-LN norms also scale the residual stream")
    out = dict(tensors)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}."
        for norm, targets in (
            ("attn_norm", ("attn.q", "attn.k", "attn.v")),
            ("mlp_norm", ("mlp.gate", "mlp.up")),
        ):
            gain = tensors[p + norm + ".weight"]
            for target in targets:
                out[p + target + ".weight"] = _f32(tensors[p + target + ".weight"] * gain[None, :])
            out[p + norm + ".weight"] = np.ones_like(gain)
    head = tensors.get("lm_head.weight", tensors["embed.tokens.weight"])
    gain = tensors["final_norm.weight"]
    out["lm_head.weight"] = _f32(head * gain[None, :])
    out["final_norm.weight"] = np.ones_like(gain)
    return out


def random_orthogonal(width: int, rng: np.random.Generator) -> Float32Array:
    """A Haar-random orthogonal matrix (QR of a Gaussian with the signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((width, width)))
    return _f32(q * np.sign(np.diag(r))[None, :])


def rotate_residual(tensors: Tensors, spec: ForwardSpec, rotation: Float32Array) -> Tensors:
    """Function-preserving once every norm gain is 1 (see :func:`fold_norms`): the residual stream x → x·Q.

    Readers ``W → W·Q``, writers ``W → Qᵀ·W`` (and their biases ``b → b·Q``), embeddings and head
    ``E → E·Q``. RMSNorm with unit gain commutes with Q because ‖x·Q‖ = ‖x‖.
    """
    _require(spec, LLAMA, "residual rotation", "LayerNorm centring and post-LN do not commute with Q")
    gains = [v for n, v in tensors.items() if n.endswith("norm.weight")]
    if any(not np.allclose(g, 1.0) for g in gains):
        raise ValueError("rotate_residual needs unit norm gains: call fold_norms first")
    q = rotation.astype(np.float64)
    out = dict(tensors)
    for name in _EMBEDDINGS:
        if name in tensors:
            out[name] = _f32(tensors[name] @ q)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}."
        for reader in _READERS_LLAMA:
            out[p + reader + ".weight"] = _f32(tensors[p + reader + ".weight"] @ q)
        for writer in _WRITERS:
            out[p + writer + ".weight"] = _f32(q.T @ tensors[p + writer + ".weight"])
            if p + writer + ".bias" in tensors:
                out[p + writer + ".bias"] = _f32(tensors[p + writer + ".bias"] @ q)
    return out


def fold_and_rotate(tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator) -> Tensors:
    """Function-preserving (llama family): :func:`fold_norms`, then a Haar-random residual rotation."""
    folded = fold_norms(tensors, spec)
    return rotate_residual(folded, spec, random_orthogonal(folded["embed.tokens.weight"].shape[1], rng))


def _pair_index(spec: ForwardSpec) -> np.ndarray:
    """For each dimension of a head, which RoPE pair it belongs to (HF half-split: i and i + hd/2)."""
    half = spec.head_dim // 2
    return np.concatenate([np.arange(half), np.arange(half)])


def scale_qk_pairs(
    tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator, spread: float = 10.0
) -> Tensors:
    """Function-preserving: per KV head and RoPE pair, queries × a and keys ÷ a (a log-uniform in [1/s, s]).

    RoPE rotates each pair of dimensions; a scalar on both members of a pair commutes with that
    rotation, and ``(a·q)·(k/a)`` is unchanged. Under GQA the factor of a KV head applies to every query
    head of its group. (BERT has no RoPE: the same per-dimension scaling is preserving there too.)
    """
    out = dict(tensors)
    group = spec.n_heads // spec.n_kv_heads
    pair = _pair_index(spec)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}.attn."
        factors = _log_uniform(rng, spread, (spec.n_kv_heads, spec.head_dim // 2))[:, pair]  # [kv, hd]
        k_scale = (1.0 / factors).ravel()
        q_scale = np.repeat(factors, group, axis=0).ravel()
        for name, scale in (("q", q_scale), ("k", k_scale)):
            out[f"{p}{name}.weight"] = _f32(tensors[f"{p}{name}.weight"] * scale[:, None])
            if f"{p}{name}.bias" in tensors:
                out[f"{p}{name}.bias"] = _f32(tensors[f"{p}{name}.bias"] * scale)
    return out


def _invertible(rng: np.random.Generator, size: int, spread: float, rotate: bool) -> np.ndarray:
    """diag(s)·R: log-uniform scales times (optionally) a random rotation; condition number ≤ spread²."""
    scales = _log_uniform(rng, spread, size)
    if not rotate:
        return np.diag(scales)
    return scales[:, None] * random_orthogonal(size, rng).astype(np.float64)


def scale_vo_heads(
    tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator, spread: float = 10.0, rotate: bool = True
) -> Tensors:
    """Function-preserving: each value head mapped by an invertible M, the o columns reading it by M⁻¹.

    A head's output is ``Σ a·v`` and reaches the residual through its block of o columns, so
    ``v → M·v`` with ``W_o,h → W_o,h·M⁻¹`` cancels. ``rotate=False`` gives a pure per-dimension scaling;
    the default also mixes dimensions (the general per-head map). Under GQA every query head of a
    group reads the same value head, so all their o blocks take that group's M⁻¹.
    """
    out = dict(tensors)
    hd, group = spec.head_dim, spec.n_heads // spec.n_kv_heads
    for layer in layer_indices(tensors):
        p = f"layers.{layer}.attn."
        v = tensors[p + "v.weight"].astype(np.float64).copy()
        o = tensors[p + "o.weight"].astype(np.float64).copy()
        bias = tensors[p + "v.bias"].astype(np.float64).copy() if p + "v.bias" in tensors else None
        for g in range(spec.n_kv_heads):
            m = _invertible(rng, hd, spread, rotate)
            rows = slice(g * hd, (g + 1) * hd)
            v[rows] = m @ v[rows]
            if bias is not None:
                bias[rows] = m @ bias[rows]
            inverse = np.linalg.inv(m)
            for h in range(g * group, (g + 1) * group):
                o[:, h * hd : (h + 1) * hd] = o[:, h * hd : (h + 1) * hd] @ inverse
        out[p + "v.weight"], out[p + "o.weight"] = _f32(v), _f32(o)
        if bias is not None:
            out[p + "v.bias"] = _f32(bias)
    return out


def scale_mlp_neurons(
    tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator, spread: float = 10.0
) -> Tensors:
    """Function-preserving (gated MLPs): up rows × s, down columns ÷ s, per hidden unit.

    ``down·(silu(gate·x) ⊙ up·x)`` is linear in the up branch. A GELU MLP is not homogeneous, so a
    BERT model refuses this attack rather than silently changing its function.
    """
    _require(spec, LLAMA, "per-neuron up/down scaling", "GELU(s·z) ≠ s·GELU(z)")
    out = dict(tensors)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}.mlp."
        scale = _log_uniform(rng, spread, tensors[p + "up.weight"].shape[0])
        out[p + "up.weight"] = _f32(tensors[p + "up.weight"] * scale[:, None])
        if p + "up.bias" in tensors:
            out[p + "up.bias"] = _f32(tensors[p + "up.bias"] * scale)
        out[p + "down.weight"] = _f32(tensors[p + "down.weight"] / scale[None, :])
    return out


#: Every function-preserving attack by name, in the order :func:`disguise` applies them.
FUNCTION_PRESERVING: dict[str, Attack] = {
    "permute_mlp_neurons": permute_mlp_neurons,
    "permute_heads": permute_heads,
    "scale_qk_pairs": scale_qk_pairs,
    "scale_vo_heads": scale_vo_heads,
    "scale_mlp_neurons": scale_mlp_neurons,
    "fold_and_rotate": fold_and_rotate,
}
_LLAMA_ONLY = frozenset({"fold_and_rotate", "scale_mlp_neurons"})


def preserving_attacks(spec: ForwardSpec) -> dict[str, Attack]:
    """The function-preserving attacks that apply to this family (all six for llama, four for BERT)."""
    return {k: v for k, v in FUNCTION_PRESERVING.items() if spec.family == LLAMA or k not in _LLAMA_ONLY}


def disguise(tensors: Tensors, spec: ForwardSpec, rng: np.random.Generator) -> Tensors:
    """Function-preserving: every applicable preserving attack in turn (the full evader's disguise)."""
    for attack in preserving_attacks(spec).values():
        tensors = attack(tensors, spec, rng)
    return tensors


# ---------------------------------------------------------------------------------------------------
# Lossy: noise and quantisation
# ---------------------------------------------------------------------------------------------------


def _matrices(tensors: Mapping[str, Float32Array]) -> list[str]:
    return [n for n, v in tensors.items() if v.ndim == 2]


def add_noise(tensors: Tensors, snr_db: float, rng: np.random.Generator) -> Tensors:
    """Not preserving: Gaussian noise on every matrix at ``snr_db`` (signal power = mean square of W)."""
    out = dict(tensors)
    for name in _matrices(tensors):
        value = tensors[name]
        sigma = np.sqrt(np.mean(value.astype(np.float64) ** 2) / 10 ** (snr_db / 10))
        out[name] = _f32(value + rng.standard_normal(value.shape) * sigma)
    return out


def int8_round_trip(tensors: Tensors) -> Tensors:
    """Not preserving: symmetric per-output-row int8 (absmax/127), dequantised back to float32."""
    out = dict(tensors)
    for name in _matrices(tensors):
        value = tensors[name]
        scale = np.abs(value).max(axis=1, keepdims=True) / 127.0
        scale[scale == 0] = 1.0
        out[name] = _f32(np.clip(np.round(value / scale), -127, 127) * scale)
    return out


def int4_round_trip(tensors: Tensors, group: int = 32, symmetric: bool = True) -> Tensors:
    """Not preserving: 4-bit codes per ``group`` inputs, dequantised back to float32.

    ``symmetric`` (default): one scale per group, codes −8…7 with scale absmax/7 (bitsandbytes/GGML
    Q4_0 style). Otherwise asymmetric min/max with a zero point (GPTQ/AWQ style) — beware: on a base
    dequantised from GGUF Q4_1 (group 32, min/max), that round trip reproduces the weights exactly
    and the "attack" is a verbatim copy (measured on SmolLM2).
    """
    out = dict(tensors)
    for name in _matrices(tensors):
        value = tensors[name]
        rows, cols = value.shape
        if cols % group:
            raise ValueError(f"{name}: {cols} columns are not a multiple of the group size {group}")
        grouped = value.reshape(rows, cols // group, group).astype(np.float64)
        if symmetric:
            absmax = np.abs(grouped).max(axis=2, keepdims=True)
            scale = np.where(absmax > 0, absmax / 7.0, 1.0)
            restored = np.clip(np.round(grouped / scale), -8, 7) * scale
        else:
            low, high = grouped.min(axis=2, keepdims=True), grouped.max(axis=2, keepdims=True)
            scale = np.where(high > low, (high - low) / 15.0, 1.0)
            restored = np.clip(np.round((grouped - low) / scale), 0, 15) * scale + low
        out[name] = _f32(restored.reshape(rows, cols))
    return out


def _f16(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float16)


def quantize_q4_k(rows: np.ndarray) -> np.ndarray:
    """GGML Q4_K blocks (144 bytes per 256 values) for float rows whose length is a multiple of 256.

    Per 256-value super-block: fp16 ``d`` and ``dmin``; per 32-value sub-block a 6-bit scale and a
    6-bit min; per value a 4-bit code, ``x ≈ d·sc·q − dmin·m``. Sub-block scales come from min/max
    (llama.cpp's reference refines them with a small search; the block layout is the same, and
    ``gguf.quants.dequantize`` reads these bytes back).
    """
    n_rows, cols = rows.shape
    blocks = rows.astype(np.float32).reshape(-1, 8, 32)
    low = np.minimum(blocks.min(axis=2), 0.0)  # [B, 8]
    high = blocks.max(axis=2)
    scale = (high - low) / 15.0
    minimum = -low
    d = _f16(scale.max(axis=1) / 63.0).astype(np.float32)
    dmin = _f16(minimum.max(axis=1) / 63.0).astype(np.float32)
    safe_d, safe_dmin = np.where(d > 0, d, 1.0), np.where(dmin > 0, dmin, 1.0)
    ls = np.clip(np.round(scale / safe_d[:, None]), 0, 63).astype(np.uint8)
    lm = np.clip(np.round(minimum / safe_dmin[:, None]), 0, 63).astype(np.uint8)
    step = d[:, None] * ls
    offset = dmin[:, None] * lm
    codes = np.clip(
        np.round((blocks + offset[:, :, None]) / np.where(step > 0, step, 1.0)[:, :, None]), 0, 15
    ).astype(np.uint8)
    packed_scales = np.zeros((len(blocks), 12), np.uint8)
    packed_scales[:, 0:4] = ls[:, 0:4] | ((ls[:, 4:8] >> 4) << 6)
    packed_scales[:, 4:8] = lm[:, 0:4] | ((lm[:, 4:8] >> 4) << 6)
    packed_scales[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    # 64 values per 32 bytes: sub-block 2j in the low nibbles, 2j+1 in the high nibbles.
    pairs = codes.reshape(len(blocks), 4, 2, 32)
    qs = (pairs[:, :, 0, :] | (pairs[:, :, 1, :] << 4)).reshape(len(blocks), 128)
    header = np.stack([d, dmin], axis=1).astype(np.float16).view(np.uint8).reshape(len(blocks), 4)
    return np.concatenate([header, packed_scales, qs], axis=1).reshape(n_rows, cols // 256 * 144)


def gguf_round_trip(tensors: Tensors, qtype: str = "Q4_K") -> Tensors:
    """Not preserving: every matrix through a GGML block format and back (1-D norms stay F32, as llama.cpp).

    ``Q4_K`` needs rows that are a multiple of 256; like ``llama-quantize``, a tensor whose rows are
    not (SmolLM2's 576-wide inputs) falls back to Q5_0. ``gguf.quants.quantize`` does not implement
    Q4_K, so it is encoded by :func:`quantize_q4_k`; other types use ``gguf.quants`` both ways.
    """
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf import quants as gguf_quants

    wanted = GGMLQuantizationType[qtype]
    out = dict(tensors)
    for name in _matrices(tensors):
        value = tensors[name]
        chosen = wanted
        if value.shape[1] % GGML_QUANT_SIZES[wanted][0]:
            chosen = GGMLQuantizationType.Q5_0 if value.shape[1] % 32 == 0 else GGMLQuantizationType.Q8_0
        if chosen == GGMLQuantizationType.Q4_K:
            blocks = quantize_q4_k(value)
        else:
            blocks = gguf_quants.quantize(value, chosen)
        out[name] = _f32(np.asarray(gguf_quants.dequantize(blocks, chosen)).reshape(value.shape))
    return out


# ---------------------------------------------------------------------------------------------------
# Lossy: pruning and surgery
# ---------------------------------------------------------------------------------------------------


def magnitude_prune(tensors: Tensors, fraction: float = 0.5) -> Tensors:
    """Not preserving: in every layer matrix, the ``fraction`` of weights with the smallest |w| set to 0.

    Embeddings and the head are left dense, as unstructured-sparsity recipes (e.g. Wanda, SparseGPT) do.
    """
    out = dict(tensors)
    for name in _matrices(tensors):
        if name in _EMBEDDINGS or not name.startswith("layers."):
            continue
        value = tensors[name]
        k = int(value.size * fraction)
        if k == 0:
            continue
        threshold = np.partition(np.abs(value).ravel(), k - 1)[k - 1]
        out[name] = _f32(np.where(np.abs(value) <= threshold, 0.0, value))
    return out


def drop_layers(tensors: Tensors, keep: Callable[[int], bool] = lambda i: i % 2 == 0) -> Tensors:
    """Not preserving: keep only layers with ``keep(i)`` (default: every second, from 0), renumbered 0…n-1."""
    kept = [i for i in layer_indices(tensors) if keep(i)]
    new_index = {old: new for new, old in enumerate(kept)}
    out: Tensors = {}
    for name, value in tensors.items():
        if not name.startswith("layers."):
            out[name] = value
            continue
        _, index, rest = name.split(".", 2)
        if int(index) in new_index:
            out[f"layers.{new_index[int(index)]}.{rest}"] = value
    return out


def prune_mlp_width(tensors: Tensors, fraction: float = 0.25) -> Tensors:
    """Not preserving: structured pruning of the ``fraction`` of MLP units with the least weight mass.

    A unit's score is the product of the norms of its rows (gate, up) and its down column — a crude
    but common importance proxy; the survivors keep their order.
    """
    out = dict(tensors)
    for layer in layer_indices(tensors):
        p = f"layers.{layer}.mlp."
        score = np.linalg.norm(tensors[p + "up.weight"], axis=1) * np.linalg.norm(
            tensors[p + "down.weight"], axis=0
        )
        if p + "gate.weight" in tensors:
            score = score * np.linalg.norm(tensors[p + "gate.weight"], axis=1)
        keep = np.sort(np.argsort(-score)[: round(len(score) * (1 - fraction))])
        for name in ("gate.weight", "gate.bias", "up.weight", "up.bias"):
            if p + name in tensors:
                out[p + name] = _f32(tensors[p + name][keep])
        out[p + "down.weight"] = _f32(tensors[p + "down.weight"][:, keep])
    return out


@dataclass
class TokenList:
    """A vocabulary as the writers need it: tokens with their GGUF token types (1 normal, 3 control)."""

    tokens: list[str]
    types: list[int]
    model: str = "gpt2"  #: ``tokenizer.ggml.model``: gpt2 (byte-level BPE), llama, bert …
    pre: str | None = None
    merges: list[str] = field(default_factory=list)
    special_ids: dict[str, int] = field(default_factory=dict)  #: bos / eos / unknown / padding

    @classmethod
    def from_model(cls, model: Model) -> TokenList:
        """The vocabulary of an opened checkpoint (GGUF metadata, else its tokenizer files)."""
        meta = model.source.facts.metadata
        if "tokenizer.ggml.tokens" in meta:
            tokens = [str(t) for t in meta["tokenizer.ggml.tokens"]]
            types = [int(t) for t in meta.get("tokenizer.ggml.token_type", [1] * len(tokens))]
            ids = {
                key: int(meta[f"tokenizer.ggml.{key}_token_id"])
                for key in ("bos", "eos", "unknown", "padding")
                if f"tokenizer.ggml.{key}_token_id" in meta
            }
            pre = meta.get("tokenizer.ggml.pre")
            return cls(
                tokens,
                types,
                str(meta.get("tokenizer.ggml.model", "gpt2")),
                str(pre) if pre is not None else None,
                [str(m) for m in meta.get("tokenizer.ggml.merges", [])],
                ids,
            )
        vocabulary = model.vocabulary
        if vocabulary is None:
            raise ValueError(f"{model.path}: the checkpoint ships no vocabulary")
        types = [3 if i in vocabulary.special else 1 for i in range(len(vocabulary))]
        kind = {"wordpiece": "bert", "byte-bpe": "gpt2", "sentencepiece": "llama"}.get(
            vocabulary.kind, "gpt2"
        )
        return cls(list(vocabulary.tokens), types, kind)


def extend_vocabulary(
    tensors: Tensors, vocab: TokenList, count: int, rng: np.random.Generator
) -> tuple[Tensors, TokenList]:
    """Not preserving (for new tokens only): ``count`` new tokens, rows drawn around the mean embedding.

    New rows are mean + N(0, per-column std) of the existing rows, the common initialisation for
    added tokens; an untied head grows the same way. Old token ids keep their rows.
    """
    out = dict(tensors)
    for name in _EMBEDDINGS:
        if name in tensors:
            table = tensors[name]
            new = table.mean(0) + rng.standard_normal((count, table.shape[1])) * table.std(0)
            out[name] = _f32(np.concatenate([table, new]))
    added = [f"<extra_token_{i}>" for i in range(count)]
    return out, replace(vocab, tokens=[*vocab.tokens, *added], types=[*vocab.types, *([1] * count)])


def prune_vocabulary(tensors: Tensors, vocab: TokenList, keep: Sequence[int]) -> tuple[Tensors, TokenList]:
    """Not preserving: keep only the rows (and tokens) ``keep``, in that order; the ids change.

    Merges are dropped (most would name removed tokens); special-token ids are remapped or dropped.
    """
    order = np.asarray(keep, dtype=np.int64)
    out = dict(tensors)
    for name in _EMBEDDINGS:
        if name in tensors:
            out[name] = _f32(tensors[name][order])
    new_id = {int(old): new for new, old in enumerate(order)}
    specials = {k: new_id[v] for k, v in vocab.special_ids.items() if v in new_id}
    return out, replace(
        vocab,
        tokens=[vocab.tokens[i] for i in order],
        types=[vocab.types[i] for i in order],
        merges=[],
        special_ids=specials,
    )


def merge_lora(
    tensors: Tensors,
    rng: np.random.Generator,
    rank: int = 8,
    strength: float = 0.1,
    targets: Iterable[str] = ("attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"),
) -> Tensors:
    """Not preserving: W + B·A merged into every target matrix, B·A random of rank ``rank``.

    ``strength`` is ‖B·A‖_F / ‖W‖_F per matrix (0.1: a strong adapter; real ones are often weaker).
    """
    suffixes = tuple(f".{t}.weight" for t in targets)
    out = dict(tensors)
    for name in _matrices(tensors):
        if not (name.startswith("layers.") and name.endswith(suffixes)):
            continue
        value = tensors[name].astype(np.float64)
        delta = rng.standard_normal((value.shape[0], rank)) @ rng.standard_normal((rank, value.shape[1]))
        delta *= strength * np.linalg.norm(value) / max(float(np.linalg.norm(delta)), 1e-30)
        out[name] = _f32(value + delta)
    return out


def random_like(tensors: Tensors, rng: np.random.Generator) -> Tensors:
    """An independent model of the same shapes: Gaussian matrices with each matrix's RMS, unit gains.

    Not an attack by itself: the independent partner for :func:`average_with` when no trained
    independent model of the same shapes is at hand.
    """
    out: Tensors = {}
    for name, value in tensors.items():
        if value.ndim == 2:
            rms = float(np.sqrt(np.mean(value.astype(np.float64) ** 2)))
            out[name] = _f32(rng.standard_normal(value.shape) * rms)
        elif name.endswith("norm.weight"):
            out[name] = np.ones_like(value)
        else:
            out[name] = np.zeros_like(value)
    return out


def average_with(tensors: Tensors, other: Mapping[str, Float32Array], weight: float = 0.5) -> Tensors:
    """Not preserving: ``(1 − weight)·A + weight·B`` for every tensor both hold with one shape (a merge)."""
    out = dict(tensors)
    for name, value in tensors.items():
        partner = other.get(name)
        if partner is not None and partner.shape == value.shape:
            out[name] = _f32((1 - weight) * value.astype(np.float64) + weight * partner)
    return out


def transplant_embeddings(donor: Tensors, fresh: Tensors) -> Tensors:
    """Not preserving: the donor's token embeddings under someone else's (``fresh``) layers.

    Only ``embed.tokens.weight`` is taken from the donor (with an untied donor head too, when both are
    untied). The evaluation trains the result with the embeddings frozen (:func:`finetune`,
    ``trainable``): the verdict must then say that only the embeddings are shared.
    """
    out = dict(fresh)
    out["embed.tokens.weight"] = donor["embed.tokens.weight"]
    if "lm_head.weight" in donor and "lm_head.weight" in fresh:
        out["lm_head.weight"] = donor["lm_head.weight"]
    return out


def finetune(
    tensors: Tensors,
    spec: ForwardSpec,
    tokens: np.ndarray,
    steps: int = 200,
    *,
    lr: float = 1e-4,
    batch: int = 8,
    length: int = 32,
    seed: int = 0,
    trainable: Callable[[str], bool] = lambda name: True,
) -> Tensors:
    """Not preserving: a real fine-tune, ``steps`` AdamW steps of next-token loss on windows of ``tokens``."""
    from modeltrace.lineage.zoo_models import batches, train_llama

    _require(spec, LLAMA, "finetune", "only causal-LM training is implemented")
    trained, _ = train_llama(
        tensors, spec, batches(tokens, batch, length, seed), steps, lr=lr, trainable=trainable
    )
    return trained


# ---------------------------------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------------------------------

_GGUF_LAYER = {
    "attn.q": "attn_q",
    "attn.k": "attn_k",
    "attn.v": "attn_v",
    "attn.o": "attn_output",
    "mlp.gate": "ffn_gate",
    "mlp.up": "ffn_up",
    "mlp.down": "ffn_down",
    "attn_norm": "attn_norm",
    "mlp_norm": "ffn_norm",
}
_HF_LAYER = {
    "attn.q": "self_attn.q_proj",
    "attn.k": "self_attn.k_proj",
    "attn.v": "self_attn.v_proj",
    "attn.o": "self_attn.o_proj",
    "mlp.gate": "mlp.gate_proj",
    "mlp.up": "mlp.up_proj",
    "mlp.down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
    "mlp_norm": "post_attention_layernorm",
}
_HF_BERT_LAYER = {
    "attn.q": "attention.self.query",
    "attn.k": "attention.self.key",
    "attn.v": "attention.self.value",
    "attn.o": "attention.output.dense",
    "attn_residual_norm": "attention.output.LayerNorm",
    "mlp.up": "intermediate.dense",
    "mlp.down": "output.dense",
    "mlp_residual_norm": "output.LayerNorm",
}
_HF_BERT_GLOBAL = {
    "embed.tokens": "embeddings.word_embeddings",
    "embed.positions": "embeddings.position_embeddings",
    "embed.token_types": "embeddings.token_type_embeddings",
    "embed.norm": "embeddings.LayerNorm",
    "pooler": "pooler.dense",
}


def _check_llama(tensors: Tensors, spec: ForwardSpec) -> list[int]:
    layers = layer_indices(tensors)
    if spec.family != LLAMA:
        raise ValueError("a llama writer needs a llama-family spec")
    if layers != list(range(len(layers))):
        raise ValueError(f"layers must be numbered 0…n-1 (got {layers[:5]}…): renumber first")
    return layers


def _split_name(name: str) -> tuple[str, str, str]:
    """``layers.3.attn.q.weight`` → ("3", "attn.q", "weight"); globals give ("", role, param)."""
    stem, _, param = name.rpartition(".")
    if stem.startswith("layers."):
        _, index, role = stem.split(".", 2)
        return index, role, param
    return "", stem, param


def write_gguf_llama(path: Path, tensors: Tensors, spec: ForwardSpec, vocab: TokenList) -> Path:
    """A llama GGUF (F32) of canonical tensors, as llama.cpp's converter would write it.

    Q/K rows get llama.cpp's per-head RoPE interleave (the reader undoes it); the vocabulary,
    merges and special ids are written so ``compare`` matches embedding rows by token string.
    """
    import gguf

    layers = _check_llama(tensors, spec)
    width = tensors["embed.tokens.weight"].shape[1]
    if len(vocab.tokens) != tensors["embed.tokens.weight"].shape[0]:
        raise ValueError(
            f"{len(vocab.tokens)} tokens for {tensors['embed.tokens.weight'].shape[0]} embedding rows"
        )
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(len(layers))
    writer.add_embedding_length(width)
    writer.add_head_count(spec.n_heads)
    writer.add_head_count_kv(spec.n_kv_heads)
    writer.add_key_length(spec.head_dim)
    writer.add_value_length(spec.head_dim)
    writer.add_rope_dimension_count(spec.head_dim)
    writer.add_rope_freq_base(spec.rope_base)
    writer.add_layer_norm_rms_eps(spec.norm_eps)
    writer.add_context_length(2048)
    writer.add_vocab_size(len(vocab.tokens))
    if layers:
        writer.add_feed_forward_length(tensors["layers.0.mlp.up.weight"].shape[0])
    writer.add_tokenizer_model(vocab.model)
    if vocab.pre:
        writer.add_tokenizer_pre(vocab.pre)
    writer.add_token_list(vocab.tokens)
    writer.add_token_types(vocab.types)
    if vocab.merges:
        writer.add_token_merges(vocab.merges)
    for key, token_id in vocab.special_ids.items():
        getattr(writer, f"add_{'unk' if key == 'unknown' else 'pad' if key == 'padding' else key}_token_id")(
            token_id
        )
    for name in sorted(tensors):
        index, role, param = _split_name(name)
        value = tensors[name]
        if index:
            out = f"blk.{index}.{_GGUF_LAYER[role]}.{param}"
            if role == "attn.q":
                value = permute_rope_rows(value, spec.n_heads)
            elif role == "attn.k":
                value = permute_rope_rows(value, spec.n_kv_heads)
        else:
            out = {"embed.tokens": "token_embd", "final_norm": "output_norm", "lm_head": "output"}[
                role
            ] + f".{param}"
        writer.add_tensor(out, _f32(value))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _save_safetensors(folder: Path, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]) -> None:
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    save_file({k: _f32(v) for k, v in tensors.items()}, str(folder / "model.safetensors"))


def write_hf_llama(folder: Path, tensors: Tensors, spec: ForwardSpec, vocab: TokenList) -> Path:
    """A Hugging Face llama folder: ``model.safetensors`` (HF names), ``config.json``, ``tokenizer.json``.

    The tokenizer file is minimal — a byte-level BPE with the vocabulary and merges, the ByteLevel
    pre-tokenizer and decoder — enough for readers that match tokens by string.
    """
    layers = _check_llama(tensors, spec)
    hf: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        index, role, param = _split_name(name)
        if index:
            hf[f"model.layers.{index}.{_HF_LAYER[role]}.{param}"] = value
        else:
            hf[
                {"embed.tokens": "model.embed_tokens", "final_norm": "model.norm", "lm_head": "lm_head"}[role]
                + f".{param}"
            ] = value
    rows, width = tensors["embed.tokens.weight"].shape
    config = {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": width,
        "num_hidden_layers": len(layers),
        "num_attention_heads": spec.n_heads,
        "num_key_value_heads": spec.n_kv_heads,
        "head_dim": spec.head_dim,
        "intermediate_size": tensors["layers.0.mlp.up.weight"].shape[0] if layers else 0,
        "vocab_size": rows,
        "rope_theta": spec.rope_base,
        "rms_norm_eps": spec.norm_eps,
        "tie_word_embeddings": "lm_head.weight" not in tensors,
        "hidden_act": "silu",
    }
    _save_safetensors(folder, hf, config)
    special = [i for i, kind in enumerate(vocab.types) if kind == 3]
    tokenizer = {
        "version": "1.0",
        "added_tokens": [
            {
                "id": i,
                "content": vocab.tokens[i],
                "special": True,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
            }
            for i in special
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "ByteLevel",
            "add_prefix_space": False,
            "trim_offsets": True,
            "use_regex": True,
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "vocab": {t: i for i, t in enumerate(vocab.tokens)},
            "merges": vocab.merges,
        },
    }
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False))
    return folder


def write_hf_bert(
    folder: Path, tensors: Tensors, spec: ForwardSpec, vocab: TokenList, base_config: Mapping[str, Any]
) -> Path:
    """A Hugging Face BERT folder: ``model.safetensors``, ``config.json`` (``base_config``), ``vocab.txt``."""
    if spec.family != BERT:
        raise ValueError("write_hf_bert needs a BERT spec")
    layers = layer_indices(tensors)
    hf: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        index, role, param = _split_name(name)
        if index:
            hf[f"encoder.layer.{index}.{_HF_BERT_LAYER[role]}.{param}"] = value
        else:
            hf[f"{_HF_BERT_GLOBAL[role]}.{param}"] = value
    config = dict(base_config)
    config.update(
        num_hidden_layers=len(layers),
        intermediate_size=tensors["layers.0.mlp.up.weight"].shape[0] if layers else 0,
        vocab_size=tensors["embed.tokens.weight"].shape[0],
    )
    _save_safetensors(folder, hf, config)
    (folder / "vocab.txt").write_text("\n".join(vocab.tokens) + "\n", encoding="utf-8")
    return folder
