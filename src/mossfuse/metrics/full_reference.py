"""Full-reference quality metrics of a fused cube against its ground truth.

Every function takes two ``(bands, H, W)`` floating arrays, ``pred`` (the fused cube) then
``ref`` (the ground truth), and computes in float64. The *profiles*
(:mod:`mossfuse.metrics.profiles`) decide which function runs with which arguments (clipping,
ERGAS convention, SSIM window); these functions clip nothing and guess nothing.

Convention
----------
- Axis order ``(bands, H, W)``; "per band" means over ``H x W`` for one band, then the mean over
  bands (the mean of the per-band values, not the value of the pooled error).
- ``data_range`` is the peak of PSNR and the ``L`` of SSIM's ``C1 = (K1 L)^2``; it is 1 for
  library data (normalised to [0, 1]). It is never estimated from the data (scikit-image
  estimates it from the dtype when it is not given, torchmetrics from the data).
- ``ratio`` (ERGAS) is the resolution ratio r = LR pixel size / HR pixel size (32 for
  ``mossfuse-x32``); Wald's ``h / l`` is ``1 / r``, so the prefactor is ``100 / r``
  (torchmetrics' ``ratio`` argument has the same meaning).
- SAM is in degrees.
- The Wang-Bovik Q index (UIQI, and the blocks of QNR) uses the guards of Wang's reference code
  ``img_qi.m``: where both variances vanish, ``Q = 2 mu_x mu_y / (mu_x^2 + mu_y^2)``; where the
  means vanish too, ``Q = 1``.

Why hand-written: no library reproduces these conventions together. scikit-image's PSNR pools
the error of all bands; torchmetrics needs torch tensors and has no Q2n, no img_qi-style UIQI,
no per-band-mean PSNR on ``(bands, H, W)`` without reshaping and no report of undefined SAM
pixels. SSIM alone is delegated (to scikit-image), because its windowing is exactly the one
the profiles name. The tests pin PSNR, SSIM, SAM and ERGAS against scikit-image and
torchmetrics where their conventions coincide.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from mossfuse.errors import MossfuseInputError, check_cube

__all__ = [
    "cc",
    "cc_per_band",
    "ergas",
    "hypercomplex_product",
    "psnr",
    "psnr_per_band",
    "q2n",
    "q2n_map",
    "q_index",
    "rmse",
    "sam",
    "sam_map",
    "ssim",
    "uiqi",
]

# Relative threshold under which a block's summed variance counts as zero (constant blocks):
# a two-pass variance of a constant block is ~(ulp of the mean)^2 ~ 1e-33 mu^2, while one
# 16-bit step in a 32 x 32 block gives ~1e-12 mu^2. Between them by many orders of magnitude.
_FLAT_REL = 1e-20


# ---------------------------------------------------------------------------- input checks


def as_pair(pred: ArrayLike, ref: ArrayLike, *, ref_range: tuple[float, float] | None = None):
    """Check ``pred`` and ``ref`` and return them as float64 ``(bands, H, W)`` arrays.

    Raises :class:`~mossfuse.errors.MossfuseInputError` when either is not a 3-D floating
    array, contains NaN/Inf, when the shapes differ, or (``ref_range`` given) when ``ref``
    leaves that range by more than 1e-3.
    """
    check_cube(pred, "prediction", value_range=None)
    check_cube(ref, "reference", value_range=ref_range)
    p = np.asarray(pred, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if p.shape != r.shape:
        raise MossfuseInputError(
            f"prediction shape {p.shape} != reference shape {r.shape}; both must be "
            "(bands, H, W) on the same grid"
        )
    return p, r


def _positive(value: float, name: str) -> float:
    if not (isinstance(value, (int, float, np.integer, np.floating)) and value > 0):
        raise MossfuseInputError(f"{name} must be a positive number; got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- PSNR, RMSE


def psnr_per_band(pred: ArrayLike, ref: ArrayLike, *, data_range: float = 1.0) -> np.ndarray:
    """PSNR of each band, in dB: ``(bands,)`` array (``inf`` for a band with zero error).

    See :func:`psnr`.
    """
    p, r = as_pair(pred, ref)
    peak = _positive(data_range, "data_range")
    mse = np.mean((p - r) ** 2, axis=(1, 2))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(peak**2 / mse)


def psnr(pred: ArrayLike, ref: ArrayLike, *, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio, per band, averaged over bands (dB).

    ``PSNR = (1/C) sum_k 10 log10( L^2 / MSE_k )``, ``MSE_k = mean_{h,w} (pred_k - ref_k)^2``.

    Args:
        pred: ``(C, H, W)`` fused cube.
        ref: ``(C, H, W)`` ground truth.
        data_range: the peak ``L`` (1 for data in [0, 1]); fixed, never taken from the data.

    Returns:
        PSNR in dB (``inf`` if any band is reproduced exactly).

    Convention
    ----------
    The mean of per-band PSNRs (the hyperspectral habit), not ``10 log10(L^2 / MSE)`` of the
    pooled MSE (``skimage.metrics.peak_signal_noise_ratio`` on the whole cube); the two differ
    by Jensen's inequality. Equals torchmetrics ``peak_signal_noise_ratio(..., data_range=L,
    dim=(2, 3), reduction="elementwise_mean")`` on a ``(1, C, H, W)`` tensor.

    >>> import numpy as np
    >>> ref = np.full((2, 4, 4), 0.5)
    >>> round(psnr(ref + 0.1, ref), 6)    # constant error e: -20 log10(e) = 20 dB
    20.0
    """
    return float(np.mean(psnr_per_band(pred, ref, data_range=data_range)))


