"""Co-registration check of a real LR-HSI / HR-MSI pair, and its correction.

Both images are brought to the same space before they are compared: the HR-MSI is degraded to
the LR grid by the (estimated) PSF, ``S(Y_m)``, and the LR-HSI is projected on the MSI bands by
the (estimated) SRF, ``R Y_h``. For a co-registered pair the two agree (``S R X = R S X``), so a
translation between them is the misregistration of the LR-HSI relative to the HR-MSI. It is
measured band by band by phase correlation with sub-pixel refinement by upsampled
cross-correlation (Guizar-Sicairos, Thurman & Fienup, "Efficient subpixel image registration
algorithms", Opt. Lett. 33(2), 2008), as implemented by
:func:`skimage.registration.phase_cross_correlation`; the median over bands is reported.

Convention
----------
- ``shift_lr = (dy, dx)`` in LR pixels is the *correction*: ``scipy.ndimage.shift(lr_band,
  shift_lr)`` moves the LR-HSI onto the HR-MSI's grid (skimage's sign). A scene content that
  appears ``+0.3`` px lower in the LR-HSI than in the MSI gives ``dy = -0.3``. ``shift_hr`` is
  ``shift_lr * ratio`` (HR pixels).
- The HR-MSI's geometry is the reference (the output inherits its georeferencing).
- No-data (NaN, or the masks given) is filled with each band's mean over valid pixels before
  the transform, and both images are multiplied by a Hann window, so neither the hole nor the
  image border dominates the correlation. The LR mask of the MSI is the mask degraded by the
  same PSF (any weight counts).
- An integer HR-pixel offset that the blind PSF estimator absorbed (its peak-offset search)
  is *not* seen here: the degraded MSI already includes it. What remains is the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.ndimage
from numpy.typing import ArrayLike

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.spatial import spatial_degrade
from mossfuse.physics.spectral import spectral_degrade

__all__ = ["ShiftEstimate", "estimate_shift", "register_pair", "shift_between"]


@dataclass
class ShiftEstimate:
    """A measured translation of the LR-HSI relative to the HR-MSI.

    Attributes:
        shift_lr: ``(dy, dx)`` correction in LR pixels (module Convention).
        shift_hr: the same in HR pixels (``shift_lr * ratio``).
        ratio: r.
        per_band: ``(b, 2)`` shift of each MSI band (LR px).
        spread: median absolute deviation of ``per_band`` about ``shift_lr`` (LR px): a
            consistency check (large values: the bands disagree, the estimate is unreliable).
        error: mean of skimage's translation-invariant normalised RMS error over bands.
        info: free-form details (upsample factor, masked pixels).
    """

    shift_lr: tuple[float, float]
    shift_hr: tuple[float, float]
    ratio: int
    per_band: np.ndarray
    spread: float
    error: float
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def magnitude_lr(self) -> float:
        """Euclidean length of ``shift_lr`` (LR px)."""
        return float(np.hypot(*self.shift_lr))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "shift_lr_px": [float(v) for v in self.shift_lr],
            "shift_hr_px": [float(v) for v in self.shift_hr],
            "magnitude_lr_px": self.magnitude_lr,
            "per_band_lr_px": np.asarray(self.per_band).round(4).tolist(),
            "spread_lr_px": float(self.spread),
            "error": float(self.error),
            **self.info,
        }


def _fill(img: np.ndarray, invalid: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(C, h, w)`` with NaN and ``invalid`` pixels set to each band's valid mean."""
    x = np.asarray(img, dtype=np.float64).copy()
    bad = ~np.isfinite(x).all(axis=0)
    if invalid is not None:
        bad |= np.asarray(invalid, dtype=bool)
    if bad.all():
        raise MossfuseInputError("co-registration: every pixel is no-data")
    if bad.any():
        for c in range(x.shape[0]):
            x[c][bad] = float(np.nanmean(x[c][~bad]))
    return x, bad


