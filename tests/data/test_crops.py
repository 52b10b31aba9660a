import numpy as np
import pytest
import torch

from mossfuse.data.crops import SamplingGeometry, augment_pair, random_crop_pair
from mossfuse.errors import MossfuseInputError
from mossfuse.physics import gaussian_kernel, spatial_degrade


@pytest.mark.parametrize(("r", "size", "phase"), [(32, 31, 15), (8, 7, 3), (8, 8, 4), (4, 3, 1)])
@pytest.mark.parametrize("k_rot", [0, 1, 2, 3])
@pytest.mark.parametrize("flip", [False, True])
def test_augmented_pairs_stay_exact_degradations(rng, r, size, phase, k_rot, flip):
    """degrade(augment(HR)) == augment(degrade(HR)) for a kernel symmetric in its window."""
    hr = rng.random((2, 4 * r, 4 * r))
    t = np.exp(-((np.arange(size) - (size - 1) / 2) ** 2) / 4.5)  # symmetric in its window
    k = np.outer(t, t) / np.outer(t, t).sum()
    centre = size // 2
    lr = spatial_degrade(hr, k, r, phase, centre=centre)
    geo = SamplingGeometry(r, phase, size, centre)
    lr_a, hr_a = augment_pair(lr, hr, geo, k_rot, flip)
    np.testing.assert_allclose(spatial_degrade(hr_a, k, r, phase, centre=centre), lr_a,
                               atol=1e-6)
    lr_t, hr_t = augment_pair(torch.from_numpy(lr), torch.from_numpy(hr), geo, k_rot, flip)
    np.testing.assert_allclose(hr_t.numpy(), hr_a)
    np.testing.assert_allclose(lr_t.numpy(), lr_a)


def test_plain_flip_would_move_the_phase(rng):
    hr = rng.random((1, 128, 128))
    k = gaussian_kernel(31, 2.0)
    lr = spatial_degrade(hr, k, 32, 15)
    naive = spatial_degrade(hr[..., ::-1].copy(), k, 32, 15)
    assert np.abs(naive - lr[..., ::-1]).max() > 1e-3  # why the roll is needed


def test_crop_pairs_are_grid_aligned(rng):
    hr = rng.random((3, 64, 64))
    lr = spatial_degrade(hr, gaussian_kernel(7, 2.0), 8, 3)
    lr_c, hr_c = random_crop_pair(lr, hr, 8, 4, rng)
    assert lr_c.shape == (3, 4, 4) and hr_c.shape == (3, 32, 32)
    np.testing.assert_allclose(spatial_degrade(hr_c, gaussian_kernel(7, 2.0), 8, 3), lr_c,
                               atol=1e-6)


def test_overlapping_windows_refuse_flips():
    with pytest.raises(MossfuseInputError, match="disable flips"):
        SamplingGeometry(4, 1, 7, 3).flip_roll()
