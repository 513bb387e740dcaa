"""A small reference forward pass over *canonical* tensors, for checking attacks and training test models.

The evaluation harness (:mod:`.attacks`) must prove that a "function-preserving" disguise really keeps
the function: it runs this forward pass on the tensors before and after and compares the logits. It
therefore reads the same canonical names the lineage engine reads (``layers.N.attn.q.weight``, …), so
a model built by an attack is checked exactly as ``compare`` will see it, with no conversion between.

Two families are covered, the ones the harness attacks:

- **llama** (llama, mistral, qwen2, SmolLM2): pre-RMSNorm, RoPE in Hugging Face's half-split layout
  with the config's base, grouped-query attention, SwiGLU MLP, tied or untied output head, optional
  q/k/v/o biases (qwen2);
- **bert** (BERT, MiniLM): post-LayerNorm, exact (erf) GELU, absolute positions and token types.

Norm gains in the tensor dicts are the gains the norm multiplies by (``Model.gain``), so a Gemma-style
``1 + w`` offset never leaks in. Layers run in the order of their indices, whichever are present: a
dict holding layers 0..3 of a 30-layer model runs a 4-layer model, which is how cheap checks on a
large model are made. torch is imported inside the functions: ``import modeltrace.lineage`` must not
need it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modeltrace.weights.model import Model
from modeltrace.weights.source import Float32Array

if TYPE_CHECKING:
    import torch

#: Canonical name → float32 array (what attacks take and return).
Tensors = dict[str, Float32Array]

LLAMA, BERT = "llama", "bert"
_LLAMA_FAMILY = frozenset({"llama", "mistral", "qwen2", "smollm", "smollm2"})
_BERT_FAMILY = frozenset({"bert"})
_LAYER = re.compile(r"^layers\.(\d+)\.")


@dataclass(frozen=True)
class ForwardSpec:
    """What the forward pass needs beyond the tensors' shapes."""

    family: str  #: ``llama`` or ``bert``
    n_heads: int
    n_kv_heads: int
    head_dim: int
    rope_base: float = 10000.0
    norm_eps: float = 1e-5


def layer_indices(tensors: Mapping[str, Any]) -> list[int]:
    """Sorted indices of the layers present in a canonical tensor dict."""
    return sorted({int(m.group(1)) for name in tensors if (m := _LAYER.match(name))})


# ---------------------------------------------------------------------------------------------------
# From a Model
# ---------------------------------------------------------------------------------------------------


def _stated_float(model: Model, gguf_key: str, hf_keys: Sequence[str]) -> float | None:
    """A float the checkpoint states (GGUF metadata, else config.json beside the weights)."""
    meta = model.source.facts.metadata
    arch = str(meta.get("general.architecture", ""))
    value = meta.get(f"{arch}.{gguf_key}") if arch else None
    if isinstance(value, int | float | np.floating):
        return float(value)
    config_path = model.folder / "config.json" if model.folder is not None else None
    if config_path is not None and config_path.is_file():
        raw = json.loads(config_path.read_text())
        for key in hf_keys:
            if isinstance(raw.get(key), int | float):
                return float(raw[key])
    return None


def spec_from_model(model: Model) -> ForwardSpec:
    """The forward spec of an opened llama- or BERT-family checkpoint."""
    cfg = model.config
    family = LLAMA if cfg.architecture in _LLAMA_FAMILY else BERT if cfg.architecture in _BERT_FAMILY else ""
    if not family or not cfg.n_heads or not cfg.head_dim:
        raise ValueError(f"{model.path}: no reference forward pass for architecture {cfg.architecture!r}")
    if family == BERT:
        eps = _stated_float(model, "attention.layer_norm_epsilon", ("layer_norm_eps",))
        return ForwardSpec(BERT, cfg.n_heads, cfg.n_heads, cfg.head_dim, norm_eps=eps or 1e-12)
    base = _stated_float(model, "rope.freq_base", ("rope_theta",))
    eps = _stated_float(model, "attention.layer_norm_rms_epsilon", ("rms_norm_eps",))
    return ForwardSpec(
        LLAMA,
        cfg.n_heads,
        cfg.n_kv_heads or cfg.n_heads,
        cfg.head_dim,
        rope_base=base or 10000.0,
        norm_eps=eps or 1e-5,
    )


