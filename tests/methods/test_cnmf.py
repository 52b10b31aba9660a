"""CNMF (Yokoya et al. 2012) and its VCA initialisation."""

from __future__ import annotations

import numpy as np
import pytest

from methods.methods_testing import bicubic_psnr, make_case, psnr
from mossfuse.methods import get_method
from mossfuse.methods._linalg import vca, virtual_dimensionality
from mossfuse.methods.cnmf import CNMF, CNMFConfig, cnmf_fuse
from mossfuse.physics.estimation import resolve_degradation


@pytest.fixture(scope="module")
def case():
    return make_case()


def test_beats_bicubic_with_known_degradation(case):
    res = get_method("cnmf").fuse(case.inputs)
    assert res.hr_hsi.shape == case.reference.shape
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 8.0
    info = res.info
    assert info["n_endmembers"] == 16  # default 30 clamped to min(B, h w) = 16
    assert info["iterations"]["msi"] == 2 * 2 * CNMFConfig().n_inner  # 2 MSI loops, RGB
    assert info["iterations"]["hsi"] > 0
    assert "endmembers" not in info  # factors only with keep_factors


def test_blind_mode(case):
    res = CNMF().fuse(case.inputs.blind())
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 8.0
    assert res.estimated_srf is not None and res.estimated_psf is not None


def test_factors_are_nonnegative_and_reproduce_the_output(case):
    res = CNMF(keep_factors=True, n_endmembers=6).fuse(case.inputs)
    w, h = res.info["endmembers"], res.info["abundances"]
    assert w.shape == (16, 6) and h.shape == (6, 64, 64)
    assert (w >= 0).all() and (h >= 0).all()
    np.testing.assert_allclose(np.einsum("bp,phw->bhw", w, h), res.hr_hsi, rtol=1e-4,
                               atol=1e-5)


def test_more_msi_bands_update_msi_endmembers(case):
    # a 4-band MSI takes the branch that also updates W_m and H_h (b > 3)
    srf = np.vstack([case.srf, np.full((1, 16), 1 / 16, np.float32)])
    hr = np.einsum("jk,khw->jhw", srf, case.reference)
    deg = resolve_degradation(case.inputs)
    x, info = cnmf_fuse(case.inputs.lr_hsi, hr.astype(np.float32), srf, deg.spatial(),
                        CNMFConfig(n_endmembers=6, n_inner=30))
    assert psnr(case.reference, x) > bicubic_psnr(case) + 5.0
    assert info["iterations"]["msi"] > 2 * 30


def test_vd_endmember_count(case):
    x = case.inputs.lr_hsi.reshape(16, -1)
    assert 1 <= virtual_dimensionality(x) <= 16
    res = CNMF(n_endmembers="vd", min_endmembers=1, n_inner=20).fuse(case.inputs)
    assert res.info["n_endmembers"] == virtual_dimensionality(x)


def test_vca_finds_pure_pixels():
    rng = np.random.default_rng(0)
    ends = rng.uniform(0.1, 1.0, (10, 3))
    ab = rng.dirichlet(np.ones(3) * 0.3, size=500).T
    ab[:, :3] = np.eye(3)  # pure pixels present
    data = ends @ ab
    found, idx = vca(data, 3, seed=0)
    assert sorted(idx.tolist()) == [0, 1, 2]
    np.testing.assert_allclose(np.sort(found, axis=1), np.sort(ends, axis=1), atol=1e-8)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError):
        CNMFConfig(n_inner=0)
    with pytest.raises(ValueError):
        CNMFConfig(n_endmembers="auto")
