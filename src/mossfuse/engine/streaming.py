"""Windowed reading and writing of cubes too large for memory.

A :class:`CubeReader` hands out ``(bands, h, w)`` float32 windows of a cube on disk; a
:class:`CubeWriter` receives ``(bands, h, w)`` windows of the output and, when its ``with``
block ends without error, renames a temporary file to the final name (complete or absent,
:func:`mossfuse._atomic.atomic_path`). :class:`StreamedInputs` is a
:class:`~mossfuse.data.scene.FusionInputs` whose cubes stay on disk: the tiling engine
(:mod:`mossfuse.engine.tiling`) cuts it into per-tile ``FusionInputs``.

Formats
-------
============  ===========================================  ====================================
format        reading                                      writing
============  ===========================================  ====================================
``.npy``      streamed: ``np.load(mmap_mode="r")``, one    streamed: ``np.lib.format.open_memmap``
              mapping per window                           on the temporary file, one mapping
                                                           per window
GeoTIFF       streamed: rasterio windows                   streamed: rasterio windows (tiled
                                                           256 x 256, uncompressed), CRS and
                                                           transform kept
others        the whole cube is read once                  the cube is assembled in memory and
(``.mat``,    (:func:`~mossfuse.data.io.read_cube`)        written by
``.npz``,                                                  :func:`~mossfuse.data.io.write_cube`
ENVI, CAVE)                                                at the end
============  ===========================================  ====================================

Zarr is not supported (not a dependency). Mapping a ``.npy`` file for one window at a time and
dropping the mapping afterwards is deliberate: pages of a long-lived mapping count in the
process's resident set (``RssFile``) until the mapping goes, so a whole-scene mapping would
report the scene's size as memory; per-window mappings leave those pages to the page cache.

Convention
----------
Files store ``H x W x bands``; windows are ``(bands, h, w)`` float32, scaled to [0, 1] by the
rules of :func:`mossfuse.data.io.normalize_cube` applied to each window (uint8 / 255, uint16 /
65535, ``scale=`` otherwise; a no-data value becomes NaN, which ``FusionInputs`` rejects).
Windows are half-open ``[row0, row1) x [col0, col1)`` in the pixels of the file read or written.

Georeferencing of the output: it lies on the HR-MSI grid, so it takes the HR-MSI's CRS and
transform when the HR-MSI has a CRS; otherwise the LR-HSI's, scaled by ``1 / r``
(``transform @ Affine.scale(1 / r)``: same upper-left corner, pixels ``r`` times smaller). The
sampling phase is not folded into the transform: LR pixel ``i`` is taken to cover HR pixels
``[r i, r (i + 1))`` (GDAL's pixel-is-area), whatever HR pixel its sample sits on.

>>> import numpy as np, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> np.save(d / "hr.npy", np.full((8, 6, 3), 0.5, np.float32))
>>> reader = open_reader(d / "hr.npy")
>>> reader.shape, reader.read((2, 4), (0, 3)).shape
((3, 8, 6), (3, 2, 3))
>>> with open_writer(d / "out.npy", (2, 8, 6)) as w:
...     w.write((0, 8), (0, 6), np.zeros((2, 8, 6), np.float32))
>>> np.load(d / "out.npy").shape
(8, 6, 2)
"""

from __future__ import annotations

import contextlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.data.io import geotiff, npy
from mossfuse.data.io.normalize import check_streamable_dtype, normalize_cube
from mossfuse.data.scene import FusionInputs, check_pair_sizes
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.degradation import Degradation

__all__ = [
    "ArrayReader",
    "ArrayWriter",
    "BufferedFileWriter",
    "CubeReader",
    "CubeWriter",
    "GeoTiffReader",
    "GeoTiffWriter",
    "LoadedReader",
    "NpyReader",
    "NpyWriter",
    "StreamedInputs",
    "Window",
    "hr_output_meta",
    "open_reader",
    "open_writer",
]

#: A half-open interval ``(start, stop)`` of pixel indices along one axis.
Window = tuple[int, int]

_GEOTIFF = (".tif", ".tiff")
_GDAL_CACHE_MB = 256  # GDAL's block cache (default 5 % of RAM) counts in our resident memory


def _check_window(rows: Window, cols: Window, hw: tuple[int, int], what: str) -> None:
    (r0, r1), (c0, c1) = rows, cols
    if not (0 <= r0 < r1 <= hw[0] and 0 <= c0 < c1 <= hw[1]):
        raise MossfuseInputError(
            f"window rows {rows} x cols {cols} is outside {what} of {hw[0]} x {hw[1]} pixels"
        )


