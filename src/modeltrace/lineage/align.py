"""Residual-stream alignment: map B's hidden basis onto A's through the tokens both vocabularies share.

A derived model may have its residual stream rotated (fold the norms, then rotate every matrix that
reads or writes the stream): index-wise comparisons then see noise. Token embeddings of shared tokens
live in each model's own basis, so an orthogonal Procrustes fit ``E_A[T] · Q ≈ E_B[T]`` recovers the
rotation (and, for different widths, a semi-orthogonal map). The rows are centred first (a large mean
row makes any two models look aligned), the fit uses half of the shared tokens and the quality is
scored on the other half, because an in-sample fit overfits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeltrace.lineage.evidence import Alignment, TestResult
from modeltrace.lineage.pvalues import normal_tail_log10
from modeltrace.weights.model import Model
from modeltrace.weights.source import Float32Array

#: Fewer shared tokens than this and the alignment is not trusted.
MIN_SHARED_TOKENS = 1000
#: Held-out tokens scored for nearest-neighbour retrieval (the cosine matrix is this squared).
_RETRIEVAL_SAMPLE = 2000


@dataclass
class ResidualAlignment:
    """``q`` maps A's residual coordinates to B's: a row vector x_A becomes x_A · q."""

    q: Float32Array
    summary: Alignment
    identity_test: TestResult | None


def rows_by_index(a: Model, b: Model) -> bool:
    """True when a vocabulary is missing but the tables have equal rows: rows are matched by index.

    An exported file often ships without its tokenizer (the zoo's int8 ONNX does); equal row counts
    are then the best available evidence that the rows mean the same tokens, and the report says so.
    """
    if a.vocabulary is not None and b.vocabulary is not None:
        return False
    return bool(a.shape("embed.tokens.weight")[0] == b.shape("embed.tokens.weight")[0])


def shared_token_ids(a: Model, b: Model) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into each embedding table for tokens equal by normalised string."""
    va, vb = a.vocabulary, b.vocabulary
    rows_a, rows_b = a.shape("embed.tokens.weight")[0], b.shape("embed.tokens.weight")[0]
    if rows_by_index(a, b):
        ids = np.arange(rows_a, dtype=np.int64)
        return ids, ids
    if va is None or vb is None:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pairs = [(i, j) for i, j in va.shared(vb) if i < rows_a and j < rows_b]
    if not pairs:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ids = np.asarray(pairs, dtype=np.int64)
    return ids[:, 0], ids[:, 1]


def _pearson(x: Float32Array, y: Float32Array) -> float:
    x = x.ravel().astype(np.float64)
    y = y.ravel().astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    denominator = float(np.sqrt((x @ x) * (y @ y)))
    return float(x @ y / denominator) if denominator > 0 else 0.0


def procrustes(source: Float32Array, target: Float32Array) -> Float32Array:
    """The (semi-)orthogonal Q minimising ‖source · Q − target‖ (SVD of sourceᵀ · target)."""
    u, _, vt = np.linalg.svd(source.astype(np.float64).T @ target.astype(np.float64), full_matrices=False)
    return np.asarray(u @ vt, dtype=np.float32)


def identity_coordinate_test(ea: Float32Array, eb: Float32Array) -> TestResult:
    """E0: are the embedding coordinates shared *as they are*, with no rotation fitted?

    Under H0 (independent initialisation and coordinate-wise training), B's residual coordinates are
    exchangeable with respect to A's: any permutation of B's columns is as likely as the identity.
    The statistic is the mean correlation of column c of A with column c of B over shared tokens;
    its null is the distribution of that mean when B's columns are matched to A's at random, whose
    mean and spread come from all d_A × d_B column correlations (normal approximation).
    """
    za = (ea - ea.mean(0)) / (ea.std(0) + 1e-12)
    zb = (eb - eb.mean(0)) / (eb.std(0) + 1e-12)
    cross = (za.T.astype(np.float64) @ zb.astype(np.float64)) / len(ea)
    d = cross.shape[0]
    observed = float(np.trace(cross) / d)
    off = cross[~np.eye(d, dtype=bool)]
    null_mean, null_sd = float(off.mean()), float(off.std() / np.sqrt(d))
    z = (observed - null_mean) / max(null_sd, 1e-12)
    return TestResult(
        name="embedding coordinates shared without rotation (E0)",
        null="B's residual coordinates are exchangeable with A's (independent initialisation)",
        statistic=observed,
        log10_p=normal_tail_log10(z),
        effect=z,
        diagnostics={"null_mean": null_mean, "null_sd": null_sd, "columns": d},
    )


def align(a: Model, b: Model, seed: int = 0) -> ResidualAlignment | None:
    """Fit the residual alignment on half the shared tokens and score it on the other half."""
    ids_a, ids_b = shared_token_ids(a, b)
    if len(ids_a) < MIN_SHARED_TOKENS:
        return None
    ea_all, eb_all = a.tensor("embed.tokens.weight"), b.tensor("embed.tokens.weight")
    ea, eb = ea_all[ids_a], eb_all[ids_b]
    del ea_all, eb_all
    ea = ea - ea.mean(0)
    eb = eb - eb.mean(0)
    order = np.random.default_rng(seed).permutation(len(ea))
    fit, test = order[: len(order) // 2], order[len(order) // 2 :]
    q = procrustes(ea[fit], eb[fit])
    predicted = ea[test] @ q
    sample = test[:_RETRIEVAL_SAMPLE]
    pred_s = predicted[: len(sample)]
    pred_s = pred_s / (np.linalg.norm(pred_s, axis=1, keepdims=True) + 1e-12)
    true_s = eb[sample] / (np.linalg.norm(eb[sample], axis=1, keepdims=True) + 1e-12)
    retrieval = float(np.mean(np.argmax(pred_s @ true_s.T, axis=1) == np.arange(len(sample))))
    same_width = ea.shape[1] == eb.shape[1]
    identity = identity_coordinate_test(ea[test], eb[test]) if same_width else None
    summary = Alignment(
        shared_tokens=len(ids_a),
        fitted_tokens=len(fit),
        heldout_tokens=len(test),
        heldout_correlation=_pearson(predicted, eb[test]),
        heldout_retrieval=retrieval,
        identity_correlation=_pearson(ea[test], eb[test]) if same_width else float("nan"),
        width_a=ea.shape[1],
        width_b=eb.shape[1],
    )
    return ResidualAlignment(q=q, summary=summary, identity_test=identity)