def rmse(pred: ArrayLike, ref: ArrayLike) -> float:
    """Root-mean-square error over all bands and pixels, in data units.

    ``RMSE = sqrt( mean_{k,h,w} (pred - ref)^2 )``

    Convention
    ----------
    One pooled RMSE (as in the pansharpening/HS-fusion toolboxes of Vivone et al. 2015 and
    Yokoya et al. 2017), not the mean of per-band RMSEs. Many papers report it on a 0..255
    scale: multiply by 255 to compare.
    """
    p, r = as_pair(pred, ref)
    return float(np.sqrt(np.mean((p - r) ** 2)))


# ---------------------------------------------------------------------------- SSIM


def ssim(
    pred: ArrayLike,
    ref: ArrayLike,
    *,
    data_range: float = 1.0,
    window: Literal["gaussian", "uniform"] = "gaussian",
    sigma: float = 1.5,
    win_size: int = 7,
    sample_covariance: bool = False,
    K1: float = 0.01,  # noqa: N803  (the paper's and scikit-image's names)
    K2: float = 0.03,  # noqa: N803
) -> float:
    """Structural similarity (Wang et al. 2004), per band, averaged over bands.

    ``SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 +
    sigma_y^2 + C2))`` with local statistics under a sliding window, ``C1 = (K1 L)^2``,
    ``C2 = (K2 L)^2``, ``L = data_range``; the map is averaged over the window positions that
    lie entirely inside the image, then over bands.

    Args:
        pred, ref: ``(C, H, W)`` cubes.
        data_range: ``L``.
        window: ``"gaussian"`` (Wang et al.: ``2 int(3.5 sigma + 0.5) + 1`` taps, i.e. 11 x 11
            for sigma 1.5) or ``"uniform"`` (``win_size`` x ``win_size`` box).
        sigma: Gaussian standard deviation (px); ignored for ``"uniform"``.
        win_size: side of the uniform window; ignored for ``"gaussian"``.
        sample_covariance: ``N - 1`` normalisation of the local (co)variances (scikit-image's
            default) instead of ``N`` (Wang et al.'s reference code).
        K1, K2: stabilising constants.

    Returns:
        Mean SSIM (unitless, <= 1).

    Convention
    ----------
    Delegated to ``skimage.metrics.structural_similarity`` on the ``H x W x C`` view with
    ``channel_axis=-1`` (float64): its filtering reflects at the border and it then drops a
    ``(window - 1) / 2`` margin, which equals Wang's MATLAB ``ssim_index.m`` (``filter2``
    ``'valid'``). ``window="gaussian", sigma=1.5, sample_covariance=False`` is Wang et al.
    2004 (without the automatic downsampling that Wang's later ``ssim.m`` adds for images over
    256 px). torchmetrics ``structural_similarity_index_measure`` computes the same map
    inside that margin but (torchmetrics >= 1.0) also averages the border positions computed
    on reflect-padded data, so its scalar differs slightly on small images.

    Reference: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
    assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004.
    """
    from skimage.metrics import structural_similarity

    p, r = as_pair(pred, ref)
    _positive(data_range, "data_range")
    if window == "gaussian":
        extent = 2 * int(3.5 * _positive(sigma, "sigma") + 0.5) + 1
        kwargs = {"gaussian_weights": True, "sigma": float(sigma)}
    elif window == "uniform":
        if int(win_size) < 3 or int(win_size) % 2 == 0:
            raise MossfuseInputError(f"win_size must be odd and >= 3; got {win_size}")
        extent = int(win_size)
        kwargs = {"gaussian_weights": False, "win_size": extent}
    else:
        raise MossfuseInputError(f"window must be 'gaussian' or 'uniform'; got {window!r}")
    if min(p.shape[1:]) < extent:
        raise MossfuseInputError(
            f"SSIM window of {extent} x {extent} px does not fit in a {p.shape[1]} x "
            f"{p.shape[2]} image"
        )
    return float(
        structural_similarity(
            r.transpose(1, 2, 0),
            p.transpose(1, 2, 0),
            channel_axis=-1,
            data_range=float(data_range),
            K1=K1,
            K2=K2,
            use_sample_covariance=sample_covariance,
            **kwargs,
        )
    )