# --------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------
class CubeReader(ABC):
    """Windows of a ``(bands, H, W)`` cube, read on demand.

    Attributes:
        shape: ``(bands, H, W)``.
        wavelengths_nm: ``(bands,)`` band centres in nm, or None.
        meta: ``crs``, ``transform``, ``band_names``, ``source`` where the file has them.
        path: the file, or None for an in-memory cube.

    A reader pickles to its path and options only (never its data or an open file handle), so
    it can be sent to a Dask worker that then reads its own windows; :class:`ArrayReader` is the
    exception (it carries its array).
    """

    shape: tuple[int, int, int]
    wavelengths_nm: np.ndarray | None = None
    path: Path | None = None

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}

    @property
    def file_backed(self) -> bool:
        """True when pickling this reader sends a path, not data."""
        return self.path is not None

    @property
    def hw(self) -> tuple[int, int]:
        return self.shape[1], self.shape[2]

    def read(self, rows: Window, cols: Window) -> np.ndarray:
        """The window ``[rows) x [cols)`` as ``(bands, h, w)`` float32 in [0, 1]."""
        _check_window(rows, cols, self.hw, f"{self.path or 'the cube'}")
        return self._read(rows, cols)

    def read_all(self) -> np.ndarray:
        """The whole cube ``(bands, H, W)`` (for small cubes such as the LR-HSI)."""
        return self.read((0, self.shape[1]), (0, self.shape[2]))

    @abstractmethod
    def _read(self, rows: Window, cols: Window) -> np.ndarray: ...


def _normalize(arr: np.ndarray, path: Path | None, scale: float | None,
               nodata: float | None, allow_unnormalized: bool) -> np.ndarray:
    cube, _ = normalize_cube(arr, path, scale=scale, nodata=nodata,
                             allow_unnormalized=allow_unnormalized)
    return cube


class ArrayReader(CubeReader):
    """An in-memory ``(bands, H, W)`` cube (already float32 in [0, 1])."""

    def __init__(self, cube: np.ndarray, wavelengths_nm: np.ndarray | None = None,
                 meta: Mapping[str, Any] | None = None):
        super().__init__()
        arr = np.asarray(cube)
        if arr.ndim != 3:
            raise MossfuseInputError(f"expected a (bands, H, W) cube; got shape {arr.shape}")
        self.cube = arr
        self.shape = tuple(int(n) for n in arr.shape)  # type: ignore[assignment]
        self.wavelengths_nm = wavelengths_nm
        self.meta = dict(meta or {})

    def _read(self, rows: Window, cols: Window) -> np.ndarray:
        return np.ascontiguousarray(
            self.cube[:, rows[0] : rows[1], cols[0] : cols[1]], dtype=np.float32
        )


class NpyReader(CubeReader):
    """A ``.npy`` file ``H x W x bands`` (or ``H x W``), mapped one window at a time."""

    def __init__(self, path: str | Path, *, scale: float | None = None,
                 allow_unnormalized: bool = False):
        super().__init__()
        self.path = Path(path).resolve()
        self.scale, self.allow_unnormalized = scale, allow_unnormalized
        arr = npy.memory_map(self.path)
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise MossfuseInputError(
                f"expected a non-empty H x W x bands (or H x W) array; got shape {arr.shape}",
                self.path,
            )
        check_streamable_dtype(arr.dtype, scale, self.path)
        bands = 1 if arr.ndim == 2 else arr.shape[2]
        self.shape = (int(bands), int(arr.shape[0]), int(arr.shape[1]))
        self.meta = {"source": str(self.path), "format": "npy"}

    def _read(self, rows: Window, cols: Window) -> np.ndarray:
        chw = npy.read_window(self.path, rows, cols)
        return _normalize(chw, self.path, self.scale, None, self.allow_unnormalized)


