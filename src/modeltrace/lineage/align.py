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
#: Multiply-adds allowed per token-by-width² product (fit, held-out scores, E0): every shared token
#: is used up to ~2,000-wide models (all of every zoo model's); wider ones use a seeded sample of at
#: least 4 × width tokens (8,192 at 2048: a 4,096-token fit of a 2048² rotation, as many held out).
_ALIGN_BUDGET = 2**35


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
    """The (semi-)orthogonal Q minimising ‖source · Q − target‖: the polar factor of M = sourceᵀ · target.

    Computed as M·(MᵀM)^-½ from a symmetric eigendecomposition, several times faster than the SVD
    at 2048 wide; the SVD (U·Vᵀ) is the fallback when M is too ill-conditioned for that.
    """
    m = (source.T @ target).astype(np.float64)
    tall = m.shape[0] >= m.shape[1]
    gram = m.T @ m if tall else m @ m.T
    values, vectors = np.linalg.eigh(gram)
    if values[0] > values[-1] * 1e-12:
        inverse_root = (vectors / np.sqrt(values)) @ vectors.T
        return np.asarray(m @ inverse_root if tall else inverse_root @ m, dtype=np.float32)
    u, _, vt = np.linalg.svd(m, full_matrices=False)
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
    cross = (za.T @ zb).astype(np.float64) / len(ea)
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


@dataclass
class SharedRows:
    """Embedding rows of the tokens both vocabularies share, read once for every use.

    ``rows_a``/``rows_b`` hold every shared token's row, or a seeded sample (see ``_ALIGN_BUDGET``);
    ``identical`` says whether *every* shared token's row is bit-identical in both models.
    """

    shared: int
    rows_a: Float32Array
    rows_b: Float32Array
    identical: bool


def _token_sample(count: int, width: int, seed: int) -> np.ndarray | None:
    limit = max(4 * width, _ALIGN_BUDGET // (width * width))
    if count <= limit:
        return None
    return np.sort(np.random.default_rng([seed, 11]).choice(count, limit, replace=False))


def _rows(model: Model, ids: np.ndarray) -> Float32Array:
    rows = np.ascontiguousarray(model.tensor("embed.tokens.weight")[ids])
    model.release()
    return rows


def _all_rows_identical(a: Model, b: Model, ids_a: np.ndarray, ids_b: np.ndarray) -> bool:
    """Exact comparison of every shared row, one table in memory at a time plus A's shared rows."""
    rows_a = _rows(a, ids_a)
    table_b = b.tensor("embed.tokens.weight")
    step = 8192
    same = all(
        np.array_equal(rows_a[i : i + step], table_b[ids_b[i : i + step]]) for i in range(0, len(ids_b), step)
    )
    b.release()
    return same


def shared_rows(a: Model, b: Model, seed: int = 0) -> SharedRows:
    """Read the shared tokens' rows of both embedding tables (each table once, one at a time)."""
    ids_a, ids_b = shared_token_ids(a, b)
    if len(ids_a) == 0:
        empty = np.empty((0, 0), np.float32)
        return SharedRows(0, empty, empty, False)
    width = max(a.shape("embed.tokens.weight")[1], b.shape("embed.tokens.weight")[1])
    sample = _token_sample(len(ids_a), width, seed)
    pick_a, pick_b = (ids_a, ids_b) if sample is None else (ids_a[sample], ids_b[sample])
    rows_a, rows_b = _rows(a, pick_a), _rows(b, pick_b)
    identical = rows_a.shape == rows_b.shape and bool(np.array_equal(rows_a, rows_b))
    if identical and sample is not None:
        identical = _all_rows_identical(a, b, ids_a, ids_b)
    return SharedRows(len(ids_a), rows_a, rows_b, identical)


def align(a: Model, b: Model, seed: int = 0) -> ResidualAlignment | None:
    """Fit the residual alignment on half the shared tokens and score it on the other half."""
    return align_rows(shared_rows(a, b, seed), seed)


def align_rows(rows: SharedRows, seed: int = 0) -> ResidualAlignment | None:
    """:func:`align` on rows already read."""
    if rows.shared < MIN_SHARED_TOKENS:
        return None
    ea = rows.rows_a - rows.rows_a.mean(0)
    eb = rows.rows_b - rows.rows_b.mean(0)
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
        shared_tokens=rows.shared,
        fitted_tokens=len(fit),
        heldout_tokens=len(test),
        heldout_correlation=_pearson(predicted, eb[test]),
        heldout_retrieval=retrieval,
        identity_correlation=_pearson(ea[test], eb[test]) if same_width else float("nan"),
        width_a=ea.shape[1],
        width_b=eb.shape[1],
    )
    return ResidualAlignment(q=q, summary=summary, identity_test=identity)