def shift_between(
    reference: ArrayLike,
    moving: ArrayLike,
    *,
    invalid: ArrayLike | None = None,
    upsample_factor: int = 100,
    window: bool = True,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-band sub-pixel translation registering ``moving`` onto ``reference``.

    Args:
        reference, moving: ``(C, h, w)`` images of the same bands (NaN allowed).
        invalid: ``(h, w)`` bool, True = no-data in either image.
        upsample_factor: sub-pixel precision ``1 / upsample_factor`` px.
        window: multiply by a 2-D Hann window (reduces the border's influence).

    Returns:
        ``(median shift (2,), per-band shifts (C, 2), mean error)``.

    >>> import numpy as np, scipy.ndimage
    >>> rng = np.random.default_rng(0)
    >>> ref = scipy.ndimage.gaussian_filter(rng.random((1, 64, 64)), (0, 2, 2))
    >>> mov = np.roll(ref, (3, -2), axis=(1, 2))  # content moved down 3, left 2
    >>> shift_between(ref, mov)[0].round(0).tolist()
    [-3.0, 2.0]
    """
    from skimage.registration import phase_cross_correlation

    ref = np.asarray(reference, dtype=np.float64)
    mov = np.asarray(moving, dtype=np.float64)
    if ref.ndim != 3 or ref.shape != mov.shape:
        raise MossfuseInputError(
            f"co-registration needs two (C, h, w) images of one shape; got {ref.shape} and "
            f"{mov.shape}"
        )
    if min(ref.shape[1:]) < 8:
        raise MossfuseInputError(f"co-registration needs at least 8 x 8 px; got {ref.shape[1:]}")
    inv = None if invalid is None else np.asarray(invalid, dtype=bool)
    bad = ~(np.isfinite(ref).all(0) & np.isfinite(mov).all(0))
    inv = bad if inv is None else (inv | bad)
    ref, _ = _fill(ref, inv)
    mov, _ = _fill(mov, inv)
    win = np.outer(np.hanning(ref.shape[1]), np.hanning(ref.shape[2])) if window else 1.0
    shifts, errors = [], []
    for c in range(ref.shape[0]):
        a = (ref[c] - ref[c].mean()) * win
        b = (mov[c] - mov[c].mean()) * win
        if not (np.any(a) and np.any(b)):
            continue  # a constant band carries no position
        s, err, _ = phase_cross_correlation(a, b, upsample_factor=upsample_factor,
                                            normalization=None)
        shifts.append(s)
        errors.append(err)
    if not shifts:
        raise MossfuseInputError("co-registration: every band is constant")
    per = np.asarray(shifts, dtype=np.float64)
    return np.median(per, axis=0), per, float(np.mean(errors))


def estimate_shift(
    lr_hsi: ArrayLike,
    hr_msi: ArrayLike,
    srf: ArrayLike,
    psf: ArrayLike,
    *,
    ratio: int,
    phase: int,
    centre: int | None = None,
    hr_mask: ArrayLike | None = None,
    lr_mask: ArrayLike | None = None,
    upsample_factor: int = 100,
) -> ShiftEstimate:
    """Translation of the LR-HSI relative to the HR-MSI (module docstring).

    Args:
        lr_hsi: ``(B, h, w)``; hr_msi: ``(b, H, W)`` (NaN allowed in both).
        srf: ``(b, B)`` SRF; psf: ``(k, k)`` kernel applied at ``phase`` with centre tap
            ``centre`` (:mod:`mossfuse.physics.spatial`, valid geometry).
        ratio: r.
        hr_mask: ``(H, W)`` bool, True = MSI no-data; lr_mask: ``(h, w)`` likewise for the HSI.
        upsample_factor: sub-pixel precision.

    Returns:
        :class:`ShiftEstimate`.
    """
    yh = np.asarray(lr_hsi, dtype=np.float64)
    ym = np.asarray(hr_msi, dtype=np.float64)
    r = int(ratio)
    hm = ~np.isfinite(ym).all(0)
    if hr_mask is not None:
        hm |= np.asarray(hr_mask, dtype=bool)
    ym_filled, _ = _fill(ym, hm)
    k = np.asarray(psf, dtype=np.float64)
    z = spatial_degrade(ym_filled, k, r, phase, centre=centre)
    z = np.asarray(z, dtype=np.float64)
    if z.shape[1:] != yh.shape[1:]:
        raise MossfuseInputError(
            f"the degraded MSI is {z.shape[1:]} but the LR-HSI is {yh.shape[1:]}: check the "
            "ratio, phase and PSF"
        )
    lm = ~np.isfinite(yh).all(0)
    if lr_mask is not None:
        lm |= np.asarray(lr_mask, dtype=bool)
    if hm.any():
        lm |= np.asarray(spatial_degrade(hm[None].astype(np.float64), k, r, phase,
                                         centre=centre))[0] > 0
    yh_filled, _ = _fill(yh, lm)
    proj = np.asarray(spectral_degrade(yh_filled, np.asarray(srf, dtype=np.float64)))
    med, per, err = shift_between(z, proj, invalid=lm, upsample_factor=upsample_factor)
    spread = float(np.median(np.abs(per - med[None]).max(axis=1)))
    return ShiftEstimate(
        (float(med[0]), float(med[1])), (float(med[0]) * r, float(med[1]) * r), r, per,
        spread, err, {"upsample_factor": int(upsample_factor),
                      "masked_lr_pixels": int(lm.sum())},
    )


def register_pair(
    lr_hsi: ArrayLike,
    shift: ShiftEstimate | tuple[float, float],
    *,
    order: int = 3,
    mode: str = "nearest",
) -> np.ndarray:
    """The LR-HSI ``(B, h, w)`` moved by ``shift`` (LR px; integer plus sub-pixel part) onto
    the HR-MSI's grid: :func:`scipy.ndimage.shift` per band, cubic spline (``order`` 3),
    borders ``mode="nearest"``, result clipped to the input's range. NaN pixels are filled with
    the band mean first (and stay NaN after the move where the shifted mask reaches).

    >>> import numpy as np
    >>> x = np.zeros((1, 8, 8), np.float32); x[0, 4, 4] = 1
    >>> int(np.argmax(register_pair(x, (1.0, -2.0))[0]))  # row 5, column 2
    42
    """
    x = np.asarray(lr_hsi)
    s = shift.shift_lr if isinstance(shift, ShiftEstimate) else tuple(float(v) for v in shift)
    if len(s) != 2:
        raise MossfuseInputError(f"shift must be (dy, dx); got {s}")
    filled, bad = _fill(x, None)
    out = np.stack([scipy.ndimage.shift(band, s, order=order, mode=mode) for band in filled])
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    out = np.clip(out, lo, hi)
    if bad.any():
        moved = scipy.ndimage.shift(bad.astype(np.float64), s, order=1, mode="nearest") > 0.01
        out[:, moved] = np.nan
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)