class GeoTiffReader(CubeReader):
    """A GeoTIFF read through rasterio windows; the dataset is opened once per process."""

    def __init__(self, path: str | Path, *, scale: float | None = None,
                 allow_unnormalized: bool = False):
        super().__init__()
        self.path = Path(path).resolve()
        self.scale, self.allow_unnormalized = scale, allow_unnormalized
        self._ds: Any = None
        ds = self._dataset()
        check_streamable_dtype(np.dtype(ds.dtypes[0]), scale, self.path)
        self.shape = (int(ds.count), int(ds.height), int(ds.width))
        self.nodata = ds.nodata
        self.wavelengths_nm, extra = geotiff.describe(ds)
        self.meta = {"source": str(self.path), "format": "geotiff", **extra}

    def _dataset(self) -> Any:
        if self._ds is None:
            if not self.path.exists():
                raise MossfuseInputError("file not found", self.path)
            self._ds = geotiff.open_dataset(self.path)
        return self._ds

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_ds"] = None  # never pickle an open dataset: the worker opens its own
        return state

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None

    def _read(self, rows: Window, cols: Window) -> np.ndarray:
        data = geotiff.read_window(self._dataset(), rows, cols)
        return _normalize(data, self.path, self.scale, self.nodata, self.allow_unnormalized)


class LoadedReader(CubeReader):
    """Any format :func:`~mossfuse.data.io.read_cube` reads, loaded whole on first use.

    Not streamed: use it for small cubes (an LR-HSI) or formats without windowed access
    (``.mat``, ``.npz``, ENVI, CAVE folders). Pickles to its path; a worker loads its own copy.
    """

    def __init__(self, path: str | Path, key: str | None = None, *,
                 scale: float | None = None, allow_unnormalized: bool = False):
        super().__init__()
        self.path = Path(path).resolve()
        self.key, self.scale, self.allow_unnormalized = key, scale, allow_unnormalized
        self._cube: np.ndarray | None = None
        scene = self._load()
        self.shape = tuple(int(n) for n in scene.cube.shape)  # type: ignore[assignment]
        self.wavelengths_nm = scene.wavelengths_nm
        self.meta = {k: v for k, v in scene.meta.items() if k != "nodata_mask"}

    def _load(self):
        from mossfuse.data.io import read_cube

        scene = read_cube(self.path, self.key, scale=self.scale,
                          allow_unnormalized=self.allow_unnormalized)
        self._cube = scene.cube
        return scene

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cube"] = None
        return state

    def _read(self, rows: Window, cols: Window) -> np.ndarray:
        if self._cube is None:
            self._load()
        assert self._cube is not None
        return np.ascontiguousarray(self._cube[:, rows[0] : rows[1], cols[0] : cols[1]])


def open_reader(path: str | Path, key: str | None = None, *, stream: bool = True,
                scale: float | None = None, allow_unnormalized: bool = False) -> CubeReader:
    """A reader for ``path``: streamed for ``.npy`` and GeoTIFF (unless ``stream=False``),
    loaded whole otherwise (see module docstring).

    Raises:
        MossfuseInputError: missing or unreadable file, ``key`` given for a ``.npy``, or an
            integer dtype that needs ``scale``.
    """
    path = Path(path)
    if not path.exists():
        raise MossfuseInputError("file not found", path)
    suffix = path.suffix.lower()
    if stream and suffix == ".npy" and path.is_file():
        if key is not None:
            raise MossfuseInputError("key= does not apply to a .npy file (one array)", path)
        return NpyReader(path, scale=scale, allow_unnormalized=allow_unnormalized)
    if stream and suffix in _GEOTIFF and path.is_file():
        return GeoTiffReader(path, scale=scale, allow_unnormalized=allow_unnormalized)
    return LoadedReader(path, key, scale=scale, allow_unnormalized=allow_unnormalized)


