"""Loaders for the real airborne/satellite crops in ``shared/data/remote_sensing``.

Each loader takes ``root``: the ``remote_sensing`` folder, the crop's own folder, or the
``.mat`` file itself. All return :class:`~mossfuse.data.scene.Scene` cubes ``(bands, H, W)``
float32 in [0, 1] with the divisor in ``meta["scale"]``.

Convention (scaling): the HSI crops are radiance/reflectance or raw counts with no shared
white level, so each is divided by a stated per-file divisor (its maximum, unless noted):
the divisor is recorded, so ``cube * meta["scale"]`` gives the stored values back. A pair
(HS + MS/PAN) of the same sensor family shares one divisor so that their radiometric relation
(the SRF) is preserved.

Sources: DFC2018 (IEEE GRSS, Univ. Houston); Simoes et al., TGRS 2015 (HySure) for Paris;
Kang et al., TGRS 2017 (ABU).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mossfuse.data.io import load_mat_variables
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError

__all__ = [
    "ABU_SCENES",
    "ALI_MS_BANDS",
    "HOUSTON_HSI_WAVELENGTHS_NM",
    "load_abu",
    "load_houston2018",
    "load_paris",
    "load_paris_pan",
]

#: Houston 2018 CASI-1500 band centres assumed evenly spaced over 380-1050 nm (48 bands). The
#: file stores no wavelengths; the exact centres are not known here.
HOUSTON_HSI_WAVELENGTHS_NM = np.linspace(380.0, 1050.0, 48)
#: The 9 ALI multispectral bands of the Paris pair, in file order (increasing wavelength; the
#: order matches the supports of the rows of ``srf/fusion_R_matrices/R_HysureParis.mat``).
ALI_MS_BANDS: tuple[str, ...] = ("1p", "1", "2", "3", "4", "4p", "5p", "5", "7")
#: ABU crops: name -> (file, sensor, bands).
ABU_SCENES: dict[str, tuple[str, str, int]] = {
    "abu-beach-4": ("abu-beach-4.mat", "ROSIS", 102),
    "abu-urban-2": ("abu-urban-2.mat", "AVIRIS", 198),
    "sandiego_plane": ("sandiego_plane.mat", "AVIRIS", 189),
    "HYDICE_data": ("HYDICE_data.mat", "HYDICE", 162),
}


def _resolve(root: str | Path, subdir: str, filename: str) -> Path:
    root = Path(root)
    if root.is_file():
        return root
    for cand in (root / subdir / filename, root / filename):
        if cand.is_file():
            return cand
    raise MossfuseInputError(
        f"{filename} not found in {root} or {root / subdir}", root / subdir / filename
    )


def _get(variables: dict[str, np.ndarray], key: str, path: Path, ndim: int) -> np.ndarray:
    if key not in variables:
        raise MossfuseInputError(
            f"variable {key!r} not found; found {sorted(variables)}", path
        )
    arr = np.asarray(variables[key])
    if arr.ndim != ndim:
        raise MossfuseInputError(f"{key} should be {ndim}-D; got shape {arr.shape}", path)
    return arr


def _to_scene(hwc: np.ndarray, divisor: float, name: str, meta: dict, wl=None) -> Scene:
    cube = np.moveaxis(hwc.astype(np.float32) / np.float32(divisor), -1, 0)
    meta = {"scale": float(divisor), "format": "mat", **meta}
    return Scene(np.ascontiguousarray(cube), wl, name, meta)


def load_houston2018(root: str | Path, *, hsi_scale: float | None = None) -> tuple[Scene, Scene]:
    """The DFC2018 Houston crop: a real co-registered LR-HSI / HR-RGB pair at ratio 4.

    File ``houston2018_crop/houston_dataset.mat``: ``hyprImg`` (128, 128, 48) uint16 (values
    188..19534), ``rgbImg`` (512, 512, 3) uint8, ``clasLabs`` (512, 512) uint8 labels 0..12.

    Args:
        root: see module docstring.
        hsi_scale: HSI divisor; default the HSI maximum (19534 in the shipped crop).

    Returns:
        ``(hsi, rgb)``: hsi ``(48, 128, 128)`` float32, wavelengths
        :data:`HOUSTON_HSI_WAVELENGTHS_NM` (evenly spaced 380-1050 nm: an assumption, the exact
        centres are not stored); rgb ``(3, 512, 512)`` float32 = uint8 / 255, band names R, G, B,
        ``meta["nodata_mask"]`` ``(512, 512)`` bool True where all three channels are 0 (the
        black no-data patch) and ``meta["labels"]`` the class map. No ground truth exists.
    """
    path = _resolve(root, "houston2018_crop", "houston_dataset.mat")
    v = load_mat_variables(path)
    hsi = _get(v, "hyprImg", path, 3)
    rgb = _get(v, "rgbImg", path, 3)
    divisor = float(hsi.max()) if hsi_scale is None else float(hsi_scale)
    common = {"source": str(path), "ratio": 4}
    hsi_scene = _to_scene(
        hsi, divisor, "houston2018_hsi",
        {**common, "key": "hyprImg", "sensor": "CASI-1500",
         "wavelengths_note": "assumed evenly spaced over 380-1050 nm; exact centres not stored"},
        HOUSTON_HSI_WAVELENGTHS_NM.copy(),
    )
    rgb_meta = {
        **common, "key": "rgbImg", "band_names": ("R", "G", "B"),
        "nodata_mask": np.all(rgb == 0, axis=-1),
    }
    if "clasLabs" in v:
        rgb_meta["labels"] = np.asarray(v["clasLabs"])
    rgb_scene = _to_scene(rgb, 255.0, "houston2018_rgb", rgb_meta)
    return hsi_scene, rgb_scene


def _paris_common(v: dict[str, np.ndarray], path: Path) -> dict:
    meta: dict = {"source": str(path), "ratio": 3}
    if "non_del_bands" in v:
        meta["hyperion_bands"] = np.asarray(v["non_del_bands"]).ravel().astype(int)
    return meta


def load_paris(root: str | Path) -> tuple[Scene, Scene]:
    """The Paris Hyperion (HS) + ALI (MS) pair on the same 30 m grid (HySure data).

    File ``paris_hyperion_ali/paris_data_hs_ms.mat``: ``HSim`` (72, 72, 128) float64 reflectance
    (max 1.284), ``MSim`` (72, 72, 9) float64 (max 1.452), ``non_del_bands`` (1, 128) Hyperion
    band numbers kept.

    Both cubes are divided by one common divisor, the maximum over ``HSim`` and ``MSim``
    (1.452), so their relation through ``R_HysureParis`` holds and both lie in [0, 1].

    Returns:
        ``(hs, ms)``: hs ``(128, 72, 72)`` float32, the reference the usual protocol degrades by
        3 (``wavelengths_nm`` None: not stored; ``meta["hyperion_bands"]`` the band numbers);
        ms ``(9, 72, 72)`` float32, ``band_names`` :data:`ALI_MS_BANDS`.
    """
    path = _resolve(root, "paris_hyperion_ali", "paris_data_hs_ms.mat")
    v = load_mat_variables(path)
    hs = _get(v, "HSim", path, 3)
    ms = _get(v, "MSim", path, 3)
    divisor = float(max(hs.max(), ms.max()))
    common = _paris_common(v, path)
    hs_scene = _to_scene(hs, divisor, "paris_hs", {**common, "key": "HSim", "sensor": "Hyperion"})
    ms_scene = _to_scene(
        ms, divisor, "paris_ms",
        {**common, "key": "MSim", "sensor": "ALI", "band_names": ALI_MS_BANDS},
    )
    return hs_scene, ms_scene


def load_paris_pan(root: str | Path) -> tuple[Scene, Scene]:
    """The Paris Hyperion (HS) + ALI panchromatic pair at ratio 3 (HySure data).

    File ``paris_hyperion_ali/paris_data_hs_pan.mat``: ``HSim`` (72, 58, 128) float64 (max
    1.261), ``PCim`` (216, 174) float64 (max 2.287). Both are divided by the common maximum
    (2.287).

    Returns:
        ``(hs, pan)``: hs ``(128, 72, 58)`` float32; pan ``(1, 216, 174)`` float32.
    """
    path = _resolve(root, "paris_hyperion_ali", "paris_data_hs_pan.mat")
    v = load_mat_variables(path)
    hs = _get(v, "HSim", path, 3)
    pan = _get(v, "PCim", path, 2)
    divisor = float(max(hs.max(), pan.max()))
    common = _paris_common(v, path)
    hs_scene = _to_scene(hs, divisor, "paris_pan_hs", {**common, "key": "HSim"})
    pan_scene = _to_scene(
        pan[..., None], divisor, "paris_pan",
        {**common, "key": "PCim", "sensor": "ALI", "band_names": ("pan",)},
    )
    return hs_scene, pan_scene


def load_abu(name: str, root: str | Path) -> Scene:
    """One ABU (airport-beach-urban) crop, normalised by its own maximum.

    ============== ================ ========= =========================
    name            ``data``         dtype     values
    ============== ================ ========= =========================
    abu-beach-4     (100, 100, 102)  float64   0..1 (ROSIS, 430-860 nm)
    abu-urban-2     (100, 100, 198)  int16     -50..14060 (AVIRIS)
    sandiego_plane  (100, 100, 189)  uint16    39..9345 (AVIRIS)
    HYDICE_data     (100, 80, 162)   uint16    0..592 (HYDICE Urban)
    ============== ================ ========= =========================

    Args:
        name: a key of :data:`ABU_SCENES` (``.mat`` suffix allowed).
        root: see module docstring (subfolder ``abu_crops``).

    Returns:
        Scene ``(bands, H, W)`` float32 = data / max(data) (``meta["scale"]``), negative values
        (a few in abu-urban-2) clipped to 0 and counted in ``meta["clipped_negative"]``;
        ``meta["anomaly_map"]`` the ``(H, W)`` uint8 ``map``; ``wavelengths_nm`` None (not
        stored in the files).
    """
    key = name[:-4] if name.endswith(".mat") else name
    if key not in ABU_SCENES:
        raise MossfuseInputError(f"unknown ABU crop {name!r}; expected one of {list(ABU_SCENES)}")
    filename, sensor, _ = ABU_SCENES[key]
    path = _resolve(root, "abu_crops", filename)
    v = load_mat_variables(path)
    data = _get(v, "data", path, 3)
    divisor = float(data.max())
    if not divisor > 0:
        raise MossfuseInputError(f"'data' has maximum {divisor}; cannot normalise", path)
    negative = int((data < 0).sum())
    meta: dict = {"source": str(path), "key": "data", "sensor": sensor,
                  "clipped_negative": negative}
    if "map" in v:
        meta["anomaly_map"] = np.asarray(v["map"])
    scene = _to_scene(data, divisor, key, meta)
    if negative:
        np.clip(scene.cube, 0.0, None, out=scene.cube)
    return scene
