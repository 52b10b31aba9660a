"""Reading and writing a cube in any format: :func:`read_cube` and :func:`write_cube` choose the
format module (:mod:`.npy`, :mod:`.mat`, :mod:`.envi`, :mod:`.geotiff`) by extension, then
apply the shared scaling rule (:func:`~mossfuse.data.io.normalize.normalize_cube`) and
wavelength checks (:mod:`.wavelengths`). See :mod:`mossfuse.data.io` for the conventions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse.data.io import envi, geotiff, mat, npy
from mossfuse.data.io.arrays import Layout
from mossfuse.data.io.normalize import normalize_cube
from mossfuse.data.io.wavelengths import check_wavelengths
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError

#: Format name -> file extensions it is chosen for.
CUBE_FORMATS: dict[str, tuple[str, ...]] = {
    "mat": (".mat",),
    "npy": (".npy",),
    "npz": (".npz",),
    "envi": (".hdr", ".img"),
    "geotiff": (".tif", ".tiff"),
}


def _format_of(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt not in CUBE_FORMATS:
            raise MossfuseInputError(
                f"unknown format {fmt!r}; expected one of {sorted(CUBE_FORMATS)}", path
            )
        return fmt
    suffix = path.suffix.lower()
    for name, exts in CUBE_FORMATS.items():
        if suffix in exts:
            return name
    known = sorted(e for exts in CUBE_FORMATS.values() for e in exts)
    raise MossfuseInputError(
        f"unknown cube file extension {suffix!r}; expected one of {known} or a CAVE scene folder",
        path,
    )


def read_cube(
    path: str | Path,
    key: str | None = None,
    *,
    layout: Layout = "hwc",
    scale: float | None = None,
    wavelengths: Sequence[float] | np.ndarray | None = None,
    allow_unnormalized: bool = False,
    nodata: float | None = None,
) -> Scene:
    """Read a cube file (or a CAVE scene folder) into a :class:`Scene`.

    Args:
        path: ``.mat`` (v5 or v7.3), ``.npy``, ``.npz``, ENVI ``.hdr``/``.img``, GeoTIFF
            ``.tif``/``.tiff``, or a CAVE ``<scene>_ms`` folder.
        key: variable name in a ``.mat``/``.npz``; None picks the only 3-D array (else the only
            2-D one) and raises, listing the variables and shapes found, when that is ambiguous.
        layout: axis order of the stored array for ``.mat``/``.npy``/``.npz``: ``"hwc"``
            (``H x W x bands``, the default) or ``"chw"``. ENVI, GeoTIFF and CAVE describe their
            own order, so only the default is accepted for them.
        scale: divisor mapping the stored values to [0, 1] (see module Convention).
        wavelengths: band centres in nm, overriding those in the file.
        allow_unnormalized: keep floating data outside [0, 1] instead of raising.
        nodata: a stored value (before scaling) that marks no-data pixels: a pixel whose
            bands ALL equal it becomes NaN and is marked in ``meta["nodata_mask"]`` (e.g.
            ``nodata=0`` for the black no-data patch of an 8-bit RGB orthophoto; a single dark
            channel is kept). Applies on top of a file's own sentinel.

    Returns:
        Scene with ``cube`` ``(bands, H, W)`` float32, ``wavelengths_nm`` ``(bands,)`` or None,
        ``name`` = file stem, and ``meta`` with ``source``, ``format``, ``scale`` and, per
        format, ``key``, ``band_names``, ``crs``, ``transform``, ``nodata``, ``nodata_mask``.

    Raises:
        MossfuseInputError: missing/corrupt file, ambiguous or unknown key, bad dtype or range.
    """
    path = Path(path)
    if path.is_dir():
        return _read_cave_folder(path, key, layout, scale, wavelengths, allow_unnormalized,
                                 nodata)
    if not path.exists():
        raise MossfuseInputError("file not found", path)
    if path.stat().st_size == 0:
        raise MossfuseInputError("file is empty (0 bytes); expected a cube", path)
    fmt = _format_of(path, None)
    if fmt in ("envi", "geotiff") and layout != "hwc":
        raise MossfuseInputError(f"layout= does not apply to {fmt} files (they store it)", path)
    meta: dict[str, Any] = {"source": str(path), "format": fmt}
    if fmt == "mat":
        raw = mat.read(path, key, layout)
    elif fmt == "npz":
        raw = npy.read_npz(path, key, layout)
    elif fmt == "npy":
        raw = npy.read(path, key, layout)
    elif fmt == "envi":
        raw = envi.read(path)
    else:
        raw = geotiff.read(path)
    chw, file_wl = raw.data, raw.wavelengths_nm
    meta.update(raw.meta)
    pixel_nodata = None
    if nodata is not None:
        if not np.isfinite(nodata):
            raise MossfuseInputError(f"nodata must be a finite number; got {nodata!r}", path)
        pixel_nodata = np.all(chw == nodata, axis=0)
    cube, norm_meta = normalize_cube(
        chw, path, scale=scale, allow_unnormalized=allow_unnormalized,
        nodata=meta.get("nodata"), name=meta.get("key", "cube"),
        pixel_nodata=pixel_nodata,
    )
    meta.update(norm_meta)
    wl = file_wl
    if wavelengths is not None:
        wl = check_wavelengths(wavelengths, cube.shape[0], path)
    return Scene(cube, wl, name=_scene_name(path), meta=meta)


def _scene_name(path: Path) -> str:
    return path.stem


def _read_cave_folder(path, key, layout, scale, wavelengths, allow_unnormalized,
                      nodata=None) -> Scene:
    if (key is not None or layout != "hwc" or scale is not None or allow_unnormalized
            or nodata is not None):
        raise MossfuseInputError(
            "a CAVE scene folder takes no key/layout/scale/allow_unnormalized/nodata "
            "(its PNG bit depth fixes the scaling)",
            path,
        )
    from mossfuse.data.cave import read_cave_scene

    scene = read_cave_scene(path)
    if wavelengths is not None:
        scene.wavelengths_nm = check_wavelengths(wavelengths, scene.bands, path)
    return scene


def write_cube(
    scene_or_array: Scene | np.ndarray,
    path: str | Path,
    *,
    key: str | None = None,
    wavelengths: Sequence[float] | np.ndarray | None = None,
    meta: Mapping[str, Any] | None = None,
    fmt: str | None = None,
) -> Path:
    """Write a ``(bands, H, W)`` cube (or a Scene) as float32 ``H x W x bands`` on disk.

    Args:
        scene_or_array: a :class:`Scene`, or an array ``(bands, H, W)`` (a 2-D array is one band).
        path: destination; the format follows the extension unless ``fmt`` is given
            (``"mat"``, ``"npy"``, ``"npz"``, ``"envi"``, ``"geotiff"``).
        key: variable name in ``.mat``/``.npz`` (default ``"cube"``).
        wavelengths: band centres (nm); default the Scene's. Stored as ``wavelengths_nm`` in
            ``.mat``/``.npz``, the ``wavelength`` header field in ENVI, and tags in GeoTIFF
            (``wavelengths_nm`` on the dataset and ``wavelength``/``wavelength_units`` per
            band). A ``.npy`` file holds the array only.
        meta: merged over the Scene's meta; used: ``band_names`` (ENVI band names, GeoTIFF band
            descriptions), ``crs``, ``transform`` (GeoTIFF; an ``affine.Affine`` or 6 numbers),
            ``nodata`` (GeoTIFF no-data value).

    Returns:
        The path written (for ENVI, the ``.hdr``; the data goes to the ``.img`` beside it).

    Convention:
        Every file is written to a temporary name and renamed
        (:func:`mossfuse._atomic.atomic_path`), so a failed write leaves no partial file under
        the final name. ENVI writes two files: both go to temporary names, then the ``.img`` is
        renamed and the ``.hdr`` last.
    """
    path = Path(path)
    if isinstance(scene_or_array, Scene):
        cube = scene_or_array.cube
        wl = scene_or_array.wavelengths_nm if wavelengths is None else wavelengths
        full_meta: dict[str, Any] = dict(scene_or_array.meta)
    else:
        cube = np.asarray(scene_or_array)
        wl = wavelengths
        full_meta = {}
    full_meta.update(meta or {})
    if cube.ndim == 2:
        cube = cube[None]
    if cube.ndim != 3 or cube.size == 0:
        raise MossfuseInputError(
            f"write_cube needs a non-empty (bands, H, W) cube; got shape {cube.shape}", path
        )
    if cube.dtype.kind not in "biuf":
        raise MossfuseInputError(f"cube has non-numeric dtype {cube.dtype}", path)
    cube = np.asarray(cube, dtype=np.float32)
    wl_arr = None if wl is None else check_wavelengths(wl, cube.shape[0], path)
    band_names = full_meta.get("band_names")
    if band_names is not None and len(band_names) != cube.shape[0]:
        raise MossfuseInputError(
            f"got {len(band_names)} band_names for a cube of {cube.shape[0]} bands", path
        )
    fmt = _format_of(path, fmt)
    hwc = np.ascontiguousarray(np.moveaxis(cube, 0, -1))
    if fmt == "mat":
        mat.write(hwc, path, key or "cube", wl_arr)
    elif fmt == "npy":
        npy.write(hwc, path)
    elif fmt == "npz":
        npy.write_npz(hwc, path, key or "cube", wl_arr)
    elif fmt == "envi":
        return envi.write(hwc, path, wl_arr, band_names)
    else:
        geotiff.write(cube, path, wl_arr, band_names, full_meta)
    return path
