"""The residual alignment's Procrustes solver: the fast polar factor agrees with the SVD solution."""

from __future__ import annotations

import numpy as np
import pytest

from modeltrace.lineage.align import procrustes


@pytest.mark.parametrize("shape", [(64, 64), (80, 48), (48, 80)])
def test_procrustes_polar_factor_equals_the_svd_solution(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    source = rng.standard_normal((500, shape[0])).astype(np.float32)
    target = rng.standard_normal((500, shape[1])).astype(np.float32)
    u, _, vt = np.linalg.svd(source.T.astype(np.float64) @ target, full_matrices=False)
    assert np.abs(procrustes(source, target) - u @ vt).max() < 1e-4


def test_procrustes_falls_back_to_the_svd_when_rank_deficient() -> None:
    rng = np.random.default_rng(1)
    source = rng.standard_normal((500, 32)).astype(np.float32)
    source[:, 5] = 0.0  # one direction carries nothing: MᵀM is singular
    q = procrustes(source, rng.standard_normal((500, 32)).astype(np.float32))
    assert np.isfinite(q).all() and q.shape == (32, 32)
