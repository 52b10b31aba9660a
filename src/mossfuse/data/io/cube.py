"""Read and write hyperspectral cubes: MATLAB ``.mat`` (v5 and v7.3), ``.npy``, ``.npz``, ENVI,
GeoTIFF and CAVE scene folders.

Convention:
    Files store cubes ``H x W x bands`` (what MATLAB, ENVI-BIP and most datasets show); the
    library works on ``(bands, H, W)`` float32 (:class:`~mossfuse.data.scene.Scene`). Readers
    transpose on the way in, writers on the way out. A 2-D array is a 1-band cube.

    MATLAB v7.3 files are HDF5, which stores arrays in the reverse axis order (column-major):
    :func:`load_mat_variables` reverses the axes so every array comes back as MATLAB shows it,
    whichever version wrote the file.

    Scaling is explicit and recorded in ``meta["scale"]`` (the divisor): integer data is divided
    by ``scale`` when given, else uint8 by 255 and uint16 by 65535; any other integer type needs
    ``scale``. Floating data must already lie in [0, 1] (``scale`` divides it too), unless
    ``allow_unnormalized=True``. NaN/Inf pixels are kept as they are and marked in
    ``meta["nodata_mask"]`` (``(H, W)`` bool, True where any band is not finite); they are never
    silently zeroed. A file's no-data sentinel (GeoTIFF ``nodata``, ENVI ``data ignore value``)
    is turned into NaN and masked the same way, and kept in ``meta["nodata"]``; so are whole
    pixels whose bands all equal ``read_cube(nodata=V)`` (``--hsi-nodata``/``--msi-nodata``,
    e.g. the black no-data patch of an 8-bit orthophoto).

    Georeferencing (``meta["crs"]``, ``meta["transform"]``, an ``affine.Affine`` of the pixel
    corners): GeoTIFF tags, and an ENVI header's ``map info`` (with its ``coordinate system
    string`` when present) as GDAL's ENVI driver reads it. ENVI outputs are written without it.

    Command-line wavelength specs (``--hsi-wavelengths``) are parsed by
    :func:`parse_wavelengths`.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from mossfuse.data.io import read_cube, write_cube
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.npz"
    >>> _ = write_cube(np.full((3, 4, 5), 0.5, np.float32), path, wavelengths=[450, 550, 650])
    >>> scene = read_cube(path)
    >>> scene.cube.shape, scene.wavelengths_nm.tolist()
    ((3, 4, 5), [450.0, 550.0, 650.0])
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError

__all__ = [
    "CUBE_FORMATS",
    "load_mat_variables",
    "normalize_cube",
    "parse_wavelengths",
    "read_cube",
    "write_cube",
]

#: Format name -> file extensions it is chosen for.
CUBE_FORMATS: dict[str, tuple[str, ...]] = {
    "mat": (".mat",),
    "npy": (".npy",),
    "npz": (".npz",),
    "envi": (".hdr", ".img"),
    "geotiff": (".tif", ".tiff"),
}
#: Variable names that hold a wavelength vector (nm) beside a cube in .mat/.npz files.
_WAVELENGTH_KEYS = ("wavelengths_nm", "wavelengths", "wavelength")
_RANGE_TOL = 1e-3  # same tolerance as errors.check_cube

Layout = Literal["hwc", "chw"]


# --------------------------------------------------------------------------------------------
# MATLAB
# --------------------------------------------------------------------------------------------
def load_mat_variables(path: str | Path) -> dict[str, np.ndarray]:
    """All numeric variables of a MATLAB ``.mat`` file (v4/v5/v7 or v7.3), as numpy arrays.

    Args:
        path: the ``.mat`` file.

    Returns:
        ``{name: array}`` with MATLAB's own axis order (an ``H x W x B`` variable comes back
        ``(H, W, B)``; a row vector ``(1, N)``). ``__header__``-style entries are skipped, and so
        are v7.3 structs, cells and sparse matrices (HDF5 groups and references), which this
        reader does not decode.

    Convention:
        v7.3 (HDF5) datasets are transposed (all axes reversed) to undo MATLAB's column-major
        storage; v5 arrays are returned as scipy gives them (``squeeze_me=False``).

    Raises:
        MossfuseInputError: missing, empty, truncated or non-MATLAB file (names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise MossfuseInputError("file not found (expected a MATLAB .mat file)", path)
    if path.stat().st_size == 0:
        raise MossfuseInputError("file is empty (expected a MATLAB .mat file)", path)
    import h5py

    try:
        is_hdf5 = h5py.is_hdf5(path)
    except Exception:  # h5py raises several types on unreadable files
        is_hdf5 = False
    try:
        return _load_mat_v73(path) if is_hdf5 else _load_mat_v5(path)
    except MossfuseInputError:
        raise
    except Exception as exc:  # scipy/h5py raise many types for damaged files
        kind = "v7.3 (HDF5)" if is_hdf5 else "v5"
        raise MossfuseInputError(
            f"cannot read as a MATLAB {kind} .mat file (corrupt or truncated?): "
            f"{type(exc).__name__}: {exc}",
            path,
        ) from exc


def _load_mat_v5(path: Path) -> dict[str, np.ndarray]:
    import scipy.io

    raw = scipy.io.loadmat(path)
    return {k: np.asarray(v) for k, v in raw.items() if not k.startswith("__")}


def _load_mat_v73(path: Path) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        for name, obj in f.items():
            if name.startswith("#") or not isinstance(obj, h5py.Dataset):
                continue  # '#refs#', '#subsystem#', structs (groups)
            if obj.dtype.kind == "O" or h5py.check_dtype(ref=obj.dtype) is not None:
                continue  # cell arrays: object references
            mclass = obj.attrs.get("MATLAB_class", b"")
            mclass = mclass.decode() if isinstance(mclass, bytes) else str(mclass)
            if obj.attrs.get("MATLAB_empty", 0):
                out[name] = np.zeros(tuple(int(n) for n in np.asarray(obj[()]).ravel()[::-1]))
                continue
            arr = obj[()]
            if arr.dtype.names and {"real", "imag"} <= set(arr.dtype.names):
                arr = arr["real"] + 1j * arr["imag"]
            arr = np.asarray(arr).T  # column-major -> MATLAB's axis order
            if mclass == "logical":
                arr = arr.astype(bool)
            elif mclass == "char":
                arr = np.asarray("".join(map(chr, arr.ravel(order="F"))))
            out[name] = arr
    return out


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------
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


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
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


def _describe(arrays: Mapping[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {tuple(np.shape(v))}" for k, v in sorted(arrays.items())) or "none"


def _pick_array(
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
            if np.ndim(v) == 2 and k not in _WAVELENGTH_KEYS and min(np.shape(v)) > 1
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


def _to_chw(arr: np.ndarray, layout: str, path: Path, name: str) -> np.ndarray:
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


def _wavelengths_from(arrays: Mapping[str, np.ndarray], bands: int) -> np.ndarray | None:
    for k in _WAVELENGTH_KEYS:
        if k in arrays:
            wl = np.asarray(arrays[k], dtype=np.float64).ravel()
            if wl.size == bands:
                return wl
    return None


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
    file_wl: np.ndarray | None = None
    if fmt in ("mat", "npz"):
        arrays = load_mat_variables(path) if fmt == "mat" else _load_npz(path)
        k, arr = _pick_array(arrays, key, path)
        meta["key"] = k
        chw = _to_chw(arr, layout, path, k)
        file_wl = _wavelengths_from(arrays, chw.shape[0])
    elif fmt == "npy":
        if key is not None:
            raise MossfuseInputError("key= does not apply to a .npy file (one array)", path)
        chw = _to_chw(_load_npy(path), layout, path, path.name)
    elif fmt == "envi":
        chw, file_wl, extra = _read_envi(path)
        meta.update(extra)
    else:
        chw, file_wl, extra = _read_geotiff(path)
        meta.update(extra)
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
        wl = _check_wavelengths(wavelengths, cube.shape[0], path)
    return Scene(cube, wl, name=_scene_name(path), meta=meta)


def parse_wavelengths(spec: str | Path, bands: int | None = None) -> np.ndarray:
    """Band centres (nm) from a command-line spec.

    ``spec`` is one of: ``"START:STOP:COUNT"`` (``COUNT`` evenly spaced centres from ``START`` to
    ``STOP`` inclusive, e.g. ``380:1050:48``); a comma-separated list (``"450,550,650"``); or a
    text/CSV file with one centre per line (the first number of each line: extra columns such as
    a FWHM are ignored, and so are header lines without a number). Values below 100 are taken as
    micrometres and converted to nm.

    Raises:
        MossfuseInputError: unparseable spec, no number, non-increasing centres, or (with
            ``bands``) a count that differs from the cube's band count.

    >>> parse_wavelengths("400:700:4").tolist()
    [400.0, 500.0, 600.0, 700.0]
    >>> parse_wavelengths("0.45,0.55").tolist()
    [450.0, 550.0]
    """
    text = str(spec).strip()
    where_ = Path(text) if Path(text).is_file() else None
    try:
        if where_ is not None:
            vals = []
            for line in where_.read_text(encoding="utf-8", errors="replace").splitlines():
                tok = line.replace(",", " ").replace(";", " ").replace("\t", " ").split()
                if tok:
                    with contextlib.suppress(ValueError):
                        vals.append(float(tok[0]))
            wl = np.asarray(vals, dtype=np.float64)
        elif text.count(":") == 2:
            a, b, n = text.split(":")
            count = int(n)
            if count < 1:
                raise ValueError("COUNT must be >= 1")
            wl = np.linspace(float(a), float(b), count)
        else:
            wl = np.asarray([float(v) for v in text.split(",") if v.strip()], dtype=np.float64)
    except ValueError as exc:
        raise MossfuseInputError(
            f"cannot read wavelengths from {text!r} ({exc}); expected START:STOP:COUNT (e.g. "
            "380:1050:48), a comma-separated list in nm, or a text/CSV file with one per line"
        ) from exc
    if wl.size == 0:
        raise MossfuseInputError("no wavelength found (expected one number per line)", where_)
    if not np.all(np.isfinite(wl)) or (wl.size > 1 and not np.all(np.diff(wl) > 0)):
        raise MossfuseInputError(
            f"wavelengths must be finite and increasing; got {wl[:6].tolist()}...", where_
        )
    if wl.max() < 100.0:  # micrometres
        wl = wl * 1000.0
    if bands is not None and wl.size != bands:
        raise MossfuseInputError(
            f"got {wl.size} wavelengths for a cube of {bands} bands", where_
        )
    return wl


def _scene_name(path: Path) -> str:
    return path.stem


def _check_wavelengths(wl: Any, bands: int, path: Path | None) -> np.ndarray:
    arr = np.asarray(wl, dtype=np.float64).ravel()
    if arr.size != bands:
        raise MossfuseInputError(
            f"got {arr.size} wavelengths for a cube of {bands} bands", path
        )
    return arr


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
        scene.wavelengths_nm = _check_wavelengths(wavelengths, scene.bands, path)
    return scene


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def _load_npy(path: Path) -> np.ndarray:
    if not _starts_with(path, _NPY_MAGIC):
        raise MossfuseInputError(
            "not a .npy file (no NumPy header; corrupt, or another format renamed?)", path
        )
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:
        raise MossfuseInputError(
            f"cannot read as a .npy array (corrupt, truncated or pickled?): {exc}", path
        ) from exc


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    if not _starts_with(path, _ZIP_MAGIC):
        raise MossfuseInputError(
            "not a .npz archive (no zip header; corrupt, or another format renamed?)", path
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            if not hasattr(z, "files"):
                raise MossfuseInputError("a .npz file holds a single array, not an archive", path)
            return {k: z[k] for k in z.files}
    except MossfuseInputError:
        raise
    except Exception as exc:
        raise MossfuseInputError(
            f"cannot read as a .npz archive (corrupt or truncated?): {exc}", path
        ) from exc


def _envi_pair(path: Path) -> tuple[Path, Path | None]:
    """(header, image or None to let spectral find it) for a .hdr or .img path."""
    if path.suffix.lower() == ".hdr":
        return path, None
    for hdr in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if hdr.exists():
            return hdr, path
    raise MossfuseInputError("ENVI image without a header (.hdr) next to it", path)


def _read_envi(path: Path) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    from spectral.io import envi

    hdr, img_path = _envi_pair(path)
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
    wl = None
    if "wavelength" in md:
        wl = np.asarray([float(w) for w in md["wavelength"]], dtype=np.float64)
        units = str(md.get("wavelength units", "nm")).strip().lower()
        if units in ("micrometers", "micrometer", "um", "µm", "microns"):
            wl = wl * 1000.0
        if wl.size != data.shape[2]:
            wl = None
    extra: dict[str, Any] = {"header": str(hdr)}
    if "band names" in md:
        extra["band_names"] = tuple(str(b) for b in md["band names"])
    if "data ignore value" in md:
        with contextlib.suppress(ValueError, TypeError):
            extra["nodata"] = float(md["data ignore value"])
    if "map info" in md:
        extra.update(_envi_georeferencing(Path(img.filename), (img.nrows, img.ncols)))
    return np.moveaxis(data, -1, 0), wl, extra


def _envi_georeferencing(img_path: Path, shape: tuple[int, int]) -> dict[str, Any]:
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


def _read_geotiff(path: Path) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as ds:
                data = ds.read()  # (bands, H, W)
                crs, transform, nodata = ds.crs, ds.transform, ds.nodata
                descriptions = ds.descriptions
                tags = ds.tags()
                band_tags = [ds.tags(i) for i in range(1, ds.count + 1)]
    except Exception as exc:  # rasterio/GDAL raise many types
        raise MossfuseInputError(
            f"cannot read as a GeoTIFF (corrupt or truncated?): {type(exc).__name__}: {exc}",
            path,
        ) from exc
    wl = None
    if "wavelengths_nm" in tags:
        with contextlib.suppress(ValueError):
            wl = np.asarray([float(w) for w in tags["wavelengths_nm"].split(",")])
    elif all("wavelength" in t for t in band_tags) and band_tags:
        with contextlib.suppress(ValueError):
            wl = np.asarray([float(t["wavelength"]) for t in band_tags])
            units = band_tags[0].get("wavelength_units", "nm").strip().lower()
            if units in ("micrometers", "micrometer", "um", "µm", "microns"):
                wl = wl * 1000.0
    if wl is not None and wl.size != data.shape[0]:
        wl = None
    extra: dict[str, Any] = {"crs": crs, "transform": transform, "nodata": nodata}
    if any(d for d in descriptions):
        extra["band_names"] = tuple(d or "" for d in descriptions)
    return data, wl, extra


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
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
    wl_arr = None if wl is None else _check_wavelengths(wl, cube.shape[0], path)
    band_names = full_meta.get("band_names")
    if band_names is not None and len(band_names) != cube.shape[0]:
        raise MossfuseInputError(
            f"got {len(band_names)} band_names for a cube of {cube.shape[0]} bands", path
        )
    fmt = _format_of(path, fmt)
    hwc = np.ascontiguousarray(np.moveaxis(cube, 0, -1))
    if fmt == "mat":
        _write_mat(hwc, path, key or "cube", wl_arr)
    elif fmt == "npy":
        with atomic_path(path) as tmp:
            np.save(tmp, hwc)
    elif fmt == "npz":
        arrays = {key or "cube": hwc}
        if wl_arr is not None:
            arrays["wavelengths_nm"] = wl_arr
        with atomic_path(path) as tmp:
            np.savez(tmp, **arrays)
    elif fmt == "envi":
        return _write_envi(hwc, path, wl_arr, band_names)
    else:
        _write_geotiff(cube, path, wl_arr, band_names, full_meta)
    return path


def _write_mat(hwc: np.ndarray, path: Path, key: str, wl: np.ndarray | None) -> None:
    import scipy.io

    arrays: dict[str, np.ndarray] = {key: hwc}
    if wl is not None:
        arrays["wavelengths_nm"] = wl[None, :]
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, arrays, do_compression=False, oned_as="row")


def _write_envi(
    hwc: np.ndarray, path: Path, wl: np.ndarray | None, band_names: Sequence[str] | None
) -> Path:
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


def _write_geotiff(
    cube: np.ndarray,
    path: Path,
    wl: np.ndarray | None,
    band_names: Sequence[str] | None,
    meta: Mapping[str, Any],
) -> None:
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
                ds.update_tags(wavelengths_nm=",".join(f"{v:.10g}" for v in wl))
                for i, v in enumerate(wl, start=1):
                    ds.update_tags(i, wavelength=f"{v:.10g}", wavelength_units="nm")
