"""Consistency checks of a user's LR-HSI / HR-MSI pair before fusing.

Every check raises :class:`~mossfuse.errors.MossfuseInputError` naming the file(s) concerned, so
``mossfuse fuse`` prints one line ``error: <file>: ...`` and exits with code 2.

Convention
----------
- Size policy (no padding, no cropping): the HR-MSI must be exactly ``r`` times the LR-HSI on
  both axes, ``H = r h`` and ``W = r w``, any ``h, w >= 1`` (non-square, odd sizes and odd ratios
  are fine). A pair that is not is rejected with the crop that would make it fit, because a
  silent crop or pad would move one grid against the other (the LR sample ``i`` covers HR pixels
  ``r i .. r i + r - 1``: the grids share their upper-left corner).
- Georeferencing (when both files carry a CRS and an affine transform, e.g. GeoTIFF): the CRS
  must be the same; the ratio of pixel sizes must be one integer for both axes and equal the
  size ratio; the extents must overlap, and the upper-left corners must agree within half an HR
  pixel (mossfuse does not resample: crop or warp the inputs to a common grid first, e.g. with
  ``gdalwarp -te ... -tr ...``). A file without georeferencing is not checked.
- SRF versus band metadata: the SRF must have one row per MSI band and one column per HSI band;
  when both the SRF and the MSI name their bands, the same names must come in the same order;
  every SRF row must have some response on the HSI wavelengths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse.data.scene import check_pair_sizes  # the one size check
from mossfuse.errors import MossfuseInputError

__all__ = [
    "check_pair_geometry",
    "check_pair_sizes",
    "check_srf_metadata",
    "load_srf_named",
    "output_meta",
]

_RATIO_TOL = 0.01  # relative tolerance on a ratio of pixel sizes
_CORNER_TOL_PX = 0.5  # HR pixels


def _geo(meta: Mapping[str, Any]) -> tuple[Any, Any] | None:
    crs, transform = meta.get("crs"), meta.get("transform")
    if crs is None or transform is None:
        return None
    from affine import Affine

    t = transform if isinstance(transform, Affine) else Affine(*[float(v)
                                                                for v in list(transform)[:6]])
    return crs, t


def _bounds(t: Any, h: int, w: int) -> tuple[float, float, float, float]:
    xs, ys = zip(*(t @ (c, r) for c, r in ((0, 0), (w, 0), (0, h), (w, h))), strict=True)
    return min(xs), min(ys), max(xs), max(ys)


def check_pair_geometry(lr_meta: Mapping[str, Any], hr_meta: Mapping[str, Any],
                        lr_hw: tuple[int, int], hr_hw: tuple[int, int], ratio: int | None,
                        lr_path: str | Path | None = None,
                        hr_path: str | Path | None = None) -> int:
    """Check sizes and, when both inputs are georeferenced, CRS, pixel sizes and extents.

    Returns:
        The ratio ``r``.

    Raises:
        MossfuseInputError: different CRS, non-overlapping extents, a non-integer ratio of pixel
            sizes (or one that contradicts the sizes), grids whose corners differ, or sizes that
            break the size policy (module Convention).
    """
    lr_geo, hr_geo = _geo(lr_meta), _geo(hr_meta)
    if lr_geo is None or hr_geo is None:
        return check_pair_sizes(lr_hw, hr_hw, ratio, lr_path, hr_path)
    (lr_crs, lt), (hr_crs, ht) = lr_geo, hr_geo
    from rasterio.crs import CRS

    try:
        same_crs = CRS.from_user_input(lr_crs) == CRS.from_user_input(hr_crs)
    except Exception:  # an unparseable CRS: compare the text
        same_crs = str(lr_crs) == str(hr_crs)
    if not same_crs:
        raise MossfuseInputError(
            f"the LR-HSI ({lr_path}) is in CRS {lr_crs} but the HR-MSI in {hr_crs}; reproject "
            "one onto the other's grid first (e.g. gdalwarp -t_srs)", hr_path)
    (h, w), (hh, ww) = lr_hw, hr_hw
    lb, hb = _bounds(lt, h, w), _bounds(ht, hh, ww)
    if lb[0] >= hb[2] or hb[0] >= lb[2] or lb[1] >= hb[3] or hb[1] >= lb[3]:
        raise MossfuseInputError(
            f"the extents do not overlap: LR-HSI ({lr_path}) covers x {lb[0]:.6g}..{lb[2]:.6g}, "
            f"y {lb[1]:.6g}..{lb[3]:.6g}; HR-MSI covers x {hb[0]:.6g}..{hb[2]:.6g}, "
            f"y {hb[1]:.6g}..{hb[3]:.6g} ({lr_crs}): not the same scene", hr_path)
    lr_px = np.hypot(lt.a, lt.d), np.hypot(lt.b, lt.e)
    hr_px = np.hypot(ht.a, ht.d), np.hypot(ht.b, ht.e)
    if min(hr_px) <= 0 or min(lr_px) <= 0:
        raise MossfuseInputError(f"degenerate geotransform {ht}", hr_path)
    geo_r = (lr_px[0] / hr_px[0], lr_px[1] / hr_px[1])
    near = [round(g) for g in geo_r]
    if (near[0] != near[1] or near[0] < 1
            or any(abs(g - n) > _RATIO_TOL * n for g, n in zip(geo_r, near, strict=True))):
        raise MossfuseInputError(
            f"non-integer ratio: LR-HSI pixels ({lr_path}) are {lr_px[0]:.6g} x {lr_px[1]:.6g} "
            f"and HR-MSI pixels {hr_px[0]:.6g} x {hr_px[1]:.6g} (ratio {geo_r[0]:.4g} x "
            f"{geo_r[1]:.4g}); fusion needs one integer ratio r: resample one input first "
            "(e.g. gdalwarp -tr)", hr_path)
    r = check_pair_sizes(lr_hw, hr_hw, ratio, lr_path, hr_path)
    if near[0] != r:
        raise MossfuseInputError(
            f"the georeferencing gives ratio {near[0]} (pixels {lr_px[0]:.6g} vs "
            f"{hr_px[0]:.6g}) but the sizes give {r} (LR-HSI {h} x {w}, {lr_path}; HR-MSI "
            f"{hh} x {ww}): the files do not cover the same extent", hr_path)
    inv = ~ht
    for name, (c, rr) in (("upper-left", (0, 0)), ("lower-right", (w, h))):
        x, y = inv @ (lt @ (c, rr))
        ex, ey = c * r, rr * r
        if abs(x - ex) > _CORNER_TOL_PX or abs(y - ey) > _CORNER_TOL_PX:
            raise MossfuseInputError(
                f"the grids are offset: the LR-HSI's {name} corner ({lr_path}) falls on HR "
                f"pixel ({y:.2f}, {x:.2f}) (row, col) instead of ({ey}, {ex}); mossfuse does "
                "not resample: crop both inputs to the common extent on aligned grids first",
                hr_path)
    return r


def check_srf_metadata(srf: np.ndarray, srf_source: str | Path,
                       msi_bands: int, hsi_bands: int,
                       srf_band_names: Sequence[str] = (),
                       msi_band_names: Sequence[str] = (),
                       hr_path: str | Path | None = None,
                       hsi_wavelengths: np.ndarray | None = None) -> None:
    """Check a known SRF against the inputs' band metadata (module Convention).

    Raises:
        MossfuseInputError: naming the SRF (and the MSI file) when the shapes, band names or
            wavelength coverage contradict each other.
    """
    m = np.asarray(srf)
    if m.shape != (msi_bands, hsi_bands):
        raise MossfuseInputError(
            f"the SRF has {m.shape[0]} rows x {m.shape[1]} columns but the inputs have "
            f"{msi_bands} MSI bands ({hr_path}) x {hsi_bands} HSI bands; expected "
            f"{msi_bands} x {hsi_bands}", srf_source)
    a = [str(n).strip().lower() for n in srf_band_names]
    b = [str(n).strip().lower() for n in msi_band_names]
    if a and b and len(a) == len(b) and any(b) and set(a) & set(b) and a != b:
        raise MossfuseInputError(
            f"the SRF rows are {list(srf_band_names)} but the MSI bands ({hr_path}) are "
            f"{list(msi_band_names)}: reorder the SRF or the MSI bands", srf_source)
    dead = [j for j in range(m.shape[0]) if not np.any(m[j] > 0)]
    if dead:
        names = [srf_band_names[j] if j < len(srf_band_names) else str(j) for j in dead]
        span = ("" if hsi_wavelengths is None else
                f" (HSI wavelengths {float(np.min(hsi_wavelengths)):.4g}-"
                f"{float(np.max(hsi_wavelengths)):.4g} nm)")
        raise MossfuseInputError(
            f"SRF band(s) {names} have no response on the HSI bands{span}: wrong wavelength "
            "unit or range, or an SRF for another sensor", srf_source)


def load_srf_named(source: str | Path, hsi_wavelengths: np.ndarray | None) -> Any:
    """:func:`mossfuse.physics.load_srf`, with errors that name the SRF file or library name."""
    from mossfuse.physics import load_srf

    try:
        return load_srf(str(source), hsi_wavelengths)
    except MossfuseInputError as exc:
        if exc.path is not None:
            raise
        raise MossfuseInputError(str(exc), source) from exc


def output_meta(lr_meta: Mapping[str, Any], hr_meta: Mapping[str, Any], ratio: int,
                bands: int) -> dict[str, Any]:
    """Metadata of the fused cube: CRS and transform of the HR grid
    (:func:`mossfuse.engine.streaming.hr_output_meta`) and the LR-HSI's band names."""
    from mossfuse.engine.streaming import hr_output_meta

    meta = hr_output_meta(lr_meta, hr_meta, ratio)
    names = lr_meta.get("band_names")
    if names is not None and len(names) == bands:
        meta["band_names"] = tuple(str(n) for n in names)
    return meta