# ---------------------------------------------------------------------------- SAM


def _sam_parts(p: np.ndarray, r: np.ndarray):
    dot = np.einsum("khw,khw->hw", p, r)
    npred = np.sqrt(np.einsum("khw,khw->hw", p, p))
    nref = np.sqrt(np.einsum("khw,khw->hw", r, r))
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.clip(dot / (npred * nref), -1.0, 1.0)
    return np.degrees(np.arccos(cos)), npred > 0, nref > 0


def sam_map(pred: ArrayLike, ref: ArrayLike) -> np.ndarray:
    """Per-pixel spectral angle in degrees, ``(H, W)``; NaN where either spectrum is zero.

    See :func:`sam`.
    """
    p, r = as_pair(pred, ref)
    ang, okp, okr = _sam_parts(p, r)
    return np.where(okp & okr, ang, np.nan)


def sam(pred: ArrayLike, ref: ArrayLike, *, zero_pred_angle: float | None = 90.0) -> float:
    """Spectral angle mapper (Yuhas et al. 1992): mean angle between spectra, in degrees.

    ``SAM = mean_{pixels} arccos( <p, g> / (|p| |g|) )`` with the cosine clipped to ``[-1, 1]``
    (rounding can push it past 1 for identical spectra).

    Args:
        pred, ref: ``(C, H, W)`` cubes.
        zero_pred_angle: angle counted for a pixel whose *predicted* spectrum is all zero
            (its angle is undefined): 90 by default (no spectral information is as wrong as an
            orthogonal spectrum), or ``None`` to leave such pixels out.

    Returns:
        Mean angle in degrees over the pixels whose reference spectrum is not all zero
        (their angle is undefined; count them with ``np.all(ref == 0, axis=0).sum()``).

    Raises:
        MossfuseInputError: if every reference spectrum is zero.

    Convention
    ----------
    Degrees, unweighted mean over pixels (torchmetrics ``spectral_angle_mapper`` returns
    radians and NaN for a zero spectrum). The ``mossfuse-paper`` profile clips the prediction
    to ``[1e-5, 1]`` before calling this, so its predictions are never zero. ``arccos`` near a
    cosine of 1 resolves angles only to about 1e-6 degrees in float64 (parallel spectra may
    score ~1e-6, not 0); that is the formula the spec and the paper's code use.

    Reference: R. H. Yuhas, A. F. H. Goetz, J. W. Boardman, "Discrimination among semi-arid
    landscape endmembers using the spectral angle mapper (SAM) algorithm", Summaries of the
    3rd Annual JPL Airborne Geoscience Workshop, 1992.

    >>> import numpy as np
    >>> g = np.zeros((2, 1, 2)); g[0] = 1.0          # spectra (1, 0) at both pixels
    >>> p = g.copy(); p[:, 0, 1] = (0.0, 1.0)         # second pixel (0, 1): orthogonal
    >>> sam(p, g)                                     # (0 + 90) / 2
    45.0
    """
    p, r = as_pair(pred, ref)
    ang, okp, okr = _sam_parts(p, r)
    if not okr.any():
        raise MossfuseInputError("SAM is undefined: every reference spectrum is all zero")
    if zero_pred_angle is None:
        use = okr & okp
        if not use.any():
            raise MossfuseInputError("SAM is undefined: every predicted spectrum is all zero")
        return float(ang[use].mean())
    ang = np.where(okp, ang, float(zero_pred_angle))
    return float(ang[okr].mean())


