"""Which layer of B came from which layer of A: a monotone path through the similarity grid.

Each layer of B is assigned one layer of A, never going backwards, so dropped layers of A (pruning,
every-second-layer students) are skipped and duplicated ones (depth up-scaling) are reused. Dynamic
programming over the L_A × L_B grid maximises the total similarity along the path.
"""

from __future__ import annotations

import numpy as np

from modeltrace.weights.source import Float32Array


def monotone_layer_map(similarity: Float32Array) -> dict[int, int]:
    """``{layer of B: layer of A}`` maximising Σ similarity[a, b] with a non-decreasing in b."""
    rows, cols = similarity.shape
    if rows == 0 or cols == 0:
        return {}
    score = np.full((rows, cols), -np.inf)
    back = np.zeros((rows, cols), dtype=np.int64)
    score[:, 0] = similarity[:, 0]
    for b in range(1, cols):
        best_prefix = np.maximum.accumulate(score[:, b - 1])
        argbest = np.zeros(rows, dtype=np.int64)
        for a in range(1, rows):
            argbest[a] = a if score[a, b - 1] >= best_prefix[a - 1] else argbest[a - 1]
        score[:, b] = similarity[:, b] + best_prefix
        back[:, b] = argbest
    path = {cols - 1: int(np.argmax(score[:, cols - 1]))}
    for b in range(cols - 1, 0, -1):
        path[b - 1] = int(back[path[b], b])
    return dict(sorted(path.items()))
