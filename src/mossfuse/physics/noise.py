"""Additive white Gaussian noise at a given SNR, a separate pluggable part of a protocol."""

from __future__ import annotations

import numpy as np


def add_noise_snr(cube: np.ndarray, snr_db: float | None, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise per band so that ``10 log10(mean(x_k^2) / s_k^2) = snr_db``.

    ``cube`` is ``(bands, H, W)``; ``snr_db=None`` returns it unchanged. Output is float32 and
    is *not* clipped (clipping would bias the noise); per-band SNR as in Simões et al. 2015.
    """
    if snr_db is None:
        return cube
    power = np.mean(np.asarray(cube, dtype=np.float64) ** 2, axis=(1, 2), keepdims=True)
    sigma = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (cube + sigma * rng.standard_normal(cube.shape)).astype(np.float32)
