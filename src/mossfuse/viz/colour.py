"""Displayable RGB renderings of hyperspectral cubes and camera images.

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
from collections.abc import Sequence

import numpy as np


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
