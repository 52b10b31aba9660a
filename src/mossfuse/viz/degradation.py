"""Estimated versus true SRF (per MSI band) and PSF (kernel images)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mossfuse.viz.canvas import new_figure, save_figure


def _msi_band_labels(band_names: Sequence[str], n: int) -> tuple[list[str], bool]:
    """Legend names of ``n`` MSI bands and whether they are assumed: the given names, else
    R, G, B for a 3-band MSI (the assumption the SRF plausibility notes state,
    :func:`mossfuse.physics.degradation.srf_warnings`), else ``band0`` ..."""
    names = [str(b) for b in band_names]
    if len(names) == n:
        return names, False
    if n == 3:
        return ["R", "G", "B"], True
    return [f"band{j}" for j in range(n)], False


def _srf_title(has_true: bool, has_est: bool) -> str:
    """The SRF panel's title names only the line styles that are drawn."""
    if has_true and has_est:
        return "SRF (solid: true, dashed: estimated)"
    return "SRF (true)" if has_true else "SRF (estimated)"


def save_srf_psf_figure(
    path: str | Path,
    srf_true: np.ndarray | None,
    srf_est: np.ndarray | None,
    psf_true: np.ndarray | None,
    psf_est: np.ndarray | None,
    wavelengths_nm: np.ndarray | None,
    band_names: Sequence[str] = (),
    *,
    title: str = "",
    dpi: int = 110,
) -> Path:
    """True (solid) versus estimated (dashed) SRF rows ``(b, B)``, and true / estimated PSF
    kernels ``(k, k)`` on one colour scale with their absolute difference when both have the
    same size. Any argument may be None (then its part is left out)."""
    srfs = [s for s in (srf_true, srf_est) if s is not None]
    psfs = [np.asarray(p, np.float64) for p in (psf_true, psf_est) if p is not None]
    same = len(psfs) == 2 and psfs[0].shape == psfs[1].shape
    n_psf_axes = len(psfs) + same
    ncols = (1 if srfs else 0) + n_psf_axes
    fig = new_figure(4.2 * bool(srfs) + 2.8 * n_psf_axes + 0.6, 3.2 + (0.3 if title else 0))
    axes = fig.subplots(1, max(ncols, 1), squeeze=False)[0]
    i = 0
    if srfs:
        ax = axes[0]
        b_count, B = np.asarray(srfs[0]).shape
        wl = np.arange(B) if wavelengths_nm is None else np.asarray(wavelengths_nm)
        names, assumed = _msi_band_labels(band_names, b_count)
        colours = [f"C{j}" for j in range(b_count)]
        upper = [n.upper() for n in names]
        for c, col in zip("RGB", ("tab:red", "tab:green", "tab:blue"), strict=True):
            if c in upper:
                colours[upper.index(c)] = col
        for j in range(b_count):
            if srf_true is not None:
                ax.plot(wl, np.asarray(srf_true)[j], color=colours[j], lw=1.8,
                        label=f"{names[j]} true")
            if srf_est is not None:
                ax.plot(wl, np.asarray(srf_est)[j], color=colours[j], lw=1.4, ls="--",
                        label=f"{names[j]} est.")
        ax.set_xlabel("wavelength (nm)" if wavelengths_nm is not None else "band")
        ax.set_title(_srf_title(srf_true is not None, srf_est is not None), fontsize=9)
        ax.legend(fontsize=7, ncol=2,
                  title="band names unknown: assumed R, G, B" if assumed else None,
                  title_fontsize=7)
        i = 1
    if psfs:
        vmax = max(float(p.max()) for p in psfs)
        labels = [lab for lab, p in (("PSF true", psf_true), ("PSF estimated", psf_est))
                  if p is not None]
        im = None
        for p, lab in zip(psfs, labels, strict=True):
            im = axes[i].imshow(p, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
            axes[i].set_title(f"{lab} ({p.shape[0]}x{p.shape[1]})", fontsize=9)
            i += 1
        fig.colorbar(im, ax=axes[i - len(psfs):i].tolist(), shrink=0.8)
        if same:
            d = np.abs(psfs[0] - psfs[1])
            imd = axes[i].imshow(d, cmap="magma", interpolation="nearest")
            axes[i].set_title(f"|difference| (max {d.max():.2g})", fontsize=9)
            fig.colorbar(imd, ax=axes[i], shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi)
