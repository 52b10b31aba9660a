"""Helpers of the analyses tests (a module, not a conftest.py, which would shadow
``tests/conftest.py`` for the modules that ``import conftest``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage import io as skio


def read_cave_png(cave_root: Path, scene: str, size: int) -> np.ndarray:
    """(31, size, size) float64 in [0, 1], read band by band from the 16-bit PNGs."""
    folder = cave_root / f"{scene}_ms"
    if (folder / f"{scene}_ms").is_dir():  # the official nesting
        folder = folder / f"{scene}_ms"
    bands = [skio.imread(folder / f"{scene}_ms_{i:02d}.png")[:size, :size] for i in range(1, 32)]
    return np.stack(bands).astype(np.float64) / 65535.0


def write_small_cave(cave_root: Path, out: Path, scenes: tuple[str, ...], size: int = 64
                     ) -> Path:
    """A CAVE-layout folder holding the ``size`` x ``size`` top-left crops of real scenes
    (same 16-bit PNG files: the dataset reader and the protocols run unchanged, fast)."""
    for scene in scenes:
        folder = out / f"{scene}_ms"
        folder.mkdir(parents=True)
        for i, band in enumerate(read_cave_png(cave_root, scene, size), start=1):
            skio.imsave(folder / f"{scene}_ms_{i:02d}.png",
                        np.round(band * 65535).astype(np.uint16), check_contrast=False)
    return out