# ---------------------------------------------------------------------------- ERGAS


def ergas(
    pred: ArrayLike,
    ref: ArrayLike,
    *,
    ratio: float,
    convention: Literal["wald", "mossfuse-paper"] = "wald",
) -> float:
    """Erreur relative globale adimensionnelle de synthese (Wald 2000).

    ``wald``: ``ERGAS = (100 / r) sqrt( (1/C) sum_k (RMSE_k / mean(ref_k))^2 )``.

    ``mossfuse-paper``: ``(100 / r) sqrt( sum_k MSE_k / mean(ref_k)^2 / (C + 1) )``, the
    MossFuse code's denominator ``C + 1``; it equals ``sqrt(C / (C + 1))`` times the Wald value
    (0.984 for 31 bands).

    Args:
        pred, ref: ``(C, H, W)`` cubes.
        ratio: resolution ratio r = LR pixel size / HR pixel size (e.g. 32); required.
        convention: ``"wald"`` or ``"mossfuse-paper"``.

    Returns:
        ERGAS (unitless, >= 0; lower is better).

    Raises:
        MossfuseInputError: for a reference band of zero mean (ERGAS is undefined there).

    Convention
    ----------
    Wald's ``100 h/l`` with ``h/l = 1/r``. A silent ``100 * r`` (or a fixed r that is not the
    experiment's) changes the value by ``r^2``: 16x at r = 4. Equals torchmetrics
    ``error_relative_global_dimensionless_synthesis(preds, target, ratio=r)`` for ``wald``.

    Reference: L. Wald, "Quality of high resolution synthesised images: is there a simple
    criterion?", Proc. Fusion of Earth Data, 2000, pp. 99-103.
    """
    p, r = as_pair(pred, ref)
    rr = _positive(ratio, "ratio")
    mse = np.mean((p - r) ** 2, axis=(1, 2))
    mean = np.mean(r, axis=(1, 2))
    if np.any(mean == 0):
        bad = np.flatnonzero(mean == 0).tolist()
        raise MossfuseInputError(
            f"ERGAS is undefined: reference band(s) {bad} have zero mean (drop them first)"
        )
    rel = mse / mean**2
    C = p.shape[0]
    if convention == "wald":
        denom = C
    elif convention == "mossfuse-paper":
        denom = C + 1
    else:
        raise MossfuseInputError(
            f"ERGAS convention must be 'wald' or 'mossfuse-paper'; got {convention!r}"
        )
    return float(100.0 / rr * np.sqrt(rel.sum() / denom))


# ---------------------------------------------------------------------------- CC


def cc_per_band(pred: ArrayLike, ref: ArrayLike) -> np.ndarray:
    """Pearson correlation of each band, ``(C,)``; NaN where either band is constant."""
    p, r = as_pair(pred, ref)
    pc = p - p.mean(axis=(1, 2), keepdims=True)
    rc = r - r.mean(axis=(1, 2), keepdims=True)
    num = np.einsum("khw,khw->k", pc, rc)
    den = np.sqrt(np.einsum("khw,khw->k", pc, pc) * np.einsum("khw,khw->k", rc, rc))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)


def cc(pred: ArrayLike, ref: ArrayLike) -> float:
    """Cross-correlation: mean over bands of the per-band Pearson correlation.

    ``CC = (1/C) sum_k cov(p_k, g_k) / (std(p_k) std(g_k))`` over the ``H x W`` pixels.

    Convention
    ----------
    A band where the prediction or the reference is constant has no correlation; it is left
    out of the mean (see :func:`cc_per_band` for which). Raises if every band is constant.
    """
    vals = cc_per_band(pred, ref)
    if np.all(np.isnan(vals)):
        raise MossfuseInputError("CC is undefined: every band is constant in pred or ref")
    return float(np.nanmean(vals))


# ---------------------------------------------------------------------------- Q index


