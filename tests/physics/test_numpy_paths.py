"""The numpy paths of the operators (taken for numpy inputs, importing no torch) agree with
the torch paths (taken for tensors) to float rounding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from mossfuse.methods._cubic import cubic_upsample
from mossfuse.methods.bicubic import bicubic_upsample
from mossfuse.physics.psf import gaussian_kernel, gaussian_kernel_from_precision
from mossfuse.physics.spatial import hr_windows, spatial_degrade
from mossfuse.physics.spectral import spectral_degrade, spectral_degrade_adjoint

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape,size,ratio,phase,padding", [
    ((3, 64, 64), 31, 32, 15, "valid"),
    ((2, 31, 48, 40), 7, 8, 3, "valid"),
    ((2, 40, 40), 9, 4, 1, "reflect"),
    ((2, 40, 36), 9, 4, (1, 2), "replicate"),
    ((1, 33, 29), 5, 3, 0, "circular"),
])
@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_spatial_degrade_numpy_equals_torch(shape, size, ratio, phase, padding, dtype, tol):
    x = RNG.uniform(0, 1, shape).astype(dtype)
    k = RNG.uniform(0, 1, (size, size))
    k /= k.sum()
    got = spatial_degrade(x, k, ratio, phase, padding=padding)
    ref = spatial_degrade(torch.from_numpy(x), torch.from_numpy(k), ratio, phase,
                          padding=padding).numpy()
    assert isinstance(got, np.ndarray) and got.dtype == dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=tol, rtol=0)


def test_hr_windows_define_the_correlation():
    x = RNG.uniform(0, 1, (2, 26, 26))
    k = RNG.uniform(0, 1, (5, 5))
    win = hr_windows(x, k.shape, 4, 2)
    assert win.shape == (2, 6, 6, 5, 5)
    np.testing.assert_allclose((win * k).sum((-2, -1)), spatial_degrade(x, k, 4, 2), atol=1e-13)
    assert win[0, 1, 2, 0, 0] == x[0, 4 + 2 - 2, 8 + 2 - 2]  # window of sample (1, 2) starts there


def test_spatial_degrade_numpy_refuses_windows_outside_valid():
    from mossfuse.errors import MossfuseInputError

    with pytest.raises(MossfuseInputError, match="reads outside"):
        spatial_degrade(np.zeros((1, 16, 16)), np.ones((9, 9)) / 81, 4, 0)


def test_spectral_numpy_equals_torch():
    x = RNG.uniform(0, 1, (2, 31, 8, 9)).astype(np.float32)
    srf = RNG.uniform(0, 1, (3, 31))
    got = spectral_degrade(x, srf)
    assert got.dtype == np.float32 and got.shape == (2, 3, 8, 9)
    np.testing.assert_allclose(got, spectral_degrade(torch.from_numpy(x), srf).numpy(),
                               rtol=1e-6, atol=1e-6)
    y = RNG.uniform(0, 1, (3, 8, 9))
    np.testing.assert_allclose(spectral_degrade_adjoint(y, srf),
                               spectral_degrade_adjoint(torch.from_numpy(y), srf).numpy(),
                               atol=1e-12)


def test_gaussian_kernel_numpy_equals_torch_formula():
    for size, sigma, lambdas, theta in [(31, 2.0, None, 0.0), (7, None, (3.0, 1.2), 0.7)]:
        k = gaussian_kernel(size, sigma, lambdas=lambdas, theta=theta)
        if sigma is not None:
            cov = np.eye(2) * sigma**2
        else:
            from mossfuse.physics.psf import covariance_from_eigen

            cov = covariance_from_eigen(*lambdas, theta)
        ref = gaussian_kernel_from_precision(torch.tensor(np.linalg.inv(cov)), size).numpy()
        np.testing.assert_allclose(k, ref.astype(np.float32), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape,ratio", [((31, 16, 16), 32), ((3, 7, 5), 4), ((2, 1, 3), 3),
                                         ((1, 2, 2), 5)])
def test_bicubic_equals_torch_interpolate(shape, ratio):
    x = RNG.uniform(0, 1, shape).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(x)[None], scale_factor=ratio, mode="bicubic",
                        align_corners=False)[0].numpy()
    np.testing.assert_allclose(bicubic_upsample(x, ratio), ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("shape,ratio,phase", [((31, 16, 16), 32, 15), ((3, 7, 5), 4, 0),
                                               ((4, 9, 9), 8, 7)])
def test_phase_cubic_equals_upsample_cube(shape, ratio, phase):
    from mossfuse.methods._linalg import upsample_cube

    x = RNG.uniform(0, 1, shape).astype(np.float32)
    np.testing.assert_allclose(cubic_upsample(x, ratio, phase),
                               upsample_cube(x, ratio, phase).numpy(), atol=5e-6, rtol=0)
