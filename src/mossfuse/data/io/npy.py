"""NumPy ``.npy`` (one ``H x W x bands`` array; windows through a per-window memory map) and
``.npz`` archives (named variables, wavelengths beside the cube)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.data.io.arrays import Layout, RawCube, pick_array, to_chw
from mossfuse.data.io.wavelengths import from_arrays
from mossfuse.errors import MossfuseInputError

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def _starts_with(path: Path, magic: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(magic)) == magic


def load_npy(path: Path) -> np.ndarray:
    """The stored array of a ``.npy`` file (as saved; no pickles)."""
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


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of a ``.npz`` archive (no pickles)."""
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


def read(path: Path, key: str | None = None, layout: Layout = "hwc") -> RawCube:
    """The whole stored cube of a ``.npy`` file, ``(bands, H, W)``, values as stored."""
    if key is not None:
        raise MossfuseInputError("key= does not apply to a .npy file (one array)", path)
    return RawCube(to_chw(load_npy(path), layout, path, path.name), None, {})


def read_npz(path: Path, key: str | None = None, layout: Layout = "hwc") -> RawCube:
    """The cube variable ``key`` (or the only candidate) of a ``.npz`` archive, with the
    wavelengths stored beside it."""
    arrays = load_npz(path)
    k, arr = pick_array(arrays, key, path)
    chw = to_chw(arr, layout, path, k)
    return RawCube(chw, from_arrays(arrays, chw.shape[0]), {"key": k})


def memory_map(path: Path) -> np.ndarray:
    """A read-only memory map of a ``.npy`` file (drop it after use: see
    :mod:`mossfuse.engine.streaming` on resident memory)."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise MossfuseInputError("file not found", path) from None
    except Exception as exc:
        raise MossfuseInputError(
            f"cannot map as a .npy array (corrupt, truncated or pickled?): {exc}", path
        ) from exc


def read_window(path: Path, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """The window ``[rows) x [cols)`` of an ``H x W x bands`` (or ``H x W``) ``.npy`` file as
    ``(bands, h, w)``, values as stored; the file is mapped for this window only."""
    mm = memory_map(path)
    win = np.array(mm[rows[0] : rows[1], cols[0] : cols[1]])  # copy, then drop the mapping
    del mm
    return win[None] if win.ndim == 2 else np.moveaxis(win, -1, 0)


def write(hwc: np.ndarray, path: Path) -> None:
    """Write an ``H x W x bands`` array (atomically)."""
    with atomic_path(path) as tmp:
        np.save(tmp, hwc)


def write_npz(hwc: np.ndarray, path: Path, key: str, wl: np.ndarray | None) -> None:
    """Write the cube as ``key`` and the wavelengths as ``wavelengths_nm`` (atomically)."""
    arrays = {key: hwc}
    if wl is not None:
        arrays["wavelengths_nm"] = wl
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)