# --------------------------------------------------------------------------------------------
# Inputs that stay on disk
# --------------------------------------------------------------------------------------------
@dataclass
class StreamedInputs:
    """The fields of :class:`~mossfuse.data.scene.FusionInputs` with the two cubes as readers.

    Attributes:
        lr: reader of the LR-HSI ``(B, h, w)``.
        hr: reader of the HR-MSI ``(b, H, W)``, ``H = r h``, ``W = r w``.
        ratio, hsi_wavelengths_nm, msi_band_names: as in ``FusionInputs``.
        degradation: what is known of the degradation, as in ``FusionInputs`` (None given:
            an empty :class:`~mossfuse.physics.degradation.Degradation`, nothing known);
            ``srf``, ``psf``, ``phase`` and ``psf_centre`` read it.
    """

    lr: CubeReader
    hr: CubeReader
    ratio: int
    hsi_wavelengths_nm: np.ndarray | None = None
    msi_band_names: tuple[str, ...] = ()
    degradation: Degradation = None  # type: ignore[assignment]  # None: nothing known
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ratio = check_pair_sizes(self.lr.shape[1:], self.hr.shape[1:], self.ratio,
                                      self.lr.path, self.hr.path)
        if self.degradation is None:
            self.degradation = Degradation(None, None, self.ratio)
        deg = self.degradation
        if deg.ratio != self.ratio:
            raise MossfuseInputError(
                f"the degradation ({deg.source}) has ratio {deg.ratio}; the inputs have ratio "
                f"{self.ratio}"
            )
        if deg.srf is not None and deg.srf.shape != (self.hr.shape[0], self.lr.shape[0]):
            raise MossfuseInputError(
                f"SRF shape {deg.srf.shape} does not match {self.hr.shape[0]} MSI bands x "
                f"{self.lr.shape[0]} HSI bands"
            )
        if self.hsi_wavelengths_nm is None:
            self.hsi_wavelengths_nm = self.lr.wavelengths_nm

    @property
    def srf(self) -> np.ndarray | None:
        return self.degradation.srf

    @property
    def psf(self) -> np.ndarray | None:
        return self.degradation.psf

    @property
    def phase(self) -> int | None:
        return self.degradation.phase

    @property
    def psf_centre(self) -> int | None:
        return self.degradation.centre

    @property
    def hr_shape(self) -> tuple[int, int]:
        return self.hr.hw

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """``(B, H, W)`` of the fused cube."""
        return (self.lr.shape[0], *self.hr.hw)

    @classmethod
    def from_inputs(cls, inputs: FusionInputs) -> StreamedInputs:
        """Wrap in-memory :class:`FusionInputs` (the cubes as :class:`ArrayReader`)."""
        return cls(
            ArrayReader(inputs.lr_hsi, inputs.hsi_wavelengths_nm), ArrayReader(inputs.hr_msi),
            inputs.ratio, inputs.hsi_wavelengths_nm, tuple(inputs.msi_band_names),
            inputs.degradation,
        )

    @classmethod
    def open(cls, lr_path: str | Path, hr_path: str | Path, ratio: int | None = None, *,
             lr_key: str | None = None, hr_key: str | None = None, **fields: Any,
             ) -> StreamedInputs:
        """Open an LR-HSI and an HR-MSI file; ``ratio`` defaults to ``H / h``.

        The LR-HSI is read whole (it is ``r^2`` times smaller); the HR-MSI is streamed when its
        format allows (:func:`open_reader`). ``fields`` are the other fields
        (``hsi_wavelengths_nm``, ``msi_band_names``, ``degradation``, ``meta``).
        """
        lr = open_reader(lr_path, lr_key, stream=False)
        hr = open_reader(hr_path, hr_key)
        ratio = check_pair_sizes(lr.shape[1:], hr.shape[1:], ratio, lr_path, hr_path)
        return cls(lr, hr, ratio, **fields)

    def window(self, lr_rows: Window, lr_cols: Window,
               degradation: Degradation | None = None) -> FusionInputs:
        """The sub-problem on LR samples ``[lr_rows) x [lr_cols)`` and HR pixels
        ``[r lr_rows) x [r lr_cols)`` as ``FusionInputs`` carrying ``degradation`` (default
        the scene's; e.g. the one estimated once for the scene).

        Convention: LR sample ``a`` sits on HR pixel ``phase + r a``; the window starts at HR
        pixel ``r a0``, so inside it the sample ``a0`` sits on local pixel ``phase``: the
        sampling phase (and the PSF centre) of the window equal the scene's.
        """
        r = self.ratio
        return FusionInputs(
            lr_hsi=self.lr.read(lr_rows, lr_cols),
            hr_msi=self.hr.read((r * lr_rows[0], r * lr_rows[1]), (r * lr_cols[0], r * lr_cols[1])),
            ratio=r, hsi_wavelengths_nm=self.hsi_wavelengths_nm,
            msi_band_names=tuple(self.msi_band_names),
            degradation=self.degradation if degradation is None else degradation,
        )


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------
class CubeWriter(ABC):
    """Receives ``(bands, h, w)`` windows of a ``(bands, H, W)`` output.

    Use as a context manager: the data go to a temporary file next to ``path``; leaving the
    block without an error renames it to ``path`` (complete), an error deletes it (absent).

    Attributes:
        shape: ``(bands, H, W)`` of the output.
        path: final file, or None (in-memory writers).
    """

    path: Path | None = None

    def __init__(self, shape: Sequence[int]):
        if len(shape) != 3 or min(shape) < 1:
            raise MossfuseInputError(f"output shape must be (bands, H, W) > 0; got {shape}")
        self.shape: tuple[int, int, int] = (int(shape[0]), int(shape[1]), int(shape[2]))
        self._stack: contextlib.ExitStack | None = None
        self.pixels_written = 0

    def __enter__(self) -> CubeWriter:
        self._stack = contextlib.ExitStack()
        try:
            self._open(self._stack)
        except BaseException:
            self._stack.close()
            self._stack = None
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if ev is None:
            self._close()
        else:
            with contextlib.suppress(Exception):
                self._close()
        stack.__exit__(et, ev, tb)  # atomic_path renames on success, deletes on error

    def write(self, rows: Window, cols: Window, block: np.ndarray) -> None:
        """Write ``block`` ``(bands, rows[1]-rows[0], cols[1]-cols[0])`` at that window."""
        if self._stack is None:
            raise RuntimeError("write() outside the writer's `with` block")
        _check_window(rows, cols, self.shape[1:], "the output")
        expected = (self.shape[0], rows[1] - rows[0], cols[1] - cols[0])
        if block.shape != expected:
            raise ValueError(f"block of shape {block.shape} for window {rows} x {cols}; "
                             f"expected {expected}")
        self._write(rows, cols, np.asarray(block, dtype=np.float32))
        self.pixels_written += expected[1] * expected[2]

    @abstractmethod
    def _open(self, stack: contextlib.ExitStack) -> None: ...

    @abstractmethod
    def _write(self, rows: Window, cols: Window, block: np.ndarray) -> None: ...

    def _close(self) -> None:  # noqa: B027  (an optional hook: most writers need none)
        """Flush and close the temporary file (before the rename)."""


