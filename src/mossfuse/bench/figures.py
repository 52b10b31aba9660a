"""Figure helpers shared by the demo and the benchmark reports: RGB renderings of cubes, error
maps, spectra at chosen pixels, and estimated versus true SRF/PSF.

Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot,
no global backend switch: safe in scripts, servers and tests) and written through
:func:`mossfuse._atomic.atomic_path`.

Convention (colour)
-------------------
:func:`hsi_to_rgb` renders a ``(B, H, W)`` reflectance cube as seen under CIE D65 by the CIE 1931
2-degree observer: ``XYZ = sum_k R_k E(l_k) cmf(l_k) dl_k / sum_k E(l_k) y(l_k) dl_k`` (so a
perfect white has ``Y = 1``), then linear sRGB (IEC 61966-2-1 matrix), times a gain, clipped and
sRGB-encoded. The default gain maps the 99th percentile of the linear RGB values to 1 (a robust
auto-exposure); pass the same ``gain`` to every panel of a comparison (see
:func:`hsi_rgb_gain`). Bands outside the CMF range (360-830 nm) get no weight. Without
wavelengths, or with no band inside 360-830 nm, three bands at 1/6, 1/2 and 5/6 of the band axis
are shown as B, G, R (false colour).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mossfuse._atomic import atomic_path


@functools.lru_cache(maxsize=8)
def _xyz_weights(wavelengths_key: tuple[float, ...]) -> np.ndarray | None:
    """``(3, B)`` weights mapping reflectance to XYZ under D65 (None: no visible band)."""
    import colour

    wl = np.asarray(wavelengths_key, dtype=np.float64)
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    d65 = colour.SDS_ILLUMINANTS["D65"]
    cw, cv = np.asarray(cmfs.wavelengths), np.asarray(cmfs.values)  # (n,), (n, 3)
    ew, ev = np.asarray(d65.wavelengths), np.asarray(d65.values)
    cmf = np.stack([np.interp(wl, cw, cv[:, j], left=0.0, right=0.0) for j in range(3)])
    illum = np.interp(wl, ew, ev, left=0.0, right=0.0)
    dl = np.abs(np.gradient(wl)) if wl.size > 1 else np.ones(1)
    w = cmf * illum * dl
    norm = w[1].sum()
    if norm <= 0:
        return None
    return w / norm


def _srgb_matrix() -> np.ndarray:
    import colour

    return np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB, dtype=np.float64)


def hsi_to_linear_rgb(cube: np.ndarray, wavelengths_nm: np.ndarray | None) -> np.ndarray:
    """``(B, H, W)`` cube -> ``(H, W, 3)`` linear sRGB, not clipped (see module Convention)."""
    x = np.asarray(cube, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"cube must be (bands, H, W); got shape {x.shape}")
    weights = None
    if wavelengths_nm is not None:
        wl = np.asarray(wavelengths_nm, dtype=np.float64).ravel()
        if wl.size != x.shape[0]:
            raise ValueError(f"{x.shape[0]} bands but {wl.size} wavelengths")
        weights = _xyz_weights(tuple(float(v) for v in wl))
    if weights is None:  # false colour: three bands as B, G, R
        n = x.shape[0]
        idx = [int(round(f * (n - 1))) for f in (5 / 6, 1 / 2, 1 / 6)]
        return np.moveaxis(x[idx], 0, -1).astype(np.float32)
    m = (_srgb_matrix() @ weights).astype(np.float32)  # (3, B)
    return np.einsum("cb,bhw->hwc", m, x)


def hsi_rgb_gain(cube: np.ndarray, wavelengths_nm: np.ndarray | None,
                 percentile: float = 99.0) -> float:
    """Gain mapping the given percentile of the cube's linear RGB values to 1."""
    return rgb_gain(hsi_to_linear_rgb(cube, wavelengths_nm), percentile)


def rgb_gain(linear_rgb: np.ndarray, percentile: float = 99.0) -> float:
    """Gain mapping the given percentile of linear RGB values to 1 (1 for an all-dark image)."""
    p = float(np.percentile(linear_rgb, percentile))
    return 1.0 / p if p > 1e-6 else 1.0


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """sRGB transfer function on values clipped to [0, 1]."""
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def hsi_to_rgb(
    cube: np.ndarray,
    wavelengths_nm: np.ndarray | None,
    *,
    gain: float | None = None,
    percentile: float = 99.0,
) -> np.ndarray:
    """Displayable ``(H, W, 3)`` sRGB in [0, 1] of a ``(B, H, W)`` cube (module Convention).

    ``gain=None`` uses this cube's own robust gain (:func:`rgb_gain`).

    >>> import numpy as np
    >>> rgb = hsi_to_rgb(np.full((31, 2, 2), 0.5, np.float32), np.arange(400, 701, 10), gain=1)
    >>> rgb.shape, bool(np.allclose(rgb, rgb[..., :1], atol=0.02))  # grey stays grey
    ((2, 2, 3), True)
    """
    lin = hsi_to_linear_rgb(cube, wavelengths_nm)
    g = rgb_gain(lin, percentile) if gain is None else float(gain)
    return srgb_encode(lin * g)


