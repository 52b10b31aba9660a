"""Scaling stored values to float32 in [0, 1]: the one rule every reader applies (whole cubes
and windows alike); see :mod:`mossfuse.data.io`, Convention.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mossfuse.errors import MossfuseInputError

_RANGE_TOL = 1e-3  # same tolerance as errors.check_cube


def normalize_cube(
    arr: np.ndarray,
    path: str | Path | None = None,
    *,
    scale: float | None = None,
    allow_unnormalized: bool = False,
    nodata: float | None = None,
    name: str = "cube",
    pixel_nodata: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Scale a ``(bands, H, W)`` array to float32 in [0, 1] by the rule of this module.

    ``nodata`` (a file's no-data sentinel, e.g. -9999): entries equal to it become NaN and are
    left out of the range check. ``pixel_nodata`` (``(H, W)`` bool): whole pixels that are
    no-data (every band becomes NaN).

    Returns:
        ``(cube, meta)``: the float32 cube and ``{"scale": divisor}`` plus
        ``"nodata_mask"`` ``(H, W)`` bool when some pixel has a NaN/Inf band.

    Raises:
        MossfuseInputError: an integer dtype other than uint8/uint16 without ``scale``, a
            non-positive ``scale``, or values outside [0, 1] after scaling (unless
            ``allow_unnormalized``).
    """
    arr = np.asarray(arr)
    if arr.size == 0:
        raise MossfuseInputError(f"{name} is empty (shape {arr.shape})", path)
    if scale is not None and not (np.isfinite(scale) and scale > 0):
        raise MossfuseInputError(f"scale must be a positive number; got {scale!r}", path)
    if arr.dtype == bool:
        divisor = 1.0 if scale is None else float(scale)
    elif np.issubdtype(arr.dtype, np.integer):
        if scale is not None:
            divisor = float(scale)
        elif arr.dtype == np.uint8:
            divisor = 255.0
        elif arr.dtype == np.uint16:
            divisor = 65535.0
        else:
            lo, hi = int(arr.min()), int(arr.max())
            raise MossfuseInputError(
                f"{name} has integer dtype {arr.dtype} (values {lo}..{hi}); give scale= (the "
                f"divisor that maps the data to [0, 1]; --hsi-scale/--msi-scale on the command "
                f"line), e.g. scale={max(hi, 1)}",
                path,
            )
    elif np.issubdtype(arr.dtype, np.floating):
        divisor = 1.0 if scale is None else float(scale)
    else:
        raise MossfuseInputError(f"{name} has non-numeric dtype {arr.dtype}", path)

    cube = arr.astype(np.float32)
    if nodata is not None and np.isfinite(nodata):
        cube[arr == nodata] = np.nan
    if pixel_nodata is not None:
        cube[:, np.asarray(pixel_nodata, dtype=bool)] = np.nan
    if divisor != 1.0:
        cube /= np.float32(divisor)
    meta: dict[str, Any] = {"scale": divisor}
    finite = np.isfinite(cube)
    if not finite.all():
        meta["nodata_mask"] = ~finite.all(axis=0)
    if not allow_unnormalized:
        vals = cube[finite] if "nodata_mask" in meta else cube
        if vals.size:
            lo, hi = float(vals.min()), float(vals.max())
            if lo < -_RANGE_TOL or hi > 1.0 + _RANGE_TOL:
                hint = (
                    f"give scale= (--hsi-scale/--msi-scale on the command line; e.g. "
                    f"scale={hi * divisor:.6g} divides by the maximum)"
                    if hi > 1.0 + _RANGE_TOL
                    else "clip or offset the data first"
                )
                raise MossfuseInputError(
                    f"{name} has values in [{lo:.4g}, {hi:.4g}] after dividing by {divisor:g}; "
                    f"expected [0, 1]: {hint}, or pass allow_unnormalized=True",
                    path,
                )
    return cube, meta


def check_streamable_dtype(dtype: np.dtype, scale: float | None, path: Path) -> None:
    """Refuse, before any window is read, a dtype that :func:`normalize_cube` would refuse in
    every window: integers other than uint8/uint16 without ``scale``."""
    if dtype.kind == "f" or dtype.kind == "b" or dtype in (np.uint8, np.uint16):
        return
    if dtype.kind in "iu" and scale is not None:
        return
    raise MossfuseInputError(
        f"cube has dtype {dtype}; streaming reads need float, uint8, uint16 or scale= for "
        "other integer types",
        path,
    )
