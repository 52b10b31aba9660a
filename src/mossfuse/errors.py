"""Exceptions and input checks shared by the whole package.

Every check at a public boundary raises :class:`MossfuseInputError` with a message that says
what was got, what was expected and, when known, which file it came from. The CLI turns these
into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported by check_cube: `mossfuse --help` needs none of it
    import numpy as np


class MossfuseError(Exception):
    """Base class of every error raised on purpose by mossfuse."""


class MossfuseInputError(MossfuseError, ValueError):
    """Bad input: wrong shape, dtype, range, file content, or contradicting metadata."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


def where(path: str | Path | None, name: str) -> str:
    """Human label of an input for error messages: the file when there is one, else the name."""
    return f"{name} ({path})" if path else name


def check_cube(
    cube: np.ndarray,
    name: str = "cube",
    path: str | Path | None = None,
    *,
    allow_nan: bool = False,
    value_range: tuple[float, float] | None = (0.0, 1.0),
    tol: float = 1e-3,
) -> np.ndarray:
    """Check a ``(bands, H, W)`` floating cube and return it as float32.

    Raises :class:`MossfuseInputError` for a wrong number of dimensions, an integer dtype
    (scale it explicitly first), NaN/Inf (unless ``allow_nan``), or values outside
    ``value_range`` by more than ``tol``.
    """
    import numpy as np

    arr = np.asarray(cube)
    if arr.ndim != 3:
        raise MossfuseInputError(
            f"{name} must be a 3-D cube (bands, H, W); got shape {arr.shape}", path
        )
    if arr.size == 0:
        raise MossfuseInputError(f"{name} is empty (shape {arr.shape})", path)
    if not np.issubdtype(arr.dtype, np.floating):
        raise MossfuseInputError(
            f"{name} has integer dtype {arr.dtype}; expected floating point in [0, 1] "
            "(scale it explicitly, e.g. divide uint16 data by 65535)",
            path,
        )
    finite = np.isfinite(arr)
    if not allow_nan and not finite.all():
        bad = int((~finite).sum())
        raise MossfuseInputError(
            f"{name} contains {bad} NaN/Inf values; expected finite numbers "
            "(mask no-data pixels first)",
            path,
        )
    if value_range is not None:
        vals = arr[finite] if not finite.all() else arr
        lo, hi = float(vals.min()), float(vals.max())
        if lo < value_range[0] - tol or hi > value_range[1] + tol:
            raise MossfuseInputError(
                f"{name} has values in [{lo:.4g}, {hi:.4g}]; expected [{value_range[0]:g}, "
                f"{value_range[1]:g}] (normalise the data first)",
                path,
            )
    return arr.astype(np.float32, copy=False)
