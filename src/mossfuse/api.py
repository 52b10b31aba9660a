"""The Python API on arrays: :func:`fuse`, :func:`evaluate`, :func:`list_methods`.

Convention:
    Arrays given to and returned by these functions are channel-last by default
    (``channel_axis=-1``: ``H x W x bands``, the layout of the files and of most imaging
    libraries), like scikit-image; pass ``channel_axis=0`` for bands-first ``(bands, H, W)``
    arrays (the layout inside the library). NumPy arrays and torch tensors are accepted;
    results are NumPy ``float32``. Values are floats in [0, 1] (integer images: scale them
    first, e.g. ``img / 65535``).

>>> import numpy as np
>>> import mossfuse
>>> rng = np.random.default_rng(0)
>>> lr = rng.random((16, 16, 31), dtype=np.float32)    # LR-HSI, H x W x bands
>>> hr = rng.random((128, 128, 3), dtype=np.float32)   # HR-MSI, 8 times larger
>>> result = mossfuse.fuse(lr, hr, method="bicubic")
>>> result.hr_hsi.shape
(128, 128, 31)
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse.errors import MossfuseInputError

__all__ = ["evaluate", "fuse", "list_methods"]


def _as_numpy(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise MossfuseInputError(f"{name} is not an array: {type(x).__name__}") from exc
    if arr.dtype == object:
        raise MossfuseInputError(f"{name} is not a numeric array")
    return arr


def _bands_first(arr: np.ndarray, channel_axis: int, name: str) -> np.ndarray:
    if arr.ndim == 2:  # one band
        return arr[None]
    if arr.ndim != 3:
        raise MossfuseInputError(f"{name} must be a 3-D array (H x W x bands with "
                                 f"channel_axis=-1); got shape {arr.shape}")
    if not -3 <= channel_axis <= 2:
        raise MossfuseInputError(f"channel_axis must be one of -3..2; got {channel_axis}")
    return np.moveaxis(arr, channel_axis, 0)


def _pairs(lr: np.ndarray, hr: np.ndarray, ratio: int | None) -> bool:
    from mossfuse.data.scene import check_pair_sizes

    try:
        check_pair_sizes(lr.shape[1:], hr.shape[1:], ratio)
    except MossfuseInputError:
        return False
    return True


def _hint(lr: np.ndarray, hr: np.ndarray, ratio: int | None, channel_axis: int) -> str:
    """A channel axis under which the two arrays would pair, as advice."""
    if lr.ndim != 3 or hr.ndim != 3:
        return ""
    for a_lr, a_hr in product(range(3), range(3)):
        if a_lr == a_hr == channel_axis % 3:
            continue
        lr_b, hr_b = np.moveaxis(lr, a_lr, 0), np.moveaxis(hr, a_hr, 0)
        if lr_b.shape[0] >= hr_b.shape[0] and _pairs(lr_b, hr_b, ratio):
            if a_lr == a_hr:
                named = {0: "0 (bands first)", 1: "1", 2: "-1 (bands last)"}[a_lr]
                return f"; they would pair with channel_axis={named}"
            return (f"; they would pair with the bands on axis {a_lr} of the LR-HSI and "
                    f"axis {a_hr} of the HR-MSI (transpose one so both use the same axis)")
    return ""


def _layout(arr: np.ndarray, channel_axis: int) -> str:
    names = ["H", "W"]
    names.insert(channel_axis % 3, "bands")
    return " x ".join(f"{n}={s}" for n, s in zip(names, arr.shape, strict=True))


def fuse(
    lr_hsi: Any,
    hr_msi: Any,
    method: str = "scalmu",
    *,
    ratio: int | None = None,
    channel_axis: int = -1,
    srf: Any = None,
    psf: Any = None,
    wavelengths_nm: Any = None,
    config: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
) -> Any:
    """Fuse an LR-HSI and an HR-MSI array with a registered method.

    Args:
        lr_hsi: LR-HSI ``h x w x B`` (``channel_axis=-1``) float in [0, 1].
        hr_msi: HR-MSI ``H x W x b`` with ``H = r h``, ``W = r w``.
        method: a name from :func:`list_methods` (default ``"scalmu"``).
        ratio: ``r`` (default: from the sizes).
        channel_axis: the bands axis of both inputs and of the result (scikit-image's
            convention); 0 for ``(bands, H, W)``.
        srf: known SRF: ``(b, B)`` array, a file or a library name
            (:func:`mossfuse.physics.load_srf`; names need ``wavelengths_nm``). None: blind.
        psf: known ``(k, k)`` PSF kernel (centred, sums to 1). None: blind.
        wavelengths_nm: ``(B,)`` HSI band centres, for SRF names and the estimator's checks.
        config: the method's config (dict).
        weights: checkpoint of a learned method (default: its shipped or best weights).

    Returns:
        :class:`mossfuse.methods.FusionResult` whose ``hr_hsi`` is ``H x W x B`` float32 (in
        the layout of ``channel_axis``), with the estimated SRF/PSF of a blind run and
        ``info`` (timings, config, weights used).

    Raises:
        MossfuseInputError: arrays that do not pair (the message says which channel axis
            would), integer or out-of-range data, NaN/Inf, an SRF of the wrong shape.
    """
    from mossfuse.data.scene import FusionInputs
    from mossfuse.physics.degradation import Degradation
    from mossfuse.pipeline.fuse import load_fusion_method

    lr_raw, hr_raw = _as_numpy(lr_hsi, "lr_hsi"), _as_numpy(hr_msi, "hr_msi")
    lr = _bands_first(lr_raw, channel_axis, "lr_hsi")
    hr = _bands_first(hr_raw, channel_axis, "hr_msi")
    if not _pairs(lr, hr, ratio) or lr.shape[0] < hr.shape[0]:
        why = ("the LR-HSI has fewer bands than the HR-MSI" if _pairs(lr, hr, ratio) else
               f"the HR-MSI must be r times the LR-HSI on both axes"
               f"{'' if ratio is None else f' (r = {ratio})'}")
        raise MossfuseInputError(
            f"lr_hsi {lr_raw.shape} and hr_msi {hr_raw.shape} read with channel_axis="
            f"{channel_axis} as LR-HSI {_layout(lr_raw, channel_axis)} and HR-MSI "
            f"{_layout(hr_raw, channel_axis)}: {why}" + _hint(lr_raw, hr_raw, ratio,
                                                               channel_axis))
    wl = None if wavelengths_nm is None else np.asarray(wavelengths_nm, np.float64)
    srf_matrix = None
    if srf is not None:
        if isinstance(srf, (str, Path)):
            from mossfuse.pipeline.checks import load_srf_named

            srf_matrix = load_srf_named(srf, wl).matrix
        else:
            srf_matrix = _as_numpy(srf, "srf").astype(np.float32)
    kernel = None if psf is None else _as_numpy(psf, "psf").astype(np.float32)
    r = ratio if ratio is not None else hr.shape[1] // lr.shape[1]
    inputs = FusionInputs(
        lr_hsi=np.ascontiguousarray(lr, dtype=lr.dtype), hr_msi=np.ascontiguousarray(hr),
        ratio=r, hsi_wavelengths_nm=wl, degradation=Degradation(kernel, srf_matrix, r),
    )
    result = load_fusion_method(method, config, weights).fuse(inputs)
    result.hr_hsi = np.ascontiguousarray(np.moveaxis(result.hr_hsi, 0, channel_axis))
    result.info.setdefault("channel_axis", channel_axis)
    return result


def evaluate(
    pred: Any,
    ref: Any,
    ratio: float,
    profile: str = "mossfuse-paper",
    *,
    channel_axis: int = -1,
    metrics: list[str] | None = None,
) -> dict[str, float]:
    """Full-reference metrics of a fused cube against its reference under a named profile.

    Args:
        pred, ref: ``H x W x B`` arrays (``channel_axis=-1``); ``ref`` in [0, 1].
        ratio: the experiment's ``r`` (ERGAS).
        profile: ``"mossfuse-paper"`` (the paper's conventions) or ``"standard"``.
        channel_axis: bands axis of both arrays.
        metrics: a subset of the profile's metrics.

    Returns:
        ``{"psnr": ..., "ssim": ..., "sam": ..., "ergas": ...}`` (the profile's metrics).

    >>> import numpy as np
    >>> ref = np.full((16, 16, 3), 0.5)
    >>> round(evaluate(ref + 0.1, ref, ratio=4, metrics=["psnr"])["psnr"], 6)
    20.0
    """
    from mossfuse.metrics import evaluate as evaluate_profile

    p = _bands_first(_as_numpy(pred, "pred"), channel_axis, "pred")
    r = _bands_first(_as_numpy(ref, "ref"), channel_axis, "ref")
    if p.shape != r.shape:
        raise MossfuseInputError(f"pred shape {np.moveaxis(p, 0, -1).shape} differs from ref "
                                 f"shape {np.moveaxis(r, 0, -1).shape} (H x W x bands)")
    return dict(evaluate_profile(p, r, profile=profile, ratio=ratio, metrics=metrics).values)


def list_methods() -> list[str]:
    """Names of the registered fusion methods (``mossfuse methods`` describes them)."""
    from mossfuse.methods.base import available_methods

    return available_methods()
