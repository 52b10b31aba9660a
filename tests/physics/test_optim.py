"""The estimator's numpy optimisers agree with scipy.optimize."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from mossfuse.physics._optim import minimize_bounded, nnls


@pytest.mark.parametrize("seed", range(20))
def test_nnls_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(3, 40)), int(rng.integers(1, 32))
    a = rng.standard_normal((m, n))
    if seed % 3 == 0:  # ill-conditioned, correlated columns like neighbouring HSI bands
        a = np.cumsum(np.abs(a), axis=1) + 1e-3 * rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    ref = scipy.optimize.nnls(a, b, maxiter=50 * n)[0]
    got = nnls(a, b, maxiter=50 * n)
    assert got.min() >= 0
    r_ref, r_got = np.linalg.norm(a @ ref - b), np.linalg.norm(a @ got - b)
    assert r_got <= r_ref * (1 + 1e-9) + 1e-12  # as good an optimum
    if np.linalg.matrix_rank(a) == n and seed % 3:  # unique solution
        np.testing.assert_allclose(got, ref, atol=1e-8)


@pytest.mark.parametrize("f,lo,hi", [
    (lambda t: (t - 0.3) ** 2, -2.0, 3.0),
    (lambda t: np.cos(t) + 0.1 * t, 0.0, 6.0),
    (lambda t: abs(t - 1.0) ** 1.5, 1.0, 4.0),   # minimum at the bound
    (lambda t: np.exp(t) - 2 * t, -1.0, 2.0),
])
def test_minimize_bounded_equals_scipy(f, lo, hi):
    ref = scipy.optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                         options={"xatol": 1e-5})
    x, fx = minimize_bounded(f, lo, hi, xatol=1e-5)
    assert lo <= x <= hi
    assert abs(x - ref.x) < 1e-4 and fx <= ref.fun + 1e-8
