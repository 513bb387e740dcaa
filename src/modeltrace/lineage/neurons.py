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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modeltrace.lineage.pvalues import binomial_tail_log10
from modeltrace.weights.source import Float32Array

GATED_NULL_FLOOR = 0.15
UNGATED_NULL_FLOOR = 0.30


@dataclass
class NeuronMatch:
    agreement: float
    matched: int
    neurons: int
    null_rate: float
    log10_p: float


def _unit_rows(matrix: Float32Array) -> Float32Array:
    return np.asarray(matrix / (np.linalg.norm(matrix, axis=1, keepdims=True) + 1e-12), dtype=np.float32)


def best_match(rows_a: Float32Array, rows_b: Float32Array) -> np.ndarray:
    """For each row of A, the index of the most cosine-similar row of B."""
    return np.asarray(np.argmax(_unit_rows(rows_a) @ _unit_rows(rows_b).T, axis=1))


def match_neurons(
    first_a: Float32Array,
    first_b: Float32Array,
    second_a: Float32Array,
    second_b: Float32Array,
    *,
    gated: bool,
) -> NeuronMatch:
    """Agreement of two independent matchings of the same neurons; rows are neurons, in A's basis."""
    pi_first = best_match(first_a, first_b)
    pi_second = best_match(second_a, second_b)
    agree = int(np.sum(pi_first == pi_second))
    neurons = len(pi_first)
    floor = GATED_NULL_FLOOR if gated else UNGATED_NULL_FLOOR
    rate = max(1.0 / max(first_b.shape[0], 1), floor)
    return NeuronMatch(
        agreement=agree / max(neurons, 1),
        matched=agree,
        neurons=neurons,
        null_rate=rate,
        log10_p=binomial_tail_log10(agree, neurons, rate),
    )