def canonical_tensors(model: Model, layers: Sequence[int] | None = None) -> Tensors:
    """Every canonical tensor of ``model`` (norms as the gains they multiply by), optionally a layer subset.

    This holds the whole model in memory (float32): it is for the evaluation harness on small models,
    not for ``compare``, which streams.
    """
    keep = None if layers is None else set(layers)
    out: Tensors = {}
    for name, binding in model.roles.bindings.items():
        if keep is not None and binding.layer is not None and binding.layer not in keep:
            continue
        is_gain = binding.norm is not None and binding.param == "weight"
        out[name] = model.gain(name) if is_gain else model.tensor(name)
    return out


# ---------------------------------------------------------------------------------------------------
# The pass
# ---------------------------------------------------------------------------------------------------


def _torch_tensors(tensors: Mapping[str, Any], double: bool = False) -> dict[str, torch.Tensor]:
    """Numpy arrays become torch tensors (float32 sharing memory, or float64 copies when ``double``);
    torch tensors pass through untouched (parameters being trained)."""
    import torch

    dtype = np.float64 if double else np.float32
    return {
        name: value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value, dtype))
        for name, value in tensors.items()
    }


def _linear(x: torch.Tensor, t: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    from torch.nn import functional

    return functional.linear(x, t[name + ".weight"], t.get(name + ".bias"))


def _rms_norm(x: torch.Tensor, gain: torch.Tensor, eps: float) -> torch.Tensor:
    import torch

    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gain


def _rope(x: torch.Tensor, base: float) -> torch.Tensor:
    """Hugging Face's rotate-half RoPE: dimension i pairs with i + head_dim/2. x: [B, heads, T, hd]."""
    import torch

    head_dim, length = x.shape[-1], x.shape[-2]
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(length, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    half = head_dim // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, _ = x.shape
    return x.view(batch, length, heads, -1).transpose(1, 2)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention; ``mask`` is additive (0 or -inf), broadcast over heads."""
    import torch

    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + mask
    out = torch.softmax(scores, dim=-1) @ v
    batch, _, length, _ = out.shape
    return out.transpose(1, 2).reshape(batch, length, -1)


def _llama_block(
    x: torch.Tensor, t: Mapping[str, torch.Tensor], p: str, spec: ForwardSpec, mask: torch.Tensor
) -> torch.Tensor:
    from torch.nn import functional

    h = _rms_norm(x, t[p + "attn_norm.weight"], spec.norm_eps)
    q = _rope(_heads(_linear(h, t, p + "attn.q"), spec.n_heads), spec.rope_base)
    k = _rope(_heads(_linear(h, t, p + "attn.k"), spec.n_kv_heads), spec.rope_base)
    v = _heads(_linear(h, t, p + "attn.v"), spec.n_kv_heads)
    group = spec.n_heads // spec.n_kv_heads  # query head j reads KV head j // group (HF repeat_kv)
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    x = x + _linear(_attention(q, k, v, mask), t, p + "attn.o")
    h = _rms_norm(x, t[p + "mlp_norm.weight"], spec.norm_eps)
    return x + _linear(
        functional.silu(_linear(h, t, p + "mlp.gate")) * _linear(h, t, p + "mlp.up"), t, p + "mlp.down"
    )


def llama_forward(
    tensors: Mapping[str, Any], spec: ForwardSpec, ids: torch.Tensor, *, hidden_only: bool = False
) -> torch.Tensor:
    """Logits ``[batch, length, vocab]`` (or the final normed hidden states) of a llama-family decoder.

    ``tensors`` holds numpy arrays or torch tensors (parameters being trained); ``ids`` is int64
    ``[batch, length]``. The head is ``lm_head.weight`` when present, else the tied embedding.
    """
    import torch

    t = _torch_tensors(tensors)
    x = t["embed.tokens.weight"][ids]
    length = ids.shape[1]
    mask = torch.full((length, length), float("-inf")).triu(1)
    for layer in layer_indices(t):
        x = _llama_block(x, t, f"layers.{layer}.", spec, mask)
    x = _rms_norm(x, t["final_norm.weight"], spec.norm_eps)
    if hidden_only:
        return x
    return _linear(x, t, "lm_head" if "lm_head.weight" in t else "embed.tokens")


def _layer_norm(x: torch.Tensor, t: Mapping[str, torch.Tensor], name: str, eps: float) -> torch.Tensor:
    from torch.nn import functional

    return functional.layer_norm(x, x.shape[-1:], t[name + ".weight"], t.get(name + ".bias"), eps)


def bert_forward(
    tensors: Mapping[str, Any],
    spec: ForwardSpec,
    ids: torch.Tensor,
    token_types: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Last hidden states ``[batch, length, width]`` of a post-LN BERT encoder.

    ``attention_mask`` is 1 for real tokens and 0 for padding (keys only, as in BERT).
    """
    import torch
    from torch.nn import functional

    t = _torch_tensors(tensors)
    length = ids.shape[1]
    types = torch.zeros_like(ids) if token_types is None else token_types
    x = t["embed.tokens.weight"][ids] + t["embed.positions.weight"][:length][None]
    if "embed.token_types.weight" in t:
        x = x + t["embed.token_types.weight"][types]
    x = _layer_norm(x, t, "embed.norm", spec.norm_eps)
    keys = torch.ones_like(ids) if attention_mask is None else attention_mask
    mask = torch.zeros(keys.shape, dtype=x.dtype).masked_fill(keys == 0, float("-inf"))[:, None, None, :]
    for layer in layer_indices(t):
        p = f"layers.{layer}."
        q = _heads(_linear(x, t, p + "attn.q"), spec.n_heads)
        k = _heads(_linear(x, t, p + "attn.k"), spec.n_heads)
        v = _heads(_linear(x, t, p + "attn.v"), spec.n_heads)
        x = _layer_norm(
            x + _linear(_attention(q, k, v, mask), t, p + "attn.o"),
            t,
            p + "attn_residual_norm",
            spec.norm_eps,
        )
        h = _linear(functional.gelu(_linear(x, t, p + "mlp.up")), t, p + "mlp.down")
        x = _layer_norm(x + h, t, p + "mlp_residual_norm", spec.norm_eps)
    return x


def forward(tensors: Mapping[str, Any], spec: ForwardSpec, ids: torch.Tensor) -> torch.Tensor:
    """Logits for a llama-family decoder, last hidden states for a BERT encoder."""
    if spec.family == LLAMA:
        return llama_forward(tensors, spec, ids)
    if spec.family == BERT:
        return bert_forward(tensors, spec, ids)
    raise ValueError(f"no forward pass for family {spec.family!r}")


def outputs(
    tensors: Mapping[str, Any],
    spec: ForwardSpec,
    ids: np.ndarray | Sequence[Sequence[int]],
    *,
    double: bool = False,
) -> np.ndarray:
    """:func:`forward` on plain token ids, without gradients, as a numpy array.

    ``double`` runs the arithmetic in float64 on the same (float32) weights: it measures what the
    stored weights compute, without the float32 evaluation's own rounding, which on a 30-layer model
    with large residual activations reaches ~1e-3 in the logits by itself.
    """
    import torch

    batch = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    with torch.no_grad():
        result = forward(_torch_tensors(tensors, double), spec, batch).numpy()
    return np.asarray(result, dtype=np.float64 if double else np.float32)


def max_output_change(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    spec: ForwardSpec,
    ids: np.ndarray,
    *,
    double: bool = False,
) -> float:
    """Max absolute difference of the outputs (logits or hidden states) of two tensor sets on ``ids``."""
    first = outputs(before, spec, ids, double=double)
    return float(np.max(np.abs(first - outputs(after, spec, ids, double=double))))
