"""Image panels: nearest upsampling for display, per-pixel SAM/RMSE maps, and the comparison
figure (renderings followed by error maps)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from mossfuse.viz.canvas import new_figure, save_figure


def nearest_upsample(cube: np.ndarray, ratio: int) -> np.ndarray:
    """``(B, h, w)`` -> ``(B, r h, r w)`` by pixel replication (display of an LR-HSI)."""
    return np.repeat(np.repeat(np.asarray(cube), ratio, axis=-2), ratio, axis=-1)


def sam_map(pred: np.ndarray, ref: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Per-pixel spectral angle (degrees) between two ``(B, H, W)`` cubes -> ``(H, W)``.
    Display helper; the metric of record is :mod:`mossfuse.metrics`."""
    p, r = np.asarray(pred, np.float64), np.asarray(ref, np.float64)
    cos = (p * r).sum(0) / np.maximum(np.linalg.norm(p, axis=0) * np.linalg.norm(r, axis=0), eps)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).astype(np.float32)


def rmse_map(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-pixel RMSE over bands of two ``(B, H, W)`` cubes -> ``(H, W)`` (display helper)."""
    d = np.asarray(pred, np.float64) - np.asarray(ref, np.float64)
    return np.sqrt((d * d).mean(0)).astype(np.float32)


def save_comparison_figure(
    path: str | Path,
    panels: Mapping[str, np.ndarray],
    error_maps: Mapping[str, np.ndarray] | None = None,
    title: str = "",
    *,
    error_label: str = "SAM (deg)",
    error_max: float | None = None,
    max_per_row: int = 5,
    dpi: int = 110,
) -> Path:
    """Images (``(H, W, 3)`` in [0, 1], or ``(H, W)`` grey) followed by error maps ``(H, W)``.

    One row when there are at most ``max_per_row`` axes in all, else images on the first row(s)
    and error maps after. Error maps share one colour scale ``[0, error_max]`` (default: the
    largest 99.5th percentile over the maps) and one colourbar, so they compare at a glance.
    """
    error_maps = dict(error_maps or {})
    n_img, n_err = len(panels), len(error_maps)
    if n_img + n_err <= max_per_row:
        ncols = max(n_img + n_err, 1)
        img_slots, err_slots = list(range(n_img)), list(range(n_img, n_img + n_err))
    else:
        ncols = min(max(n_img, n_err), max_per_row)
        img_rows = -(-n_img // ncols)
        img_slots = list(range(n_img))
        err_slots = [img_rows * ncols + i for i in range(n_err)]
    nrows = -(-(max(img_slots + err_slots, default=0) + 1) // ncols)
    fig = new_figure(2.9 * ncols + (0.9 if n_err else 0.2), 2.9 * nrows + (0.35 if title else 0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    for slot, (name, img) in zip(img_slots, panels.items(), strict=True):
        img = np.asarray(img)
        axes[slot].imshow(np.clip(img, 0, 1), cmap="gray" if img.ndim == 2 else None, vmin=0,
                          vmax=1, interpolation="nearest")
        axes[slot].set_title(name, fontsize=9)
    if error_maps:
        if error_max is None:
            error_max = max(float(np.percentile(e, 99.5)) for e in error_maps.values())
        error_max = error_max if error_max > 0 else 1.0
        im = None
        for slot, (name, emap) in zip(err_slots, error_maps.items(), strict=True):
            im = axes[slot].imshow(emap, cmap="magma", vmin=0, vmax=error_max,
                                   interpolation="nearest")
            axes[slot].set_title(f"{name} (mean {float(np.mean(emap)):.3g})", fontsize=9)
        fig.colorbar(im, ax=[axes[s] for s in err_slots], label=error_label, shrink=0.85)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi)
