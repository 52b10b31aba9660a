"""MATLAB ``.mat`` files (v4/v5/v7 through scipy, v7.3 through h5py): variables, whole cube,
window, writing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.data.io.arrays import Layout, RawCube, pick_array, to_chw
from mossfuse.data.io.wavelengths import from_arrays
from mossfuse.errors import MossfuseInputError


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


def read(path: Path, key: str | None = None, layout: Layout = "hwc") -> RawCube:
    """The cube variable ``key`` (or the only candidate) as ``(bands, H, W)``, values as
    stored, with the wavelengths stored beside it."""
    arrays = load_mat_variables(path)
    k, arr = pick_array(arrays, key, path)
    chw = to_chw(arr, layout, path, k)
    return RawCube(chw, from_arrays(arrays, chw.shape[0]), {"key": k})


def read_window(path: Path, rows: tuple[int, int], cols: tuple[int, int],
                key: str | None = None, layout: Layout = "hwc") -> np.ndarray:
    """The window ``[rows) x [cols)`` as ``(bands, h, w)`` (the variable is read whole: MATLAB
    files have no windowed access here)."""
    data = read(path, key, layout).data
    return np.ascontiguousarray(data[:, rows[0] : rows[1], cols[0] : cols[1]])


def write(hwc: np.ndarray, path: Path, key: str, wl: np.ndarray | None) -> None:
    """Write the ``H x W x bands`` cube as ``key`` (and ``wavelengths_nm``), v5, atomically."""
    import scipy.io

    arrays: dict[str, np.ndarray] = {key: hwc}
    if wl is not None:
        arrays["wavelengths_nm"] = wl[None, :]
    with atomic_path(path) as tmp:
        scipy.io.savemat(tmp, arrays, do_compression=False, oned_as="row")
