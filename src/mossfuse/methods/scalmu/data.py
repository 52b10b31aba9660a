"""SCALMU's training data: synthetic dead-leaves HR-HSI cubes degraded on the fly.

This is the **only** data path of SCALMU's training, and it is structurally separate from
every real dataset: it imports nothing from :mod:`mossfuse.data.cave` or
:mod:`mossfuse.data.remote_sensing`. The reference of a pair is the synthetic cube itself
(generated, never a benchmark scene), which is what makes supervised training possible
(SCALMU abstract: "we additionally generate a synthetic HSI-MSI dataset via the dead leaves
model, enabling synthetic supervision").

Scene ``i`` of a stream with seed ``s`` uses ``np.random.default_rng([s, i])`` for both its
random dead-leaves parameters (:func:`random_dead_leaves_config`) and the scene, so any pair
is re-made from ``(s, i)`` alone. The degradation is any
:class:`~mossfuse.physics.degradation.Degradation` (a protocol's, or one estimated from a user's
pair) applied through :class:`~mossfuse.physics.forward.FusionForwardModel`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mossfuse.data.dead_leaves import DeadLeavesConfig, generate_dead_leaves
from mossfuse.data.scene import FusionInputs
from mossfuse.data.spectral_library import SpectralLibrary, reflectance_library
from mossfuse.physics.degradation import Degradation


@dataclass
class SyntheticPair:
    """``inputs`` (what the network sees) and ``reference`` ``(B, H, W)`` (the generated
    cube, used only by the loss)."""

    inputs: FusionInputs
    reference: np.ndarray


def random_dead_leaves_config(size: int, wavelengths_nm, rng: np.random.Generator,
                              materials: tuple[int, int] | None = None) -> DeadLeavesConfig:
    """A random scene style: leaf shapes (mixed disks / ellipses / rectangles), power-law
    sizes with exponent ``alpha ~ U[2.5, 3.5]`` and smallest radius log-uniform in
    ``[1.5, 16]`` px (several scales), shading (brightness and linear gradients), optional
    brightness or spectral texture, and a soft edge blur. ``materials=(lo, hi)``: the scene's
    palette size (:attr:`DeadLeavesConfig.n_materials`) is log-uniform in ``[lo, hi]``
    (drawn after the rest, so the other parameters do not depend on it); ``None``: no
    palette."""
    cfg = DeadLeavesConfig(
        size=(size, size),
        wavelengths_nm=tuple(float(w) for w in wavelengths_nm),
        r_min=float(np.exp(rng.uniform(np.log(1.5), np.log(16.0)))),
        alpha=float(rng.uniform(2.5, 3.5)),
        shape="mixed",
        brightness=(float(rng.uniform(0.1, 0.6)), 1.0),
        gradient=float(rng.uniform(0.0, 0.6)),
        texture=str(rng.choice(["none", "brightness", "spectral"])),
        texture_strength=float(rng.uniform(0.05, 0.5)),
        texture_scale=float(np.exp(rng.uniform(np.log(2.0), np.log(16.0)))),
        blur_sigma=float(rng.uniform(0.0, 1.5)),
    )
    if materials is not None:
        lo, hi = materials
        k = int(np.floor(np.exp(rng.uniform(np.log(lo), np.log(hi + 1)))))
        cfg = cfg.model_copy(update={"n_materials": min(max(k, lo), hi)})
    return cfg


def degrade(cube: np.ndarray, deg: Degradation, wavelengths_nm=None) -> FusionInputs:
    """LR-HSI and HR-MSI of ``cube`` ``(B, H, W)`` (``H``, ``W`` multiples of the ratio) by
    ``deg``; the known PSF/SRF/phase travel with the inputs."""
    lr, hr = deg.forward_model()(cube.astype(np.float64))
    return FusionInputs(
        lr_hsi=np.ascontiguousarray(lr, dtype=np.float32),
        hr_msi=np.ascontiguousarray(hr, dtype=np.float32),
        ratio=deg.ratio,
        hsi_wavelengths_nm=None if wavelengths_nm is None else np.asarray(wavelengths_nm),
        msi_band_names=deg.band_names, degradation=deg,
    )


class SyntheticPairs:
    """Indexable, seeded stream of synthetic training pairs.

    Args:
        degradation: how pairs are degraded (e.g. ``get_protocol(name).degradation(wl)``).
        size: HR side (px, a multiple of the ratio).
        wavelengths_nm: ``(B,)`` band centres (default 400:10:700).
        library: spectra for the leaves (default: colour-science reflectances,
            :func:`~mossfuse.data.spectral_library.reflectance_library`; or
            :func:`~mossfuse.data.spectral_library.spectra_from_cube` of a user's LR-HSI).
        seed: stream seed.
        materials: ``(lo, hi)`` range of the per-scene palette size (see
            :func:`random_dead_leaves_config`); ``None``: every leaf draws from the library.
    """

    def __init__(self, degradation: Degradation, size: int, wavelengths_nm=None,
                 library: SpectralLibrary | None = None, seed: int = 0,
                 materials: tuple[int, int] | None = None):
        if size % degradation.ratio:
            raise ValueError(f"size {size} must be a multiple of the ratio {degradation.ratio}")
        self.deg, self.size, self.seed = degradation, int(size), int(seed)
        if materials is not None and not 1 <= materials[0] <= materials[1]:
            raise ValueError(f"materials must be (lo, hi) with 1 <= lo <= hi; got {materials}")
        self.materials = None if materials is None else (int(materials[0]), int(materials[1]))
        self.wl = (np.arange(400.0, 701.0, 10.0) if wavelengths_nm is None
                   else np.asarray(wavelengths_nm, dtype=np.float64))
        self.library = reflectance_library(self.wl) if library is None else library

    def __getitem__(self, i: int) -> SyntheticPair:
        rng = np.random.default_rng([self.seed, int(i)])
        cfg = random_dead_leaves_config(self.size, self.wl, rng, self.materials)
        scene = generate_dead_leaves(cfg, self.library, rng)
        return SyntheticPair(degrade(scene.cube, self.deg, self.wl), scene.cube)