class ArrayWriter(CubeWriter):
    """Collects the output in memory: ``writer.array`` ``(bands, H, W)`` float32."""

    def __init__(self, shape: Sequence[int]):
        super().__init__(shape)
        self.array: np.ndarray | None = None

    def _open(self, stack: contextlib.ExitStack) -> None:
        self.array = np.zeros(self.shape, np.float32)

    def _write(self, rows: Window, cols: Window, block: np.ndarray) -> None:
        assert self.array is not None
        self.array[:, rows[0] : rows[1], cols[0] : cols[1]] = block


class NpyWriter(CubeWriter):
    """``.npy`` ``H x W x bands`` float32 through ``np.lib.format.open_memmap``."""

    def __init__(self, path: str | Path, shape: Sequence[int]):
        super().__init__(shape)
        self.path = Path(path)
        self._tmp: Path | None = None

    def _open(self, stack: contextlib.ExitStack) -> None:
        self._tmp = stack.enter_context(atomic_path(self.path))
        b, h, w = self.shape
        mm = np.lib.format.open_memmap(self._tmp, mode="w+", dtype=np.float32, shape=(h, w, b))
        del mm  # header written, file sized (sparse); windows map it again one at a time

    def _write(self, rows: Window, cols: Window, block: np.ndarray) -> None:
        mm = np.lib.format.open_memmap(self._tmp, mode="r+")
        mm[rows[0] : rows[1], cols[0] : cols[1]] = np.moveaxis(block, 0, -1)
        del mm  # unmapped, not flushed: the kernel writes the dirty pages back in its own time


def hr_output_meta(lr_meta: Mapping[str, Any], hr_meta: Mapping[str, Any],
                   ratio: int) -> dict[str, Any]:
    """``crs``/``transform`` for a cube on the HR grid (see module Convention).

    >>> from affine import Affine
    >>> hr_output_meta({"crs": "EPSG:32633", "transform": Affine(30, 0, 5e5, 0, -30, 4e6)},
    ...                {}, 30)["transform"]
    Affine(1.0, 0.0, 500000.0,
           0.0, -1.0, 4000000.0)
    """
    if hr_meta.get("crs") is not None:
        return {"crs": hr_meta["crs"], "transform": hr_meta.get("transform")}
    if lr_meta.get("crs") is not None and lr_meta.get("transform") is not None:
        from affine import Affine

        t = lr_meta["transform"]
        t = t if isinstance(t, Affine) else Affine(*[float(v) for v in list(t)[:6]])
        return {"crs": lr_meta["crs"], "transform": t @ Affine.scale(1.0 / ratio)}
    return {}


