"""Read an LR-HSI / HR-MSI file pair once, with the one geometry check.

Every file-to-file fusion (whole image, tiled, with a report) starts here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse.errors import MossfuseInputError

__all__ = ["FilePair", "read_pair"]


@dataclass
class FilePair:
    """An input pair as read from disk.

    Attributes:
        lr, hr: :class:`~mossfuse.data.scene.Scene` (in memory) or, when streamed,
            :class:`~mossfuse.engine.streaming.StreamedInputs`'s readers (``lr.shape`` is
            ``(B, h, w)``, ``hr.shape`` ``(b, H, W)`` either way).
        ratio: ``r`` with ``H = r h``, ``W = r w``.
        wavelengths_nm: ``(B,)`` HSI band centres (nm), or None when unknown.
        msi_band_names: names of the ``b`` MSI bands (may be empty).
        streamed: the cubes are readers (tiled fusion), not in memory.
    """

    lr_path: Path
    hr_path: Path
    lr: Any
    hr: Any
    ratio: int
    wavelengths_nm: np.ndarray | None
    msi_band_names: tuple[str, ...]
    streamed: bool = False

    @property
    def lr_shape(self) -> tuple[int, int, int]:
        """``(B, h, w)``."""
        return tuple(int(v) for v in (self.lr.shape if self.streamed else self.lr.cube.shape))

    @property
    def hr_shape(self) -> tuple[int, int, int]:
        """``(b, H, W)``."""
        return tuple(int(v) for v in (self.hr.shape if self.streamed else self.hr.cube.shape))

    @property
    def hsi_bands(self) -> int:
        return self.lr_shape[0]

    @property
    def msi_bands(self) -> int:
        return self.hr_shape[0]

    @property
    def lr_meta(self) -> dict[str, Any]:
        return self.lr.meta

    @property
    def hr_meta(self) -> dict[str, Any]:
        return self.hr.meta


def read_pair(
    lr_path: str | Path,
    hr_path: str | Path,
    *,
    ratio: int | None = None,
    hsi_key: str | None = None,
    msi_key: str | None = None,
    hsi_scale: float | None = None,
    msi_scale: float | None = None,
    hsi_wavelengths: Sequence[float] | np.ndarray | None = None,
    hsi_nodata: float | None = None,
    msi_nodata: float | None = None,
    stream: bool = False,
) -> FilePair:
    """Read (or, ``stream=True``, open for windowed reads) the two files and check that they
    form a pair (:func:`~mossfuse.pipeline.checks.check_pair_geometry`: sizes ``r`` apart and,
    when georeferenced, the same CRS and grid).

    Args:
        lr_path, hr_path: LR-HSI and HR-MSI files (any :func:`mossfuse.data.io.read_cube`
            format, ``H x W x bands`` on disk).
        ratio: ``r`` (default: from the sizes).
        hsi_key, msi_key: variables in ``.mat``/``.npz`` files.
        hsi_scale, msi_scale: divisors mapping stored values to [0, 1].
        hsi_wavelengths: ``(B,)`` band centres (nm) replacing the file's.
        hsi_nodata, msi_nodata: stored no-data values (in-memory reads only).
        stream: open readers (``.npy``/GeoTIFF HR-MSI streamed by windows).
    """
    from mossfuse.pipeline.checks import check_pair_geometry

    lr_path, hr_path = Path(lr_path), Path(hr_path)
    wl_override = None if hsi_wavelengths is None else np.asarray(hsi_wavelengths, np.float64)
    if stream:
        if hsi_nodata is not None or msi_nodata is not None:
            raise MossfuseInputError("no-data values apply to whole-image reads only (--report)")
        from mossfuse.engine.streaming import open_reader

        lr: Any = open_reader(lr_path, hsi_key, stream=False, scale=hsi_scale)
        hr: Any = open_reader(hr_path, msi_key, scale=msi_scale)
        lr_hw, hr_hw = tuple(lr.shape[1:]), tuple(hr.shape[1:])
        wavelengths = lr.wavelengths_nm
        if wl_override is not None:
            if wl_override.size != lr.shape[0]:
                raise MossfuseInputError(f"got {wl_override.size} wavelengths for a cube of "
                                         f"{lr.shape[0]} bands", lr_path)
            wavelengths = wl_override
    else:
        from mossfuse.data.io import read_cube

        lr = read_cube(lr_path, hsi_key, scale=hsi_scale, wavelengths=wl_override,
                       nodata=hsi_nodata)
        hr = read_cube(hr_path, msi_key, scale=msi_scale, nodata=msi_nodata)
        lr_hw, hr_hw = lr.shape_hw, hr.shape_hw
        wavelengths = lr.wavelengths_nm
    r = check_pair_geometry(lr.meta, hr.meta, lr_hw, hr_hw, ratio, lr_path, hr_path)
    names = tuple(str(n) for n in hr.meta.get("band_names", ()) or ())
    return FilePair(lr_path, hr_path, lr, hr, r, wavelengths, names, streamed=stream)

