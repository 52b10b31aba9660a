"""Stored arrays: the raw result of a format's read (:class:`RawCube`), axis order, and which
variable of a ``.mat``/``.npz`` file is the cube.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from mossfuse.data.io.wavelengths import WAVELENGTH_KEYS
from mossfuse.errors import MossfuseInputError

Layout = Literal["hwc", "chw"]


class RawCube(NamedTuple):
    """What a format's ``read`` returns: the stored values, not yet scaled.

    Attributes:
        data: ``(bands, H, W)`` in the stored dtype.
        wavelengths_nm: ``(bands,)`` band centres found in the file, or None.
        meta: format-specific entries (``key``, ``band_names``, ``crs``, ``transform``,
            ``nodata``, ``header``).
    """

    data: np.ndarray
    wavelengths_nm: np.ndarray | None
    meta: dict[str, Any]


def _describe(arrays: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in sorted(arrays.items())) or "none"


def pick_array(
    arrays: Mapping[str, np.ndarray], key: str | None, path: Path
) -> tuple[str, np.ndarray]:
    """The variable ``key``, or the only 3-D numeric array (else the only 2-D one)."""
    numeric = {
        k: v for k, v in arrays.items()
        if np.asarray(v).dtype.kind in "biuf" and np.ndim(v) >= 1
    }
    if key is not None:
        if key not in numeric:
            raise MossfuseInputError(
                f"no numeric variable {key!r}; found: {_describe(arrays)}", path
            )
        return key, np.asarray(numeric[key])
    candidates = {k: v for k, v in numeric.items() if np.ndim(v) == 3}
    if not candidates:
        candidates = {
            k: v for k, v in numeric.items()
            if np.ndim(v) == 2 and k not in WAVELENGTH_KEYS and min(np.shape(v)) > 1
        }
    if len(candidates) != 1:
        what = "several" if candidates else "no"
        raise MossfuseInputError(
            f"{what} candidate cube variables; give key= (one of the variables found: "
            f"{_describe(arrays)})",
            path,
        )
    k = next(iter(candidates))
    return k, np.asarray(candidates[k])


def to_chw(arr: np.ndarray, layout: str, path: Path, name: str) -> np.ndarray:
    if arr.ndim == 2:
        return arr[None]
    if arr.ndim != 3:
        raise MossfuseInputError(
            f"{name} must be 2-D (H, W) or 3-D; got shape {arr.shape}", path
        )
    if layout == "hwc":
        return np.moveaxis(arr, -1, 0)
    if layout == "chw":
        return arr
    raise MossfuseInputError(f"layout must be 'hwc' or 'chw'; got {layout!r}", path)
