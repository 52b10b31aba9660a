"""Paired LR/HR crops and augmentations that keep the sampling geometry exact.

Convention
----------
With ratio ``r``, sampling phase ``phase`` and a kernel of ``size`` taps centred at ``centre``,
LR sample ``i`` reads the HR window ``[o + r i, o + r i + size)`` with ``o = phase - centre``
(:mod:`mossfuse.physics.spatial`). A crop of LR samples ``[a, a + n)`` pairs with the HR window
``[r a, r a + r n)`` and keeps offset ``o`` inside the crop.

Flipping a crop of ``P = r n`` pixels maps window ``[o + r i, o + r i + size)`` to
``[P - o - size - r i, P - o - r i)``: the offset becomes ``o' = (r - o - size) mod r``. When
``o' != o`` the flipped HR crop is rolled by ``o - o'`` so the windows land where the LR
samples expect them again; the pixels that wrap around are ones no window reads (they exist
only when ``size < r``; the ``mossfuse-x32`` windows ``[32 i, 32 i + 31)`` leave pixel
``32 i + 31`` unread). A flip with ``size > r`` (overlapping windows) has no exact fix and is
refused. Exactness also needs a kernel symmetric within its window (every Gaussian of odd
size about its centre); a learned asymmetric PSF sees the mirrored kernel. A transpose keeps
the geometry when the phase is the same on both axes. Note the
MossFuse release flips without this correction (its phase silently moves 15 -> 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mossfuse.errors import MossfuseInputError


@dataclass(frozen=True)
class SamplingGeometry:
    """ratio r, phase and the kernel's size and centre (taps)."""

    ratio: int
    phase: int
    kernel_size: int
    centre: int

    @property
    def offset(self) -> int:
        return self.phase - self.centre

    def flip_roll(self) -> int:
        """Roll (in HR pixels) that restores the geometry after a flip."""
        r, o, k = self.ratio, self.offset, self.kernel_size
        if k > r:
            raise MossfuseInputError(
                f"a flip cannot keep the geometry of a {k}-tap kernel at ratio {r} (windows "
                "overlap); disable flips"
            )
        flipped = (r - o - k) % r
        return o - flipped


def random_crop_pair(
    lr: np.ndarray, hr: np.ndarray, ratio: int, lr_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A random ``(B, n, n)`` LR crop and its ``(b, r n, r n)`` HR crop (grid-aligned)."""
    h, w = lr.shape[-2:]
    if lr_size > min(h, w):
        raise MossfuseInputError(f"LR crop {lr_size} larger than the LR image {h} x {w}")
    a = int(rng.integers(0, h - lr_size + 1))
    b = int(rng.integers(0, w - lr_size + 1))
    return (
        lr[..., a : a + lr_size, b : b + lr_size],
        hr[..., ratio * a : ratio * (a + lr_size), ratio * b : ratio * (b + lr_size)],
    )


def augment_pair(
    lr: np.ndarray, hr: np.ndarray, geometry: SamplingGeometry, k_rot: int, flip: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the same flip (last axis) then ``k_rot`` quarter turns to both crops, rolling the
    HR crop after each flip so the sampling geometry is unchanged (see module Convention).

    Works on numpy arrays or torch tensors of shape ``(..., H, W)``.
    """
    roll = geometry.flip_roll() if (flip or k_rot % 4) else 0

    def hflip(x, is_hr):
        x = x[..., ::-1] if isinstance(x, np.ndarray) else x.flip(-1)
        if is_hr and roll:
            x = np.roll(x, roll, axis=-1) if isinstance(x, np.ndarray) else x.roll(roll, -1)
        return x

    def transpose(x):
        return np.swapaxes(x, -1, -2) if isinstance(x, np.ndarray) else x.transpose(-1, -2)

    if flip:
        lr, hr = hflip(lr, False), hflip(hr, True)
    for _ in range(k_rot % 4):  # rot90 (counter-clockwise) = transpose, then flip rows
        lr, hr = transpose(lr), transpose(hr)
        lr = lr[..., ::-1, :] if isinstance(lr, np.ndarray) else lr.flip(-2)
        hr = _flip_rows(hr, roll)
    if isinstance(lr, np.ndarray):
        return np.ascontiguousarray(lr), np.ascontiguousarray(hr)
    return lr.contiguous(), hr.contiguous()


def _flip_rows(x, roll: int):
    if isinstance(x, np.ndarray):
        x = x[..., ::-1, :]
        return np.roll(x, roll, axis=-2) if roll else x
    x = x.flip(-2)
    return x.roll(roll, -2) if roll else x
