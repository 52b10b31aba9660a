"""HySure (Simões et al. 2015): ADMM with the exact Woodbury data step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.methods_testing import bicubic_psnr, make_case, psnr
from mossfuse.methods import get_method
from mossfuse.methods._linalg import (
    dct2,
    diff_h,
    diff_h_adjoint,
    diff_v,
    diff_v_adjoint,
    idct2,
    neumann_laplacian_eigs,
    solve_spatial_normal,
    windows_disjoint,
)
from mossfuse.methods.hysure import HySure, HySureConfig
from mossfuse.physics import SpatialDegradation, gaussian_kernel


@pytest.fixture(scope="module")
def case():
    return make_case()


def test_beats_bicubic_with_known_degradation(case):
    res = get_method("hysure").fuse(case.inputs)
    assert res.hr_hsi.shape == case.reference.shape
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 8.0
    assert res.info["iterations"] == 200 and res.info["exact_v1_step"]
    assert res.info["n_components"] == 10


def test_blind_mode(case):
    res = HySure().fuse(case.inputs.blind())
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 8.0
    assert res.estimated_srf is not None and res.estimated_psf is not None


def test_vca_basis_and_zero_init_run(case):
    res = HySure(basis="vca", n_components=4, init="zeros", n_iter=50).fuse(case.inputs)
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case)


def test_more_iterations_lower_the_objective(case):
    short = HySure(n_iter=20).fuse(case.inputs).info["objective"]
    long = HySure(n_iter=200).fuse(case.inputs).info["objective"]
    assert long < short


def _dense_system(op, p, size, gram, spec, mu):
    eye = torch.eye(size * size, dtype=torch.float64).reshape(-1, size, size)
    s = op(eye).reshape(size * size, -1).T  # (m, n): column j = S e_j
    n = size * size
    return (torch.kron(gram, s.T @ s) + torch.kron(spec, torch.eye(n, dtype=torch.float64))
            + mu * torch.eye(p * n, dtype=torch.float64))


@pytest.mark.parametrize("op", [
    SpatialDegradation(gaussian_kernel(3, 1.0), 4, 1),  # disjoint windows: Woodbury
    SpatialDegradation(gaussian_kernel(7, 1.5), 4, 1, padding="reflect"),  # overlap: CG
])
def test_spatial_normal_solve_matches_dense_solution(op):
    torch.manual_seed(0)
    p, size, mu = 2, 12, 0.05
    e = torch.randn(5, p, dtype=torch.float64)
    gram = e.T @ e
    a = torch.randn(2, 5, dtype=torch.float64) @ e
    spec = a.T @ a
    u = torch.randn(p, size, size, dtype=torch.float64)
    dense = _dense_system(op, p, size, gram, spec, mu)
    expected = torch.linalg.solve(dense, u.reshape(-1)).reshape(p, size, size)
    got = solve_spatial_normal(u, op, mu, gram, spec, cg_iters=500, cg_tol=1e-12)
    assert windows_disjoint(op) == (op.padding == "valid")
    torch.testing.assert_close(got, expected, rtol=1e-8, atol=1e-8)


def test_difference_operators_are_adjoint_and_dct_diagonalises_them():
    torch.manual_seed(0)
    z = torch.randn(2, 9, 11, dtype=torch.float64)
    g = torch.randn(2, 9, 11, dtype=torch.float64)
    for d, dt in [(diff_h, diff_h_adjoint), (diff_v, diff_v_adjoint)]:
        assert abs(float((d(z) * g).sum() - (z * dt(g)).sum())) < 1e-10
    lap = diff_h_adjoint(diff_h(z)) + diff_v_adjoint(diff_v(z))
    via_dct = idct2(dct2(z) * torch.from_numpy(neumann_laplacian_eigs(9, 11)).double())
    torch.testing.assert_close(via_dct, lap, rtol=1e-9, atol=1e-9)


def test_config_defaults_follow_the_paper():
    cfg = HySureConfig()
    assert (cfg.lambda_phi, cfg.lambda_m, cfg.n_iter, cfg.n_components) == (5e-4, 1.0, 200, 10)
    with pytest.raises(ValueError):
        HySureConfig(mu=0)
    assert np.isfinite(cfg.mu)
