"""Co-registration of a real pair: sub-pixel shift detection and correction."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import torch

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.psf import gaussian_kernel
from mossfuse.physics.spatial import spatial_degrade
from mossfuse.pipeline.coregistration import estimate_shift, register_pair, shift_between

torch.set_num_threads(1)

RATIO, PHASE, CENTRE = 4, 1, 1


def _pair(seed: int = 1, size: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray]:
    """A smooth synthetic HR-HSI -> (LR-HSI, HR-MSI, SRF, PSF), co-registered."""
    rng = np.random.default_rng(seed)
    ab = scipy.ndimage.gaussian_filter(rng.random((4, size, size)), (0, 3, 3))
    ab -= ab.min(axis=(1, 2), keepdims=True)
    ab /= ab.max(axis=(1, 2), keepdims=True)
    x = np.einsum("bk,khw->bhw", rng.random((12, 4)), ab) / 4
    srf = rng.random((3, 12))
    srf /= srf.sum(1, keepdims=True)
    psf = gaussian_kernel(3, 1.0)
    lr = np.asarray(spatial_degrade(x, psf, RATIO, PHASE, centre=CENTRE))
    return lr, np.einsum("jb,bhw->jhw", srf, x), srf, psf


def test_known_subpixel_shift_is_detected_within_a_tenth_of_a_pixel_and_corrected():
    lr, msi, srf, psf = _pair()
    moved = register_pair(lr, (0.3, -1.6))  # the LR-HSI displaced by (0.3, -1.6) LR px
    est = estimate_shift(moved, msi, srf, psf, ratio=RATIO, phase=PHASE, centre=CENTRE)
    # the correction is the opposite displacement
    assert est.shift_lr == pytest.approx((-0.3, 1.6), abs=0.1)
    assert est.shift_hr == pytest.approx((-1.2, 6.4), abs=0.4)
    assert est.spread < 0.1
    fixed = register_pair(moved, est)
    inner = (slice(None), slice(4, -4), slice(4, -4))
    assert np.abs(fixed - lr)[inner].max() < 0.25 * np.abs(moved - lr)[inner].max()
    again = estimate_shift(fixed, msi, srf, psf, ratio=RATIO, phase=PHASE, centre=CENTRE)
    assert again.magnitude_lr < 0.1


def test_no_data_hole_in_the_msi_does_not_spoil_the_shift():
    lr, msi, srf, psf = _pair(seed=2)
    moved = register_pair(lr, (0.3, -1.6))
    msi = msi.copy()
    msi[:, 10:60, 60:110] = np.nan  # a NaN patch as in a real mosaic
    est = estimate_shift(moved, msi, srf, psf, ratio=RATIO, phase=PHASE, centre=CENTRE)
    assert est.shift_lr == pytest.approx((-0.3, 1.6), abs=0.1)
    assert est.info["masked_lr_pixels"] > 0


def test_co_registered_pair_measures_no_shift():
    lr, msi, srf, psf = _pair(seed=3)
    est = estimate_shift(lr, msi, srf, psf, ratio=RATIO, phase=PHASE, centre=CENTRE)
    assert est.magnitude_lr < 0.05


def test_register_pair_moves_by_integer_and_keeps_nan_where_the_hole_moved():
    x = np.zeros((2, 16, 16), np.float32)
    x[:, 8, 8] = 1.0
    y = register_pair(x, (2.0, -3.0))
    assert np.unravel_index(np.argmax(y[0]), y[0].shape) == (10, 5)
    assert y.dtype == np.float32
    x[:, 2, 2] = np.nan
    z = register_pair(x, (1.0, 1.0))
    assert np.isnan(z[:, 3, 3]).all() and np.isfinite(z[:, 10, 10]).all()


def test_shift_between_rejects_mismatched_or_tiny_images():
    with pytest.raises(MossfuseInputError, match="one shape"):
        shift_between(np.zeros((1, 16, 16)), np.zeros((1, 16, 17)))
    with pytest.raises(MossfuseInputError, match="8 x 8"):
        shift_between(np.zeros((1, 6, 6)), np.zeros((1, 6, 6)))
