"""Spectral degradation by a spectral response function (SRF) matrix.

Convention
----------
An SRF is a ``(b, B)`` matrix ``R``: row ``j`` holds the response of MSI band ``j`` sampled at the
``B`` HSI band centres; ``msi[j, h, w] = sum_k R[j, k] * hsi[k, h, w]`` (``Y = R X`` in the
``(bands, pixels)`` layout; the MossFuse paper writes ``Y = X R`` with ``R`` its transpose).
Rows are normalised to sum 1 (:func:`normalize_rows`) so a flat spectrum of value ``v`` maps to
``v`` in every MSI band and [0, 1] data stays in [0, 1]. Row order is the order the source gives
(``band_names`` keeps it; the Akhtar 2014 Nikon D700 file is B, G, R; most others R, G, B).

Resampling (:func:`resample_curves`) samples each measured curve at the HSI band centres by
linear interpolation, zero outside the measured range (point sampling; fine for 10 nm grids,
and for broad HSI bands integrate the curve over the band instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mossfuse.errors import MossfuseInputError
from mossfuse.physics._tensor import as_float_array, as_tensor, back, is_tensor


def normalize_rows(srf: np.ndarray) -> np.ndarray:
    """Divide each row by its sum (rows with zero sum raise)."""
    m = np.asarray(srf, dtype=np.float64)
    sums = m.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise MossfuseInputError(f"SRF rows {np.where(sums[:, 0] <= 0)[0].tolist()} sum to <= 0")
    return (m / sums).astype(np.float32)


def resample_curves(
    curve_wavelengths: np.ndarray, curves: np.ndarray, target_wavelengths: np.ndarray
) -> np.ndarray:
    """Sample ``(b, n)`` curves given on ``(n,)`` wavelengths (nm) at ``(B,)`` target wavelengths.

    Linear interpolation, 0 outside the measured range. Returns ``(b, B)`` float64.
    """
    wl = np.asarray(curve_wavelengths, dtype=np.float64)
    cv = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    tgt = np.asarray(target_wavelengths, dtype=np.float64)
    if cv.shape[1] != wl.size:
        raise MossfuseInputError(f"{cv.shape[1]} curve samples for {wl.size} wavelengths")
    order = np.argsort(wl)
    return np.stack([np.interp(tgt, wl[order], c[order], left=0.0, right=0.0) for c in cv])


def spectral_degrade(x, srf):
    """Apply an SRF: ``(..., B, H, W)`` -> ``(..., b, H, W)``; numpy or tensor (differentiable).

    >>> import numpy as np
    >>> spectral_degrade(np.ones((31, 4, 4), np.float32), np.full((3, 31), 1 / 31)).shape
    (3, 4, 4)
    """
    if not (is_tensor(x) or is_tensor(srf)):  # numpy in, numpy out: no torch
        xa = as_float_array(x)
        r = np.asarray(srf).astype(xa.dtype, copy=False)
        _check_srf_shape(r.shape, xa.shape)
        return _bands_matmul(r, xa)
    import torch

    xt, was_np = as_tensor(x)
    r = torch.as_tensor(srf, device=xt.device).to(xt.dtype)
    _check_srf_shape(tuple(r.shape), tuple(xt.shape))
    return back(torch.einsum("jk,...khw->...jhw", r, xt), was_np)


def _check_srf_shape(srf_shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
    if len(srf_shape) != 2 or len(x_shape) < 3 or srf_shape[1] != x_shape[-3]:
        bands = x_shape[-3] if len(x_shape) >= 3 else None
        raise MossfuseInputError(
            f"SRF of shape {tuple(srf_shape)} cannot map a cube with {bands} bands; "
            f"expected (b, {bands})"
        )


def _bands_matmul(m: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``m (p, q)`` applied along the band axis of ``x (..., q, H, W)`` -> ``(..., p, H, W)``."""
    *lead, q, h, w = x.shape
    return (m @ x.reshape(*lead, q, h * w)).reshape(*lead, m.shape[0], h, w)


def spectral_degrade_adjoint(y, srf):
    """Adjoint of :func:`spectral_degrade`: ``(..., b, H, W)`` -> ``(..., B, H, W)``."""
    if not (is_tensor(y) or is_tensor(srf)):
        ya = as_float_array(y)
        return _bands_matmul(np.asarray(srf).astype(ya.dtype, copy=False).T, ya)
    import torch

    yt, was_np = as_tensor(y)
    r = torch.as_tensor(srf, device=yt.device).to(yt.dtype)
    return back(torch.einsum("jk,...jhw->...khw", r, yt), was_np)


@dataclass
class SpectralResponse:
    """An SRF matrix tied to the HSI wavelength grid it applies to.

    Attributes:
        matrix: ``(b, B)`` float32.
        wavelengths_nm: ``(B,)`` HSI band centres the columns refer to (None if unknown).
        band_names: names of the ``b`` MSI bands, in row order.
        name: where it came from.
    """

    matrix: np.ndarray
    wavelengths_nm: np.ndarray | None = None
    band_names: list[str] = field(default_factory=list)
    name: str = "srf"

    def __post_init__(self):
        self.matrix = np.asarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2:
            raise MossfuseInputError(f"SRF matrix must be 2-D (b, B); got {self.matrix.shape}")
        if self.wavelengths_nm is not None:
            self.wavelengths_nm = np.asarray(self.wavelengths_nm, dtype=np.float64)
            if self.wavelengths_nm.size != self.matrix.shape[1]:
                raise MossfuseInputError(
                    f"SRF '{self.name}' has {self.matrix.shape[1]} columns but "
                    f"{self.wavelengths_nm.size} wavelengths"
                )
        if not self.band_names:
            self.band_names = [f"band{j}" for j in range(self.matrix.shape[0])]

    @property
    def n_msi(self) -> int:
        return self.matrix.shape[0]

    @property
    def n_hsi(self) -> int:
        return self.matrix.shape[1]

    def normalized(self) -> SpectralResponse:
        return SpectralResponse(
            normalize_rows(self.matrix), self.wavelengths_nm, list(self.band_names), self.name
        )

    def __call__(self, x):
        return spectral_degrade(x, self.matrix)

    def adjoint(self, y):
        return spectral_degrade_adjoint(y, self.matrix)


@dataclass
class SensitivityCurves:
    """Measured response curves of a sensor on their own wavelength grid.

    Attributes:
        wavelengths_nm: ``(n,)``; curves: ``(b, n)``; band_names; name.
    """

    wavelengths_nm: np.ndarray
    curves: np.ndarray
    band_names: list[str]
    name: str

    def to_srf(self, hsi_wavelengths_nm, normalize: bool = True) -> SpectralResponse:
        """Resample onto an HSI grid (see :func:`resample_curves`), optionally rows summing
        to 1. Bands with no response inside the HSI range raise."""
        tgt = np.asarray(hsi_wavelengths_nm, dtype=np.float64)
        mat = resample_curves(self.wavelengths_nm, self.curves, tgt)
        empty = [self.band_names[j] for j in range(mat.shape[0]) if mat[j].sum() <= 0]
        if empty:
            raise MossfuseInputError(
                f"sensor '{self.name}' bands {empty} have no response inside the HSI range "
                f"{tgt.min():g}-{tgt.max():g} nm"
            )
        srf = SpectralResponse(mat, tgt, list(self.band_names), self.name)
        return srf.normalized() if normalize else srf
