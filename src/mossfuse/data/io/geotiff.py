"""GeoTIFF (through rasterio): whole cube, windows of an open dataset, tags, writing.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.data.io.arrays import RawCube
from mossfuse.data.io.wavelengths import from_geotiff_tags, geotiff_tags
from mossfuse.errors import MossfuseInputError


def _unreadable(path: Path, exc: Exception) -> MossfuseInputError:
    return MossfuseInputError(
        f"cannot read as a GeoTIFF (corrupt or truncated?): {type(exc).__name__}: {exc}", path
    )


def open_dataset(path: Path) -> Any:
    """An open rasterio dataset (close it, or use it as a context manager)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except Exception as exc:  # rasterio/GDAL raise many types
        raise _unreadable(path, exc) from exc


def describe(ds: Any) -> tuple[np.ndarray | None, dict[str, Any]]:
    """``(wavelengths_nm, meta)`` of an open dataset: wavelengths from its tags, ``crs``,
    ``transform``, ``nodata`` and ``band_names`` (when any band has a description)."""
    wl = from_geotiff_tags(ds.tags(), [ds.tags(i) for i in range(1, ds.count + 1)], ds.count)
    extra: dict[str, Any] = {"crs": ds.crs, "transform": ds.transform, "nodata": ds.nodata}
    if any(d for d in ds.descriptions):
        extra["band_names"] = tuple(d or "" for d in ds.descriptions)
    return wl, extra


def read(path: Path) -> RawCube:
    """The whole raster as ``(bands, H, W)``, values as stored, with wavelengths and
    georeferencing (:func:`describe`)."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                data = ds.read()  # (bands, H, W)
                wl, extra = describe(ds)
    except Exception as exc:  # rasterio/GDAL raise many types
        raise _unreadable(path, exc) from exc
    return RawCube(data, wl, extra)


def read_window(ds: Any, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The window ``[rows) x [cols)`` of an open dataset (:func:`open_dataset`) as
    ``(bands, h, w)``, values as stored."""
    from rasterio.windows import Window as RioWindow

    return ds.read(window=RioWindow(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0]))


def write_wavelength_tags(ds: Any, wl: np.ndarray) -> None:
    """Store band centres on an open writable dataset as :func:`describe` reads them back."""
    tags, band_tags = geotiff_tags(wl)
    ds.update_tags(**tags)
    for i, bt in enumerate(band_tags, start=1):
        ds.update_tags(i, **bt)


def write(
    cube: np.ndarray,
    path: Path,
    wl: np.ndarray | None,
    band_names: Sequence[str] | None,
    meta: Mapping[str, Any],
) -> None:
    """Write a ``(bands, H, W)`` float32 cube with band descriptions, wavelength tags, CRS,
    transform and no-data value from ``meta`` (atomically)."""
    import rasterio
    from affine import Affine
    from rasterio.crs import CRS
    from rasterio.errors import NotGeoreferencedWarning

    crs = meta.get("crs")
    transform = meta.get("transform")
    if crs is not None and not isinstance(crs, CRS):
        try:
            crs = CRS.from_user_input(crs)
        except Exception as exc:
            raise MossfuseInputError(f"invalid crs {crs!r}: {exc}", path) from exc
    if transform is not None and not isinstance(transform, Affine):
        vals = [float(v) for v in transform]
        if len(vals) not in (6, 9):
            raise MossfuseInputError(
                f"transform must be an affine.Affine or 6 numbers; got {transform!r}", path
            )
        transform = Affine(*vals[:6])
    bands, h, w = cube.shape
    profile: dict[str, Any] = {
        "driver": "GTiff", "height": h, "width": w, "count": bands, "dtype": "float32",
    }
    if crs is not None:
        profile["crs"] = crs
    if transform is not None:
        profile["transform"] = transform
    if meta.get("nodata") is not None:
        profile["nodata"] = float(meta["nodata"])
    with warnings.catch_warnings(), atomic_path(path) as tmp:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(tmp, "w", **profile) as ds:
            ds.write(cube)
            if band_names is not None:
                for i, name in enumerate(band_names, start=1):
                    ds.set_band_description(i, str(name))
            if wl is not None:
                write_wavelength_tags(ds, wl)