class GeoTiffWriter(CubeWriter):
    """GeoTIFF float32, tiled 256 x 256, pixel-interleaved, uncompressed, written by windows.

    ``meta``: ``crs``, ``transform`` (see :func:`hr_output_meta`), ``band_names``, ``nodata``;
    ``wavelengths_nm`` are stored as in :func:`mossfuse.data.io.write_cube`. Uncompressed on
    purpose: windows that are not block-aligned are read back and rewritten by GDAL, which a
    compressed file would grow on.
    """

    def __init__(self, path: str | Path, shape: Sequence[int], *,
                 wavelengths_nm: np.ndarray | None = None,
                 meta: Mapping[str, Any] | None = None):
        super().__init__(shape)
        self.path = Path(path)
        self.wavelengths_nm = wavelengths_nm
        self.meta = dict(meta or {})
        self._ds: Any = None

    def _open(self, stack: contextlib.ExitStack) -> None:
        import rasterio
        from affine import Affine
        from rasterio.crs import CRS
        from rasterio.errors import NotGeoreferencedWarning

        tmp = stack.enter_context(atomic_path(self.path))
        b, h, w = self.shape
        profile: dict[str, Any] = {
            "driver": "GTiff", "height": h, "width": w, "count": b, "dtype": "float32",
            "interleave": "pixel", "BIGTIFF": "IF_SAFER",
        }
        if h >= 256 and w >= 256:
            profile.update(tiled=True, blockxsize=256, blockysize=256)
        crs, transform = self.meta.get("crs"), self.meta.get("transform")
        if crs is not None:
            profile["crs"] = crs if isinstance(crs, CRS) else CRS.from_user_input(crs)
        if transform is not None:
            profile["transform"] = (transform if isinstance(transform, Affine)
                                    else Affine(*[float(v) for v in list(transform)[:6]]))
        if self.meta.get("nodata") is not None:
            profile["nodata"] = float(self.meta["nodata"])
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            self._ds = rasterio.open(tmp, "w", **profile)
        if self.wavelengths_nm is not None:
            geotiff.write_wavelength_tags(self._ds, self.wavelengths_nm)
        names = self.meta.get("band_names")
        if names is not None and len(names) == b:
            for i, name in enumerate(names, start=1):
                self._ds.set_band_description(i, str(name))

    def _write(self, rows: Window, cols: Window, block: np.ndarray) -> None:
        from rasterio.windows import Window as RioWindow

        self._ds.write(block, window=RioWindow(cols[0], rows[0], cols[1] - cols[0],
                                                rows[1] - rows[0]))

    def _close(self) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None


class BufferedFileWriter(ArrayWriter):
    """Formats without windowed writing (``.mat``, ``.npz``, ENVI): the output is assembled in
    memory and written once by :func:`~mossfuse.data.io.write_cube` (itself atomic)."""

    def __init__(self, path: str | Path, shape: Sequence[int], *,
                 wavelengths_nm: np.ndarray | None = None,
                 meta: Mapping[str, Any] | None = None):
        super().__init__(shape)
        self.path = Path(path)
        self.wavelengths_nm, self.meta = wavelengths_nm, dict(meta or {})

    def _close(self) -> None:
        from mossfuse.data.io import write_cube

        assert self.array is not None
        write_cube(self.array, self.path, wavelengths=self.wavelengths_nm, meta=self.meta)


def open_writer(path: str | Path, shape: Sequence[int], *,
                wavelengths_nm: np.ndarray | None = None,
                meta: Mapping[str, Any] | None = None) -> CubeWriter:
    """A writer for ``path`` by its extension: streamed ``.npy`` / GeoTIFF, else buffered.

    Args:
        path: final output file.
        shape: ``(bands, H, W)`` of the output.
        wavelengths_nm: ``(bands,)`` stored where the format can (not in ``.npy``).
        meta: ``crs``, ``transform``, ``band_names``, ``nodata`` (GeoTIFF).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return NpyWriter(path, shape)
    if suffix in _GEOTIFF:
        return GeoTiffWriter(path, shape, wavelengths_nm=wavelengths_nm, meta=meta)
    from mossfuse.data.io import CUBE_FORMATS

    known = {e for exts in CUBE_FORMATS.values() for e in exts}
    if suffix not in known:
        raise MossfuseInputError(
            f"unknown output extension {suffix!r}; expected one of {sorted(known)}", path
        )
    return BufferedFileWriter(path, shape, wavelengths_nm=wavelengths_nm, meta=meta)
