"""Small synthetic fusion cases for the classical-method tests (not library code).

A low-rank scene: ``K`` smooth non-negative endmember spectra mixed by piecewise-constant
abundance maps (random Voronoi cells, lightly smoothed), so that the HR-MSI carries sharp edges
the LR-HSI has lost. Degraded through :mod:`mossfuse.physics` with a protocol-like geometry:
Gaussian PSF of ``r - 1`` taps, centre and phase ``r / 2 - 1`` (the ``wald-x*`` convention),
and a 3-band SRF of Gaussian curves with rows summing to 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from mossfuse.data.scene import FusionInputs
from mossfuse.physics import gaussian_kernel, spatial_degrade, spectral_degrade
from mossfuse.physics.degradation import Degradation


@dataclass
class SyntheticCase:
    inputs: FusionInputs
    reference: np.ndarray  # (B, H, W), kept apart from the inputs as in SimulatedCase
    srf: np.ndarray
    psf: np.ndarray
    sigma: float
    phase: int
    centre: int


def gaussian_srf(n_bands: int, centres=(0.2, 0.5, 0.8), width: float = 0.15) -> np.ndarray:
    x = np.linspace(0, 1, n_bands)
    srf = np.stack([np.exp(-0.5 * ((x - c) / width) ** 2) for c in centres])
    return (srf / srf.sum(axis=1, keepdims=True)).astype(np.float32)


def low_rank_scene(bands: int = 16, size: int = 64, n_end: int = 4, seed: int = 0,
                   texture: float = 0.0) -> np.ndarray:
    """``(bands, size, size)`` in [0, 1]: rank ``n_end`` plus, when ``texture > 0``, an
    independent smooth random field per band (full rank, so that an SRF is identifiable from
    the LR-HSI)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, bands)
    ends = np.stack([
        0.05 + 0.85 * np.clip(sum(rng.uniform(0.2, 1.0) * np.exp(
            -0.5 * ((x - rng.uniform(0, 1)) / rng.uniform(0.1, 0.4)) ** 2) for _ in range(2)),
            0, 1)
        for _ in range(n_end)
    ])  # (K, B) in [0.05, 0.9]
    seeds = rng.uniform(0, size, (14, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    label = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2,
                      axis=-1)
    cell_ab = rng.dirichlet(np.ones(n_end) * 0.5, size=len(seeds))  # (cells, K)
    ab = np.moveaxis(cell_ab[label], -1, 0)  # (K, H, W)
    ab = gaussian_filter(ab, sigma=(0, 0.7, 0.7))
    ab += 0.05 * gaussian_filter(rng.uniform(size=ab.shape), sigma=(0, 3, 3))
    ab /= ab.sum(axis=0, keepdims=True)
    cube = np.einsum("kb,khw->bhw", ends, ab)
    if texture:
        field = gaussian_filter(rng.standard_normal((bands, size, size)), sigma=(0, 2, 2))
        cube = cube * (1 + texture * field / field.std())
    return np.clip(cube, 0, 1).astype(np.float32)


def make_case(bands: int = 16, size: int = 64, ratio: int = 8, sigma: float | None = None,
              seed: int = 0, texture: float = 0.0) -> SyntheticCase:
    cube = low_rank_scene(bands, size, seed=seed, texture=texture)
    sigma = ratio / 4 if sigma is None else sigma
    phase = centre = ratio // 2 - 1
    psf = gaussian_kernel(ratio - 1, sigma)
    srf = gaussian_srf(bands)
    lr = spatial_degrade(cube.astype(np.float64), psf, ratio, phase, centre=centre)
    hr = spectral_degrade(cube.astype(np.float64), srf)
    inputs = FusionInputs(
        lr.astype(np.float32), hr.astype(np.float32), ratio,
        np.linspace(400, 700, bands), ("b0", "b1", "b2"),
        Degradation(psf, srf, ratio, phase, centre),
    )
    return SyntheticCase(inputs, cube, srf, psf, sigma, phase, centre)


def psnr(reference: np.ndarray, pred: np.ndarray) -> float:
    """Mean over bands of 10 log10(1 / MSE), prediction clipped to [0, 1] (test-only helper)."""
    p = np.clip(pred, 0, 1).astype(np.float64)
    mse = ((p - reference) ** 2).reshape(len(reference), -1).mean(axis=1)
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-20))))


def bicubic_psnr(case: SyntheticCase) -> float:
    from mossfuse.methods import get_method

    return psnr(case.reference, get_method("bicubic").fuse(case.inputs).hr_hsi)
