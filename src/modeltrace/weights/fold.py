"""Norm folding: multiply each norm's gain (and bias) into the linear layers it feeds.

For a pre-norm block ``W · (g ⊙ n(x) + b)`` equals ``(W · diag g) · n(x) + W · b``, so the gain can be
moved into the columns of ``W`` and the norm's bias into ``W``'s bias without changing the function.
After folding every pre-norm gain is 1 and every bias 0. This removes a symmetry an evader can use
(scale a gain up, scale the next weights down) and makes weights comparable across fine-tunes that
mostly moved the gains.

Norms that cannot be folded that way are left alone and reported with the reason: post-LN norms on
the residual stream (BERT family) also feed the residual, per-head q/k norms act after the
projection, and Gemma's post-sublayer norms feed the residual add.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from modeltrace.weights.model import Model
from modeltrace.weights.source import Float32Array

#: pre-norm role → roles of the linear layers that read its output.
_FEEDS: dict[str, tuple[str, ...]] = {
    "attn_norm": ("attn.q", "attn.k", "attn.v"),
    "mlp_norm": ("mlp.gate", "mlp.up", "moe.router", "moe.shared.gate", "moe.shared.up", "moe.shared_gate"),
    "xattn_norm": ("xattn.q",),
}
_WHY_NOT = {
    "residual": "post-LN norm on the residual stream: its output also feeds the residual, so folding "
    "its gain into the next layer would change the function",
    "post": "normalises a sublayer's output before the residual add; nothing linear follows it directly",
    "qk": "per-head query/key norm acts after the projection; its gain does not commute with normalisation",
}


@dataclass
class FoldedLayer:
    """Canonical tensors of one layer (or of the head) with pre-norm gains folded in."""

    tensors: dict[str, Float32Array] = field(default_factory=dict)
    folded: list[str] = field(default_factory=list)
    unfolded: dict[str, str] = field(default_factory=dict)


def _fold_into(out: FoldedLayer, model: Model, norm_name: str, targets: list[str]) -> None:
    binding = model.binding(norm_name)
    if norm_name in out.tensors:
        gain = out.tensors[norm_name] + np.float32(binding.gain_offset)
    else:
        gain = model.gain(norm_name)
    bias_name = norm_name.removesuffix(".weight") + ".bias"
    norm_bias: Float32Array | None = None
    if bias_name in out.tensors:
        norm_bias = out.tensors[bias_name]
    elif model.has(bias_name):
        norm_bias = model.tensor(bias_name)
    for target in targets:
        weight = out.tensors[target]
        if weight.ndim != 2 or weight.shape[1] != gain.shape[0]:
            out.unfolded[norm_name] = f"{target} has shape {weight.shape}, not [*, {gain.shape[0]}]"
            return
    if norm_bias is None and bool(np.all(gain == 1.0)):
        # Already folded (or never trained): multiplying by ones would only copy the matrices.
        out.tensors[norm_name] = np.full_like(gain, 1.0 - binding.gain_offset)
        out.folded.append(norm_name)
        return
    for target in targets:
        weight = out.tensors[target]
        if norm_bias is not None:
            target_bias = target.removesuffix(".weight") + ".bias"
            shift = (weight @ norm_bias).astype(np.float32)
            out.tensors[target_bias] = (
                out.tensors.get(target_bias, np.zeros(weight.shape[0], np.float32)) + shift
            )
        out.tensors[target] = np.multiply(weight, gain[None, :], dtype=np.float32)
    # Leave the canonical gain at the value that means "multiply by 1" (Gemma stores w with 1 + w).
    out.tensors[norm_name] = np.full_like(gain, 1.0 - binding.gain_offset)
    if norm_bias is not None:
        out.tensors[bias_name] = np.zeros_like(norm_bias)
    out.folded.append(norm_name)


def fold_layer(
    model: Model, layer: int, stack: str = "layers", tensors: dict[str, Float32Array] | None = None
) -> FoldedLayer:
    """One layer's canonical tensors with every foldable norm folded into what it feeds.

    ``tensors`` may hold the layer's canonical tensors already read (they are not modified).
    """
    out = FoldedLayer()
    roles = model.layer_roles(layer, stack)
    for name in roles:
        out.tensors[name] = tensors[name] if tensors is not None and name in tensors else model.tensor(name)
    prefix = f"{stack}.{layer}."
    for name, binding in roles.items():
        if binding.norm is None or binding.param != "weight":
            continue
        if binding.role in ("attn.q_norm", "attn.k_norm"):
            out.unfolded[name] = _WHY_NOT["qk"]
            continue
        if binding.norm.placement != "pre" or binding.role not in _FEEDS:
            out.unfolded[name] = _WHY_NOT.get(
                binding.norm.placement, "no linear layer reads this norm directly"
            )
            continue
        feeds = _FEEDS[binding.role]
        targets = [
            key
            for key, b in roles.items()
            if b.param == "weight"
            and (
                b.role in feeds
                or (
                    binding.role == "mlp_norm"
                    and b.role.startswith("moe.experts.")
                    and b.role.endswith((".gate", ".up"))
                )
            )
        ]
        if not targets:
            out.unfolded[name] = "no linear layer found that reads this norm"
            continue
        _fold_into(out, model, name, sorted(targets, key=lambda k: k.removeprefix(prefix)))
    return out


def fold_head(model: Model) -> FoldedLayer:
    """The output head with the final norm folded in (a tied head becomes its own folded matrix)."""
    out = FoldedLayer()
    head = "lm_head.weight" if model.has("lm_head.weight") else "embed.tokens.weight"
    if not model.has(head) or not model.has("final_norm.weight"):
        out.unfolded["final_norm.weight"] = "the model has no final norm and output head to fold"
        return out
    out.tensors["lm_head.weight"] = model.tensor(head)
    if model.has("lm_head.bias"):
        out.tensors["lm_head.bias"] = model.tensor("lm_head.bias")
    _fold_into(out, model, "final_norm.weight", ["lm_head.weight"])
    return out
