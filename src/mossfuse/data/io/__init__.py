"""Read and write hyperspectral cubes: MATLAB ``.mat`` (v5 and v7.3), ``.npy``, ``.npz``, ENVI,
GeoTIFF and CAVE scene folders.

One module per format, each with ``read`` (the whole cube), ``read_window`` (a window) and
``write``, returning stored values: :mod:`.npy` (also ``.npz``), :mod:`.mat`, :mod:`.envi`,
:mod:`.geotiff`. The rules shared by every reader, in memory (:func:`read_cube`) or streamed
(:mod:`mossfuse.engine.streaming`), live in one place each: scaling in :mod:`.normalize`,
band centres in :mod:`.wavelengths`, stored-array layout in :mod:`.arrays`; :mod:`.cube` picks
the format.

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

from mossfuse.data.io.cube import CUBE_FORMATS, read_cube, write_cube
from mossfuse.data.io.mat import load_mat_variables
from mossfuse.data.io.normalize import normalize_cube
from mossfuse.data.io.wavelengths import parse_wavelengths

__all__ = [
    "CUBE_FORMATS",
    "load_mat_variables",
    "normalize_cube",
    "parse_wavelengths",
    "read_cube",
    "write_cube",
]
