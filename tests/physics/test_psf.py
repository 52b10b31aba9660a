import numpy as np
import pytest
import torch

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.psf import (
    covariance_from_eigen,
    default_centre,
    gaussian_kernel,
    gaussian_kernel_from_precision,
    kernel_moments,
)


def test_isotropic_kernel_matches_separable_definition():
    i = np.arange(31)
    g = np.exp(-((i - 15) ** 2) / (2 * 2.0**2))
    g /= g.sum()
    np.testing.assert_allclose(gaussian_kernel(31, 2.0), np.outer(g, g), atol=1e-8)


def test_default_centre_odd_and_even():
    assert default_centre(31) == 15
    assert default_centre(7) == 3
    assert default_centre(32) == 16


def test_even_kernel_explicit_centre_and_sum():
    k = gaussian_kernel(32, 3.0)
    assert k.shape == (32, 32)
    assert np.argmax(k) == 16 * 32 + 16
    assert abs(k.sum() - 1) < 1e-6
    k2 = gaussian_kernel(9, 1.0, centre=(2, 6))
    assert np.unravel_index(np.argmax(k2), k2.shape) == (2, 6)


def test_anisotropic_kernel_recovers_covariance():
    lam, theta = (2.34, 7.49), 1.911
    k = gaussian_kernel(41, lambdas=lam, theta=theta)
    mom = kernel_moments(k)
    np.testing.assert_allclose(mom["covariance"], covariance_from_eigen(*lam, theta), atol=2e-3)
    np.testing.assert_allclose(sorted(mom["eigenvalues"]), sorted(lam), atol=2e-3)


def test_precision_factor_form_is_differentiable():
    m = torch.tensor([[5.0, 0.0], [0.3, 4.0]], dtype=torch.float64, requires_grad=True)
    k = gaussian_kernel_from_precision(m.T @ m, 7)
    k[3, 4].backward()
    assert m.grad is not None and torch.isfinite(m.grad).all()
    assert abs(float(k.detach().sum()) - 1) < 1e-12


def test_bad_parameters_raise():
    with pytest.raises(MossfuseInputError):
        gaussian_kernel(7)
    with pytest.raises(MossfuseInputError):
        gaussian_kernel(7, -1.0)
    with pytest.raises(MossfuseInputError):
        gaussian_kernel(7, lambdas=(0.0, 1.0))
