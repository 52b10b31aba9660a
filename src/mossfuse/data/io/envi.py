"""ENVI images (``.hdr`` + ``.img``, through spectral; georeferencing through GDAL).
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.data.io.arrays import RawCube
from mossfuse.data.io.wavelengths import from_envi_header
from mossfuse.errors import MossfuseInputError


def envi_pair(path: Path) -> tuple[Path, Path | None]:
    """(header, image or None to let spectral find it) for a .hdr or .img path."""
    if path.suffix.lower() == ".hdr":
        return path, None
    for hdr in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if hdr.exists():
            return hdr, path
    raise MossfuseInputError("ENVI image without a header (.hdr) next to it", path)


def read(path: Path) -> RawCube:
    """The whole image (``.hdr`` or ``.img`` path) as ``(bands, H, W)``, raw stored values (no
    ``reflectance scale factor``), with wavelengths, band names, no-data value and
    georeferencing from the header."""
    from spectral.io import envi

    hdr, img_path = envi_pair(path)
    try:
        img = envi.open(str(hdr), None if img_path is None else str(img_path))
        # memmap then copy: raw stored values (no 'reflectance scale factor' applied), and
        # detached from the file, which a later write may replace.
        mm = img.open_memmap(writable=False)  # None when the data file is too short
        expected = (img.nrows, img.ncols, img.nbands)
        if mm is None or mm.shape != expected:
            raise MossfuseInputError(
                f"ENVI data file does not hold the {expected} (rows, cols, bands) that the "
                "header declares (truncated?)",
                img.filename,
            )
        data = np.array(mm)
    except MossfuseInputError:
        raise
    except Exception as exc:  # spectral raises many types
        raise MossfuseInputError(
            f"cannot read as an ENVI image (corrupt header or truncated data?): "
            f"{type(exc).__name__}: {exc}",
            hdr,
        ) from exc
    md = img.metadata
    wl = from_envi_header(md, data.shape[2])
    extra: dict[str, Any] = {"header": str(hdr)}
    if "band names" in md:
        extra["band_names"] = tuple(str(b) for b in md["band names"])
    if "data ignore value" in md:
        with contextlib.suppress(ValueError, TypeError):
            extra["nodata"] = float(md["data ignore value"])
    if "map info" in md:
        extra.update(georeferencing(Path(img.filename), (img.nrows, img.ncols)))
    return RawCube(np.moveaxis(data, -1, 0), wl, extra)


def read_window(path: Path, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The window ``[rows) x [cols)`` as ``(bands, h, w)``, raw stored values, through a memory
    map of the data file."""
    from spectral.io import envi

    hdr, img_path = envi_pair(path)
    try:
        img = envi.open(str(hdr), None if img_path is None else str(img_path))
        mm = img.open_memmap(writable=False)
        if mm is None:
            raise MossfuseInputError("ENVI data file is shorter than its header declares",
                                     img.filename)
        win = np.array(mm[rows[0] : rows[1], cols[0] : cols[1]])
    except MossfuseInputError:
        raise
    except Exception as exc:  # spectral raises many types
        raise MossfuseInputError(
            f"cannot read as an ENVI image: {type(exc).__name__}: {exc}", hdr
        ) from exc
    return np.moveaxis(win, -1, 0)


def georeferencing(img_path: Path, shape: tuple[int, int]) -> dict[str, Any]:
    """``crs`` and ``transform`` of an ENVI image whose header has ``map info`` (and maybe
    ``coordinate system string``), read by GDAL's ENVI driver through rasterio (the one
    interpretation of ENVI's map projections; its reference pixel is 1-based, ``1, 1`` being
    the upper-left corner of the first pixel). Nothing when GDAL cannot read it."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(img_path) as ds:
                if tuple(ds.shape) != tuple(shape):
                    return {}
                crs, transform = ds.crs, ds.transform
    except Exception:  # GDAL raises many types; the cube itself was read by spectral
        return {}
    out: dict[str, Any] = {}
    if not transform.is_identity:
        out["transform"] = transform
    if crs is not None:
        out["crs"] = crs
    return out


def write(
    hwc: np.ndarray, path: Path, wl: np.ndarray | None, band_names: Sequence[str] | None
) -> Path:
    """Write ``H x W x bands`` float32 BIP ``.img`` + ``.hdr`` (``.img`` renamed first, ``.hdr``
    last); returns the ``.hdr``."""
    from spectral.io import envi

    hdr_final = path.with_suffix(".hdr")
    img_final = path.with_suffix(".img")
    md: dict[str, Any] = {"description": "written by mossfuse (H x W x bands, float32)"}
    if wl is not None:
        md["wavelength"] = [f"{w:.6g}" for w in wl]
        md["wavelength units"] = "nm"
    if band_names is not None:
        md["band names"] = [str(b) for b in band_names]
    with atomic_path(hdr_final) as tmp_hdr:
        tmp_img = tmp_hdr.with_suffix(".img")
        try:
            envi.save_image(
                str(tmp_hdr), hwc, dtype=np.float32, interleave="bip", metadata=md, force=True,
                ext=".img",
            )
            os.replace(tmp_img, img_final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp_img.unlink()
            raise
    return hdr_final