def msi_to_rgb(
    msi: np.ndarray, band_names: Sequence[str] = (), *, gain: float | None = None,
    percentile: float = 99.0,
) -> np.ndarray:
    """``(b, H, W)`` camera image -> ``(H, W, 3)`` for display: bands named R, G, B (any case)
    in that order when present, else the first three (or one band as grey); camera RGB with a
    robust gain and the sRGB curve, not colour-managed."""
    x = np.asarray(msi, dtype=np.float32)
    names = [n.upper() for n in band_names]
    if all(c in names for c in "RGB"):
        idx = [names.index(c) for c in "RGB"]
    elif x.shape[0] >= 3:
        idx = [0, 1, 2]
    else:
        idx = [0, 0, 0]
    lin = np.moveaxis(x[idx], 0, -1)
    g = rgb_gain(lin, percentile) if gain is None else float(gain)
    return srgb_encode(lin * g)


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


def prewarm() -> None:
    """Import matplotlib's Agg stack and load the fonts by drawing a tiny figure (~0.5 s).

    The fuse pipeline runs this in a background thread while a method fuses (torch and BLAS
    kernels release the GIL), so the SRF/PSF plots written after fusion start warm."""
    import io

    fig = _new_figure(1.0, 1.0)
    fig.text(0.5, 0.5, "warm")
    fig.savefig(io.BytesIO(), dpi=10, format="png")


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path, dpi: int) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path


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
    fig = _new_figure(2.9 * ncols + (0.9 if n_err else 0.2), 2.9 * nrows + (0.35 if title else 0))
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
    return _save(fig, path, dpi)


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
    fig = _new_figure(3.2 * ncols, 2.6 * nrows + (0.3 if title else 0))
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
    return _save(fig, path, dpi)


def _msi_band_labels(band_names: Sequence[str], n: int) -> tuple[list[str], bool]:
    """Legend names of ``n`` MSI bands and whether they are assumed: the given names, else
    R, G, B for a 3-band MSI (the assumption the SRF plausibility notes state,
    :func:`mossfuse.realscene.degradation_files.srf_warnings`), else ``band0`` ..."""
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
    fig = _new_figure(4.2 * bool(srfs) + 2.8 * n_psf_axes + 0.6, 3.2 + (0.3 if title else 0))
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
    return _save(fig, path, dpi)


def save_learning_curves(
    path: str | Path, records: Sequence[Mapping[str, float]], *, title: str = "", dpi: int = 80
) -> Path:
    """Training curves from ``train_log.jsonl`` records: loss terms per step (log scale,
    smoothed over 25 steps), PSF sigma, and validation PSNR/SAM when logged."""
    fig = _new_figure(12.0, 3.4)
    axes = fig.subplots(1, 3)
    steps = np.array([r["step"] for r in records])
    for key in ("ma", "sc", "sct", "de", "total"):
        pts = [(r["step"], r[key]) for r in records if key in r]
        if not pts:
            continue
        s, v = np.array(pts).T
        k = min(25, len(v))
        smooth = np.convolve(v, np.ones(k) / k, mode="valid")
        axes[0].plot(s[k - 1:], smooth, label=f"L_{key.upper()}" if key != "total" else "total")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("losses (25-step mean)")
    axes[0].legend(fontsize=7)
    sig = [r.get("psf_sigma", np.nan) for r in records]
    axes[1].plot(steps, sig)
    axes[1].set_xlabel("step")
    axes[1].set_title("estimated PSF sigma (px)")
    val = [(r["step"], r["val_psnr"], r.get("val_sam", np.nan)) for r in records
           if "val_psnr" in r]
    if val:
        s, p, a = np.array(val).T
        axes[2].plot(s, p, "o-", label="PSNR (dB)")
        twin = axes[2].twinx()
        twin.plot(s, a, "s--", color="tab:red", label="SAM (deg)")
        twin.set_ylabel("SAM (deg)")
        axes[2].set_ylabel("PSNR (dB)")
        axes[2].legend(loc="lower left", fontsize=7)
    axes[2].set_xlabel("step")
    axes[2].set_title("validation")
    if title:
        fig.suptitle(title)
    return _save(fig, path, dpi)
