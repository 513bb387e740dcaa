"""S3: weight-only MLP neuron matching, the statistic whose null survives convergent training.

Hidden units of an MLP are exchangeable at initialisation, and convergent training does not give two
independent models neuron-to-neuron identity. Match A's neurons to B's twice, from two different
weight matrices of the same neurons — gate rows and up rows for a gated MLP, input rows and output
columns otherwise — after mapping B into A's residual basis. If B's MLP came from A's, both matchings
recover the same (possibly permuted) correspondence; if not, they agree only by chance. Cosines
cancel per-neuron up/down rescaling; the permutation cancels because it moves both matrices alike.

Null rate. Chance agreement is about 1/width, but real independent pairs agree more often than that:
0.005–0.012 between the zoo's independent models, and up to 0.082 at layer 0 between small llama
models trained here from different seeds on the same text and tokenizer (benchmarks/lineage_eval.py,
45 pairs; other layers ~0.02); within one post-LN model, non-corresponding layers reach ~0.14. The
p-value uses a binomial null with a per-neuron agreement rate of ``max(1/width, floor)``, the floor
well above every independent pair measured so far: 0.15 for gated pre-norm MLPs, 0.3 for ungated
(in/out) MLPs. Conservative by design (a derived MLP agrees on nearly every neuron, which stays
astronomically unlikely at these rates); a per-family, per-depth null bank will tighten it.

Scale. Matching every neuron of a wide model against every neuron of the other costs
neurons² × width per matrix (≈ 0.3 TFLOP per layer at Llama-3.2-1B's 8192 × 2048). Up to
``SKETCH_ABOVE`` coordinates the rows are used whole (every model the evaluation harness measured);
wider rows are projected on ``SKETCH_DIMS`` random orthonormal directions of A's basis, and at most
``MAX_NEURONS`` of A's neurons per layer (seeded) are matched against all of B's; the binomial test
counts over the sampled neurons. Projection blurs cosines by about ±1/√SKETCH_DIMS, so agreement
drops but stays far beyond the null: forcing the sketch on SmolLM2 against its disguised copy with
10 dB noise (its hardest derived case) lowers per-layer agreement from 0.86–0.89 to 0.63–0.68 at 64
dimensions, with log10 p still below −170 over 512 sampled neurons; the zoo's independent pair
(e5-small vs MiniLM-L6) stays at chance (0–0.004). Noise can only push independent agreement down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeltrace.lineage.pvalues import binomial_tail_log10
from modeltrace.weights.source import Float32Array

GATED_NULL_FLOOR = 0.15
UNGATED_NULL_FLOOR = 0.30
#: Rows wider than this are sketched by a random projection (see the module docstring).
SKETCH_ABOVE = 1024
SKETCH_DIMS = 64
#: At most this many of A's neurons per layer are matched.
MAX_NEURONS = 2048


@dataclass
class NeuronMatch:
    agreement: float
    matched: int
    neurons: int
    null_rate: float
    log10_p: float


@dataclass
class NeuronRows:
    """One layer's neurons ready for matching: unit rows of two weight views, in A's (sketched) basis."""

    first: Float32Array
    second: Float32Array
    gated: bool
    width: int  #: the layer's number of neurons (rows here may be a sample of them)


def sketch_basis(width: int, seed: int = 0) -> Float32Array | None:
    """Random orthonormal directions of A's residual basis (columns), or None to keep rows whole."""
    if width <= SKETCH_ABOVE:
        return None
    gaussian = np.random.default_rng([seed, 7]).standard_normal((width, SKETCH_DIMS))
    basis, _ = np.linalg.qr(gaussian)
    return np.asarray(basis, dtype=np.float32)


def _unit_rows(matrix: Float32Array) -> Float32Array:
    return np.asarray(matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12), dtype=np.float32)


def neuron_rows(
    first: Float32Array,
    second: Float32Array,
    *,
    gated: bool,
    into_a: Float32Array | None,
    sample: np.random.Generator | None = None,
) -> NeuronRows:
    """Rows of one layer's two views, mapped by ``into_a`` (this model's basis → A's sketched basis).

    ``into_a`` is None for A with whole rows, the sketch basis P for A otherwise, and ``qᵀ`` or ``qᵀ·P``
    for B. ``sample`` draws at most ``MAX_NEURONS`` rows (A's side only).
    """
    width = first.shape[0]
    if sample is not None and width > MAX_NEURONS:
        keep = np.sort(sample.choice(width, MAX_NEURONS, replace=False))
        first, second = first[keep], second[keep]
    if into_a is not None:
        first, second = first @ into_a, second @ into_a
    return NeuronRows(_unit_rows(first), _unit_rows(second), gated, width)


def best_match(rows_a: Float32Array, rows_b: Float32Array) -> np.ndarray:
    """For each unit row of A, the index of the most cosine-similar unit row of B."""
    return np.asarray(np.argmax(rows_a @ rows_b.T, axis=1))


def match_rows(a: NeuronRows, b: NeuronRows) -> NeuronMatch:
    """Agreement of two independent matchings of the same neurons of A into B."""
    pi_first = best_match(a.first, b.first)
    pi_second = best_match(a.second, b.second)
    agree = int(np.sum(pi_first == pi_second))
    neurons = len(pi_first)
    floor = GATED_NULL_FLOOR if a.gated else UNGATED_NULL_FLOOR
    rate = max(1.0 / max(b.width, 1), floor)
    return NeuronMatch(
        agreement=agree / max(neurons, 1),
        matched=agree,
        neurons=neurons,
        null_rate=rate,
        log10_p=binomial_tail_log10(agree, neurons, rate),
    )
