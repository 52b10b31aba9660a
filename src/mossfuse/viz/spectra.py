"""Spectra at chosen pixels: the reference against each method."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mossfuse.viz.canvas import new_figure, save_figure


def save_spectra_figure(
    path: str | Path,
    ref: np.ndarray,
    preds: Mapping[str, np.ndarray],
    pixels: Sequence[tuple[int, int]],
    wavelengths_nm: np.ndarray | None,
    *,
    title: str = "",
    dpi: int = 110,
) -> Path:
    """Spectra of the reference (black) and of each prediction at the ``(y, x)`` pixels, one
    subplot per pixel. Cubes are ``(B, H, W)``."""
    ref = np.asarray(ref)
    wl = np.arange(ref.shape[0]) if wavelengths_nm is None else np.asarray(wavelengths_nm)
    n = max(len(pixels), 1)
    ncols = min(n, 4)
    nrows = -(-n // ncols)
    fig = new_figure(3.2 * ncols, 2.6 * nrows + (0.3 if title else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[len(pixels):]:
        ax.set_axis_off()
    for ax, (y, x) in zip(axes.ravel(), pixels, strict=False):
        ax.plot(wl, ref[:, y, x], color="black", lw=2, label="reference")
        for name, p in preds.items():
            ax.plot(wl, np.asarray(p)[:, y, x], lw=1.2, label=name)
        ax.set_title(f"pixel (y={y}, x={x})", fontsize=9)
        ax.set_xlabel("wavelength (nm)" if wavelengths_nm is not None else "band", fontsize=8)
        ax.set_ylabel("reflectance", fontsize=8)
        ax.tick_params(labelsize=7)
    if pixels:
        axes.ravel()[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi)