def q_from_moments(
    mx: ArrayLike, my: ArrayLike, vx: ArrayLike, vy: ArrayLike, cxy: ArrayLike
) -> np.ndarray:
    """Wang-Bovik Q from local means, variances and covariance (broadcasting arrays).

    ``Q = 4 sigma_xy mu_x mu_y / ((sigma_x^2 + sigma_y^2)(mu_x^2 + mu_y^2))`` with the guards
    of Wang's ``img_qi.m``: both variances zero -> ``2 mu_x mu_y / (mu_x^2 + mu_y^2)``; both
    variances and both means zero -> 1; variances not zero but means zero -> 1. "Zero" for
    the variance sum means below ``1e-20 (mu_x^2 + mu_y^2)`` (rounding of a constant block).
    The variance normalisation (``N`` or ``N - 1``) cancels.
    """
    mx, my, vx, vy, cxy = np.broadcast_arrays(mx, my, vx, vy, cxy)
    msq = mx * mx + my * my
    vsum = np.maximum(vx, 0) + np.maximum(vy, 0)
    flat = vsum <= _FLAT_REL * msq
    q = np.ones(mx.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        only_means = flat & (msq > 0)
        q = np.where(only_means, 2 * mx * my / msq, q)
        full = ~flat & (msq > 0)
        q = np.where(full, 4 * cxy * mx * my / (vsum * msq), q)
    return q


def _window_sums(a: np.ndarray, k: int) -> np.ndarray:
    """Sums of ``a`` (H, W) over every k x k window inside it: ``(H-k+1, W-k+1)``."""
    c = np.cumsum(a, axis=0)
    c = np.concatenate([np.zeros((1, a.shape[1])), c], axis=0)
    rows = c[k:] - c[:-k]
    c = np.cumsum(rows, axis=1)
    c = np.concatenate([np.zeros((rows.shape[0], 1)), c], axis=1)
    return c[:, k:] - c[:, :-k]


def _sliding_q_band(x: np.ndarray, y: np.ndarray, k: int, stride: int) -> np.ndarray:
    """Q map of one band over k x k windows at the given stride (valid positions)."""
    gx, gy = x.mean(), y.mean()
    xc, yc = x - gx, y - gy  # centring shrinks the cumulative sums' rounding
    n = float(k * k)
    sx = _window_sums(xc, k)[::stride, ::stride] / n
    sy = _window_sums(yc, k)[::stride, ::stride] / n
    vx = _window_sums(xc * xc, k)[::stride, ::stride] / n - sx * sx
    vy = _window_sums(yc * yc, k)[::stride, ::stride] / n - sy * sy
    cxy = _window_sums(xc * yc, k)[::stride, ::stride] / n - sx * sy
    mx, my = sx + gx, sy + gy
    # Running sums leave a residue of ~1e-16 of the band's power in the variance of a
    # constant window, where img_qi's exact guards apply: recompute every nearly flat window
    # with exact two-pass moments (always correct; the generous threshold only costs time).
    power = float(np.mean(xc * xc) + np.mean(yc * yc) + gx * gx + gy * gy)
    near = (np.maximum(vx, 0) + np.maximum(vy, 0)) <= 1e-6 * (mx * mx + my * my + power)
    if near.any():
        from numpy.lib.stride_tricks import sliding_window_view

        wx = sliding_window_view(x, (k, k))[::stride, ::stride]
        wy = sliding_window_view(y, (k, k))[::stride, ::stride]
        idx = np.nonzero(near)
        for s in range(0, idx[0].size, 2048):
            i, j = idx[0][s : s + 2048], idx[1][s : s + 2048]
            bx, by = wx[i, j].reshape(i.size, -1), wy[i, j].reshape(i.size, -1)
            ex, ey = bx.mean(1), by.mean(1)
            dx, dy = bx - ex[:, None], by - ey[:, None]
            mx[i, j], my[i, j] = ex, ey
            vx[i, j], vy[i, j] = (dx * dx).mean(1), (dy * dy).mean(1)
            cxy[i, j] = (dx * dy).mean(1)
    return q_from_moments(mx, my, vx, vy, cxy)


def uiqi(pred: ArrayLike, ref: ArrayLike, *, block_size: int = 32, stride: int = 1) -> float:
    """Universal image quality index (Wang & Bovik 2002), mean over windows and bands.

    For each band and each ``block_size x block_size`` window,
    ``Q = 4 sigma_pg mu_p mu_g / ((sigma_p^2 + sigma_g^2)(mu_p^2 + mu_g^2))``
    (correlation x luminance closeness x contrast closeness); the index is the mean of Q
    over the windows, then over bands. 1 iff ``pred == ref`` (non-constant).

    Args:
        pred, ref: ``(C, H, W)`` cubes.
        block_size: window side (px); 32 is the HS/MS fusion habit (8 in Wang's paper).
        stride: step between windows. 1 (default) slides the window over every valid position,
            as Wang's ``img_qi.m`` does and as the fusion toolboxes call it
            (``img_qi(gt, fused, 32)``); ``stride=block_size`` uses disjoint blocks.

    Convention
    ----------
    Windows lie entirely inside the image (no padding). Constant windows follow ``img_qi.m``'s
    guards (see :func:`q_from_moments`). The statistics are computed with running sums on
    mean-centred float64 data; nearly constant windows are recomputed exactly.

    Reference: Z. Wang, A. C. Bovik, "A universal image quality index", IEEE Signal
    Processing Letters 9(3), 2002.
    """
    p, r = as_pair(pred, ref)
    k = int(block_size)
    if k < 2 or min(p.shape[1:]) < k:
        raise MossfuseInputError(
            f"UIQI block_size must be in [2, min(H, W) = {min(p.shape[1:])}]; got {block_size}"
        )
    if int(stride) < 1:
        raise MossfuseInputError(f"stride must be >= 1; got {stride}")
    means = [_sliding_q_band(r[b], p[b], k, int(stride)).mean() for b in range(p.shape[0])]
    return float(np.mean(means))


def q_index(x: ArrayLike, y: ArrayLike) -> float:
    """Wang-Bovik Q of two whole images (any shape, flattened), with ``img_qi.m``'s guards."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise MossfuseInputError(f"q_index needs two images of equal size >= 2; got {a.size}, "
                                 f"{b.size}")
    ma, mb = a.mean(), b.mean()
    da, db = a - ma, b - mb
    return float(q_from_moments(ma, mb, (da * da).mean(), (db * db).mean(), (da * db).mean()))


# ---------------------------------------------------------------------------- Q2n


def _conj(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[..., :1], -x[..., 1:]], axis=-1)


def hypercomplex_product(x: ArrayLike, y: ArrayLike) -> np.ndarray:
    """Product of ``2^n``-ons (Cayley-Dickson construction), vectorised over leading axes.

    ``x``, ``y``: ``(..., N)`` arrays, ``N`` a power of two; returns ``(..., N)``. With
    ``x = (a, b)`` and ``y = (c, d)`` split in halves and ``b' = conj(b)``, ``d' = conj(d)``:
    ``x y = (a c - d' b, conj(a) d' + c b')``, recursively; for ``N = 2`` it is the complex
    product. This is ``onion_mult`` of the Q2n reference code (Garzelli's, shipped in the
    pansharpening toolbox of Vivone et al.), ported term for term so that Q2n matches it.

    >>> import numpy as np
    >>> hypercomplex_product(np.array([1.0, 2.0]), np.array([3.0, 4.0])).tolist()  # (1+2i)(3+4i)
    [-5.0, 10.0]
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = x.shape[-1]
    if n != y.shape[-1] or n & (n - 1):
        raise MossfuseInputError(
            f"hypercomplex operands need the same power-of-two length; got {n}, {y.shape[-1]}"
        )
    return _cd_product(x, y)


def _cd_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = x.shape[-1]
    if n == 1:
        return x * y
    h = n // 2
    a, b = x[..., :h], _conj(x[..., h:])
    c, d = y[..., :h], _conj(y[..., h:])
    left = _cd_product(a, c) - _cd_product(d, _conj(b))
    right = _cd_product(_conj(a), d) + _cd_product(c, b)
    return np.concatenate([left, right], axis=-1)


@functools.lru_cache(maxsize=8)
def _structure_constants(n: int) -> np.ndarray:
    """``T[i, j, k]``: component k of ``e_i e_j`` (``(N, N, N)``; each ``e_i e_j = +-e_{i^j}``).

    The product is bilinear, so ``mean_p(x_p y_p) = sum_ij mean_p(x_pi y_pj) T[i, j]``: Q2n
    then needs one ``N x N`` cross-moment matrix per block (a matrix product, BLAS speed)
    instead of ``n_pixels`` hypercomplex products per block.
    """
    eye = np.eye(n)
    t = _cd_product(np.broadcast_to(eye[:, None, :], (n, n, n)),
                    np.broadcast_to(eye[None, :, :], (n, n, n)))
    t.setflags(write=False)
    return t


def _onions_quality(g: np.ndarray, f: np.ndarray) -> np.ndarray:
    """|Q_{2^n}| of blocks: ``g`` (GT), ``f`` (fused) ``(K, n_pix, N)`` -> ``(K,)``.

    ``onions_quality.m`` normalises each band of each block with the GT block's mean ``s`` and
    standard deviation ``t`` (``d = (x - s) / t + 1``; ``t = 0 -> eps``; when ``s = 0`` the
    fused band is only shifted, ``f + 1``), conjugates the fused block and takes
    ``q = c (E[d1 d2] - E[d1] E[d2]) * mean_bias * 2 / term3`` (``c = n / (n - 1)``,
    ``term3 = c (E|d1|^2 - |E d1|^2 + E|d2|^2 - |E d2|^2)``,
    ``mean_bias = 2 |E d1| |E d2| / (|E d1|^2 + |E d2|^2)``).

    The normalisation is affine per band and the product bilinear, so the hypercomplex
    covariance is ``sum_ij a_i b_j cov(g_i, f_j) e_i e_j`` with ``a_i = 1 / t_i`` and
    ``b_j = +-1 / t_j`` (the conjugation sign): one ``N x N`` covariance per block instead of
    the toolbox's per-pixel products; same value up to rounding (a literal port is kept in the
    tests). A constant band has exactly zero deviations here (the toolbox's
    ``(x - mean2(x)) / eps`` would amplify the rounding of the mean instead).
    """
    K, npix, N = g.shape
    gconst = g.max(axis=1) == g.min(axis=1)
    fconst = f.max(axis=1) == f.min(axis=1)
    gm = np.where(gconst, g[:, 0, :], g.mean(axis=1))
    fm = np.where(fconst, f[:, 0, :], f.mean(axis=1))
    dg = g - gm[:, None, :]
    df = f - fm[:, None, :]
    vg = np.einsum("kpi,kpi->ki", dg, dg) / npix
    vf = np.einsum("kpi,kpi->ki", df, df) / npix
    cov = np.einsum("kpi,kpj->kij", dg, df, optimize=True) / npix
    c = npix / (npix - 1.0)
    t = np.sqrt(vg * c)
    t = np.where(gconst | (t == 0), np.finfo(np.float64).eps, t)
    a = np.where(gconst, 0.0, 1.0 / t)  # GT normalisation scale (a constant band -> 1)
    b = np.where(gm == 0, 1.0, 1.0 / t)  # fused normalisation scale (toolbox: s == 0 branch)
    sign = np.ones(N)
    sign[1:] = -1.0  # conjugation of the fused 2^n-on
    m2 = sign * (b * (fm - gm) + 1.0)  # E[d2]; E[d1] = (1, ..., 1)
    mq1, mq2 = float(N), (m2 * m2).sum(-1)
    term3 = c * ((a * a * vg).sum(-1) + (b * b * vf).sum(-1))
    mean_bias = 2.0 * np.sqrt(mq1 * mq2) / (mq1 + mq2)
    weights = a[:, :, None] * (sign * b)[:, None, :] * cov
    qcov = c * (weights.reshape(K, N * N) @ _structure_constants(N).reshape(N * N, N))
    # The toolbox tests term3 == 0 (both blocks constant); allow for rounding.
    flat = term3 <= 1e-12 * c * (mq1 + mq2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = qcov * (mean_bias * 2.0 / term3)[:, None]
    mod = np.sqrt((q * q).sum(-1))
    return np.where(flat, mean_bias, mod)


def q2n_map(
    pred: ArrayLike, ref: ArrayLike, *, block_size: int = 32, shift: int = 32
) -> np.ndarray:
    """Per-block Q2n values ``(n_blocks_y, n_blocks_x)``; see :func:`q2n`."""
    p, r = as_pair(pred, ref)
    k, sh = int(block_size), int(shift)
    if k < 2 or sh < 1:
        raise MossfuseInputError(f"Q2n needs block_size >= 2 and shift >= 1; got {k}, {sh}")
    C, H, W = p.shape
    ny, nx = math.ceil(H / sh), math.ceil(W / sh)
    ey, ex = max(0, (ny - 1) * sh + k - H), max(0, (nx - 1) * sh + k - W)
    if ey or ex:  # q2n.m mirrors the last rows/columns (edge repeated) to fit whole blocks
        pad = ((0, 0), (0, ey), (0, ex))
        p, r = np.pad(p, pad, mode="symmetric"), np.pad(r, pad, mode="symmetric")
    N = 1 << (C - 1).bit_length()
    if N != C:  # q2n.m appends zero bands up to the next power of two
        zeros = np.zeros((N - C, *p.shape[1:]))
        p, r = np.concatenate([p, zeros]), np.concatenate([r, zeros])
    from numpy.lib.stride_tricks import sliding_window_view

    wp = sliding_window_view(p, (k, k), axis=(1, 2))[:, ::sh, ::sh][:, :ny, :nx]
    wr = sliding_window_view(r, (k, k), axis=(1, 2))[:, ::sh, ::sh][:, :ny, :nx]
    out = np.empty(ny * nx)
    # (K, k*k, N) blocks, processed in chunks of ~16 M values to bound memory
    per = max(1, (1 << 24) // (k * k * N))
    coords = [(i, j) for i in range(ny) for j in range(nx)]
    for s in range(0, len(coords), per):
        ii = np.array([c[0] for c in coords[s : s + per]])
        jj = np.array([c[1] for c in coords[s : s + per]])
        g = wr[:, ii, jj].transpose(1, 2, 3, 0).reshape(ii.size, k * k, N)
        f = wp[:, ii, jj].transpose(1, 2, 3, 0).reshape(ii.size, k * k, N)
        out[s : s + ii.size] = _onions_quality(g, f)
    return out.reshape(ny, nx)


def q2n(pred: ArrayLike, ref: ArrayLike, *, block_size: int = 32, shift: int = 32) -> float:
    """Q2^n: the hypercomplex extension of the Q index (Garzelli & Nencini 2009).

    Each pixel's spectrum is one ``2^n``-on ``z`` (bands padded with zeros to ``2^n``). On
    each ``block_size`` block,
    ``Q2n = |sigma_{z z'}| / (sigma_z sigma_z') * 2 sigma_z sigma_z' / (sigma_z^2 +
    sigma_z'^2) * 2 |mean z| |mean z'| / (|mean z|^2 + |mean z'|^2)``, where
    ``sigma_{z z'}`` is the hypercomplex covariance ``E[z conj(z')] - E[z] conj(E[z'])``; the
    index is the mean over blocks. 1 iff the cubes are equal.

    Args:
        pred, ref: ``(C, H, W)`` cubes (any ``C``; padded to the next power of two).
        block_size: block side (px), 32 as in the toolbox.
        shift: step between blocks, 32 (disjoint blocks) as in the toolbox.

    Convention
    ----------
    A port of ``q2n.m``/``onions_quality.m`` (Vivone et al.'s pansharpening toolbox): the
    image is extended by mirroring to a whole number of blocks, bands are zero-padded to
    ``2^n`` (e.g. 31 -> 32; the padded band is constant and so enters the means), each band of
    a block is normalised by the GT block's mean and std, moments are unbiased. One deviation:
    ``q2n.m`` casts the cubes to ``uint16`` first (its data are integer DNs); library data
    are in [0, 1], so no quantisation is applied here.

    Cost: ``O(H W N^2)`` for ``N = 2^n`` (the per-pixel product has ``N^2`` terms), and memory
    of a few copies of the cube. Computed as one ``N x N`` covariance matrix per block (a
    batched matrix product) contracted with the algebra's structure constants, not as
    per-pixel hypercomplex products: about 1 s for 512 x 512 x 31 (N = 32) on 2 CPU cores;
    evaluate without ``"q2n"`` where that matters.

    Reference: A. Garzelli, F. Nencini, "Hypercomplex quality assessment of multi/hyperspectral
    images", IEEE GRSL 6(4), 2009, pp. 662-665.
    """
    return float(np.mean(q2n_map(pred, ref, block_size=block_size, shift=shift)))
