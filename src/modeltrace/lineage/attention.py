"""S1: attention bilinear invariants, for the layer map and for localising what was shared.

Per layer, M_qk = Σ_h W_q,hᵀ W_k,g(h) and M_ov = Σ_h W_o,h W_v,g(h) (g(h) the KV head of head h under
GQA) are unchanged by head permutation, RoPE-pair q/k scaling, per-head invertible V/O maps and, once
B is mapped into A's basis, residual rotation. We never form the d×d matrices: with probe rows Z
(seeded Gaussian in A's basis, Z·Q in B's), the k×k sketch Z·M·Zᵀ = Σ_h (Z W_q,hᵀ)(Z W_k,hᵀ)ᵀ costs
O(k·d·heads·head_dim). Two layers are compared by the Pearson correlation of their sketches.

Independent models trained on similar data correlate here too (up to ~0.18 measured): this statistic
maps layers and localises; it does not decide lineage on its own.
"""

from __future__ import annotations

import numpy as np

from modeltrace.weights.source import Float32Array

PROBES = 256
#: Models wider than this get ``WIDE_PROBES`` probes: the sketches cost probes × width per weight
#: row, and a 64 × 64 sketch (4,096 values per invariant) still maps layers cleanly.
WIDE_ABOVE = 1024
WIDE_PROBES = 64


def probes(width: int, seed: int = 0, count: int | None = None) -> Float32Array:
    """Seeded Gaussian probe rows in A's basis (``count`` defaults by width, see ``WIDE_ABOVE``)."""
    count = count or (WIDE_PROBES if width > WIDE_ABOVE else PROBES)
    values = np.random.default_rng(seed).standard_normal((count, width)) / np.sqrt(width)
    return np.asarray(values, dtype=np.float32)


def _pair_sketch(left: Float32Array, right: Float32Array, heads: int, kv_heads: int) -> Float32Array:
    """Σ_h left_h · right_g(h)ᵀ over query heads h: one matrix product once KV heads are repeated."""
    if kv_heads != heads:
        count = right.shape[0]
        right = np.repeat(right.reshape(count, kv_heads, -1), heads // kv_heads, axis=1).reshape(count, -1)
    return np.asarray(left @ right.T, dtype=np.float32)


def attention_sketch(
    z: Float32Array,
    wq: Float32Array,
    wk: Float32Array,
    wv: Float32Array,
    wo: Float32Array,
    heads: int,
    kv_heads: int,
) -> Float32Array:
    """Concatenated flattened sketches of M_qk and M_ov for probes ``z`` (rows in this model's basis)."""
    qk = _pair_sketch(z @ wq.T, z @ wk.T, heads, kv_heads)
    ov = _pair_sketch(z @ wo, z @ wv.T, heads, kv_heads)
    return np.asarray(np.concatenate([_standardise(qk.ravel()), _standardise(ov.ravel())]), dtype=np.float32)


def _standardise(values: Float32Array) -> Float32Array:
    centred = values - values.mean()
    return np.asarray(centred / (centred.std() + 1e-12), dtype=np.float32)


def sketch_similarity(grid_a: list[Float32Array], grid_b: list[Float32Array]) -> Float32Array:
    """Pearson correlation of every layer sketch of A with every layer sketch of B."""
    a = np.stack(grid_a)
    b = np.stack(grid_b)
    return np.asarray((a @ b.T) / a.shape[1], dtype=np.float32)
