"""Degradation module: PSF parameterisation, geometry, SRF constraints, export."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mossfuse_testing import single_threaded_torch  # noqa: F401

from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse import DegradationModule
from mossfuse.physics.forward import FusionForwardModel
from mossfuse.physics.psf import gaussian_kernel
from mossfuse.physics.spatial import spatial_degrade


def test_psf_init_sigma_02_centre_and_size():
    deg = DegradationModule(31, 3, 32)
    k = deg.kernel().detach()
    assert k.shape == (31, 31) and deg.centre == 15 and deg.phase == 15
    assert float(k.detach().sum()) == pytest.approx(1.0, abs=1e-6)
    e = deg.export()
    assert e["sigma"] == pytest.approx(0.2)
    assert e["eigenvalues"] == pytest.approx((0.04, 0.04))
    torch.testing.assert_close(deg.precision(), 25 * torch.eye(2))
    # sigma 0.2 px: almost a delta at the centre tap
    assert int(torch.argmax(k)) == 15 * 31 + 15 and float(k[15, 15]) > 0.999


@pytest.mark.parametrize("ratio,size,centre", [(4, 3, 1), (8, 7, 3), (5, 4, 2)])
def test_kernel_size_is_ratio_minus_one(ratio, size, centre):
    deg = DegradationModule(8, 3, ratio)
    assert deg.kernel().shape == (size, size) and deg.centre == centre == deg.phase


def test_anisotropic_kernel_keeps_its_centre_and_matches_physics():
    deg = DegradationModule(8, 3, 16)
    with torch.no_grad():
        deg.psf_factor.copy_(torch.tensor([[0.6, 123.0], [0.25, 0.4]]))  # upper entry masked
    k = deg.kernel().detach().double()
    assert float(k.sum()) == pytest.approx(1.0)
    g = torch.arange(15, dtype=torch.float64) - 7
    assert float((k.sum(0) * g).sum()) == pytest.approx(0.0, abs=1e-9)  # mean offset 0: centred
    assert float((k.sum(1) * g).sum()) == pytest.approx(0.0, abs=1e-9)
    e = deg.export()
    ref = gaussian_kernel(15, lambdas=e["eigenvalues"], theta=e["theta"])
    np.testing.assert_allclose(e["kernel"], ref, atol=1e-6)
    m = np.array([[0.6, 0.0], [0.25, 0.4]])
    np.testing.assert_allclose(e["precision"], m.T @ m, rtol=1e-6)
    assert -math.pi / 2 < e["theta"] <= math.pi / 2
    assert e["eigenvalues"][0] >= e["eigenvalues"][1]


def test_spatial_operator_is_the_physics_operator():
    deg = DegradationModule(8, 3, 4)
    with torch.no_grad():
        deg.psf_factor.copy_(torch.tensor([[1.2, 0.0], [0.3, 0.9]]))
    x = torch.rand(2, 8, 16, 16)
    ref = spatial_degrade(x, deg.kernel().detach(), 4, 1, centre=1)
    torch.testing.assert_close(deg.spatial(x), ref)
    assert deg.spatial(x).shape == (2, 8, 4, 4)
    # near-delta at init: samples the HR pixels 1 + 4 i
    deg0 = DegradationModule(8, 3, 4)
    torch.testing.assert_close(deg0.spatial(x), x[..., 1::4, 1::4], atol=1e-4, rtol=0)


@pytest.mark.parametrize("constraint", ["clamp", "softplus"])
def test_srf_rows_nonnegative_and_sum_to_one(constraint):
    deg = DegradationModule(8, 3, 4, srf_constraint=constraint)
    torch.testing.assert_close(deg.srf(), torch.full((3, 8), 1 / 8))
    with torch.no_grad():
        deg.srf_param.copy_(torch.randn(3, 8, generator=torch.Generator().manual_seed(0)) * 3)
    assert bool((deg.srf_param < 0).any())
    r = deg.srf()
    assert bool((r >= 0).all())
    torch.testing.assert_close(r.sum(1), torch.ones(3))
    if constraint == "softplus":
        assert bool((r > 0).all())
    deg.project_()
    if constraint == "clamp":
        assert bool((deg.srf_param >= 0).all())
    torch.testing.assert_close(deg.srf(), r)  # projection does not change the SRF


def test_clamped_zero_entries_still_receive_gradient():
    deg = DegradationModule(4, 2, 4, srf_constraint="clamp")
    with torch.no_grad():
        deg.srf_param[0, 0] = 0.0
    (deg.srf()[0, 0] * 1.0).backward()
    assert float(deg.srf_param.grad[0, 0]) != 0.0


def test_spectral_operator_and_clamped_lr_msi():
    deg = DegradationModule(4, 2, 4)
    with torch.no_grad():
        deg.srf_param.copy_(torch.tensor([[1.0, 1.0, 0.0, 2.0], [0.0, 0.0, 1.0, 1.0]]))
    x = torch.rand(1, 4, 3, 3)
    expected = torch.stack([(x[0, 0] + x[0, 1] + 2 * x[0, 3]) / 4, (x[0, 2] + x[0, 3]) / 2])
    torch.testing.assert_close(deg.spectral(x)[0], expected)
    big = torch.full((1, 4, 2, 2), 3.0)
    assert float(deg.lr_msi_from_hsi(big).detach().max()) == 1.0


def test_export_and_forward_model():
    deg = DegradationModule(8, 3, 4)
    e = deg.export()
    assert e["kernel"].shape == (3, 3) and e["srf"].shape == (3, 8)
    assert {"sigma", "eigenvalues", "theta", "covariance", "centre", "phase"} <= set(e)
    fm = deg.forward_model()
    assert isinstance(fm, FusionForwardModel)
    lr, msi = fm(np.random.default_rng(0).random((8, 16, 16), dtype=np.float32))
    assert lr.shape == (8, 4, 4) and msi.shape == (3, 16, 16)


def test_bad_arguments_raise():
    with pytest.raises(MossfuseInputError):
        DegradationModule(8, 3, 1)
    with pytest.raises(MossfuseInputError):
        DegradationModule(8, 3, 4, phase=4)
    with pytest.raises(MossfuseInputError):
        DegradationModule(8, 3, 4, srf_constraint="relu")
