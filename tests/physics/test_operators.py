import numpy as np
import pytest
import torch
from scipy.ndimage import correlate

from mossfuse.errors import MossfuseInputError
from mossfuse.physics import (
    FusionForwardModel,
    SpatialDegradation,
    gaussian_kernel,
    spatial_degrade,
    spatial_degrade_adjoint,
    spectral_degrade,
    spectral_degrade_adjoint,
)


def _reference_degrade(x, k, r, phase, centre):
    """Independent definition: full correlation with zero padding, then sampling."""
    pad = np.zeros((x.shape[0], x.shape[1] + 2 * k.shape[0], x.shape[2] + 2 * k.shape[1]))
    pad[:, k.shape[0] : k.shape[0] + x.shape[1], k.shape[1] : k.shape[1] + x.shape[2]] = x
    out = []
    for band in x:
        # correlate with origin such that the tap `centre` lands on the output pixel
        origin = (centre - (k.shape[0] // 2), centre - (k.shape[1] // 2))
        out.append(correlate(band, k, mode="constant", origin=(-origin[0], -origin[1])))
    out = np.stack(out)
    return out[:, phase::r, phase::r]


@pytest.mark.parametrize(("size", "r", "phase"), [(7, 8, 3), (31, 32, 15), (5, 6, 2), (3, 4, 1)])
def test_valid_degradation_matches_independent_computation(rng, size, r, phase):
    H = r * 4
    x = rng.random((3, H, H))
    k = rng.random((size, size))
    k /= k.sum()
    c = size // 2
    ours = spatial_degrade(x, k, r, phase, centre=c)
    np.testing.assert_allclose(ours, _reference_degrade(x, k, r, phase, c), atol=1e-10)


def test_even_kernel_daem_geometry(rng):
    x = rng.random((2, 64, 64))
    k = rng.random((32, 32))
    k /= k.sum()
    ours = spatial_degrade(x, k, 32, 16)  # centre 16 for even 32: windows [32i, 32i+32)
    expected = np.einsum("bhiwj,ij->bhw", x.reshape(2, 2, 32, 2, 32), k)
    np.testing.assert_allclose(ours, expected, atol=1e-10)


def test_valid_raises_when_window_leaves_image(rng):
    x = rng.random((1, 32, 32))
    with pytest.raises(MossfuseInputError, match="padded mode"):
        spatial_degrade(x, gaussian_kernel(15, 2.0), 4, 0)
    out = spatial_degrade(x, gaussian_kernel(15, 2.0), 4, 0, padding="reflect")
    assert out.shape == (1, 8, 8)


@pytest.mark.parametrize("padding", ["valid", "reflect", "circular", "replicate"])
def test_adjoint_identity(padding):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)
    k = torch.rand(7, 7, generator=g, dtype=torch.float64)
    op = dict(ratio=8, phase=3, centre=3, padding=padding)
    if padding != "valid":
        op = dict(ratio=4, phase=0, centre=3, padding=padding)
    ax = spatial_degrade(x, k, **op)
    y = torch.rand(ax.shape, generator=g, dtype=torch.float64)
    aty = spatial_degrade_adjoint(y, k, hr_shape=(32, 32), **op)
    assert torch.allclose((ax * y).sum(), (x * aty).sum(), rtol=1e-10)


def test_spectral_adjoint_and_shapes(rng):
    x = rng.random((31, 5, 6))
    r = rng.random((3, 31))
    y = rng.random((3, 5, 6))
    lhs = (spectral_degrade(x, r) * y).sum()
    rhs = (x * spectral_degrade_adjoint(y, r)).sum()
    assert np.isclose(lhs, rhs)
    with pytest.raises(MossfuseInputError, match="bands"):
        spectral_degrade(rng.random((30, 5, 6)), r)


def test_numpy_in_numpy_out_and_gradients_flow():
    k = torch.tensor(gaussian_kernel(7, 2.0), requires_grad=True)
    x = torch.rand(1, 31, 16, 16, requires_grad=True)
    y = spatial_degrade(x, k, 8, 3)
    y.sum().backward()
    assert k.grad is not None and x.grad is not None
    out = spatial_degrade(np.ones((31, 16, 16), np.float32), gaussian_kernel(7, 2.0), 8, 3)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, 1.0, atol=1e-6)  # normalised kernel keeps flat fields


def test_forward_model_routes_meet_in_lr_msi(rng):
    x = rng.random((31, 64, 64)).astype(np.float32)
    srf = rng.random((3, 31)).astype(np.float32)
    fm = FusionForwardModel(SpatialDegradation(gaussian_kernel(7, 2.0), 8, 3), srf)
    lr, hr = fm(x)
    np.testing.assert_allclose(fm.lr_msi_from_hsi(lr), fm.lr_msi_from_msi(hr), rtol=1e-5)
    assert fm.lr_hsi_adjoint(lr, (64, 64)).shape == x.shape
    assert fm.hr_msi_adjoint(hr).shape == x.shape
