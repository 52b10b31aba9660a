"""ENVI ``map info`` georeferencing is read (CRS and transform, via GDAL's ENVI driver)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from affine import Affine

from mossfuse.data.io import read_cube, write_cube

UTM_33N = ("{UTM, 1.000, 1.000, 500000.000, 4000000.000, 3.0000000000e+01, "
           "3.0000000000e+01, 33, North, WGS-84, units=Meters}")


def _envi(path: Path, hwc: np.ndarray, map_info: str | None) -> Path:
    from spectral.io import envi

    md = {"wavelength": [str(w) for w in np.linspace(450, 650, hwc.shape[2])]}
    if map_info is not None:
        md["map info"] = map_info
    envi.save_image(str(path), hwc.astype(np.float32), dtype=np.float32, interleave="bip",
                    metadata=md, force=True, ext=".img")
    return path


@pytest.fixture
def hwc() -> np.ndarray:
    return np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)


@pytest.mark.parametrize("open_as", [".hdr", ".img"])
def test_envi_map_info_gives_crs_and_transform(tmp_path, hwc, open_as):
    from rasterio.crs import CRS

    _envi(tmp_path / "g.hdr", hwc, UTM_33N)
    scene = read_cube(tmp_path / f"g{open_as}")
    assert scene.meta["crs"] == CRS.from_epsg(32633)
    # reference pixel (1, 1) is the upper-left corner of the first pixel
    assert scene.meta["transform"] == Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0)
    np.testing.assert_array_equal(scene.cube, np.moveaxis(hwc, -1, 0))
    assert not list(tmp_path.glob("*.aux.xml"))  # reading leaves nothing behind


def test_envi_reference_pixel_other_than_the_corner(tmp_path, hwc):
    """map info tying pixel (2.5, 3.5) to a coordinate: the corner moves back by 1.5, 2.5 px."""
    info = "{UTM, 2.5, 3.5, 500045.0, 3999925.0, 30.0, 30.0, 33, North, WGS-84}"
    t = read_cube(_envi(tmp_path / "g.hdr", hwc, info)).meta["transform"]
    assert (t.c, t.f) == pytest.approx((500000.0, 4000000.0))


def test_envi_without_map_info_is_not_georeferenced(tmp_path, hwc):
    meta = read_cube(_envi(tmp_path / "n.hdr", hwc, None)).meta
    assert meta.get("crs") is None and meta.get("transform") is None


def test_georeferenced_envi_pair_is_checked_and_the_output_keeps_the_hr_grid(tmp_path, hwc):
    """ENVI LR-HSI at 30 m + GeoTIFF HR-MSI at 10 m on the same corner: r = 3 from the grids,
    the output GeoTIFF takes the HR grid; a HR grid off by one LR pixel is an error."""
    from mossfuse.cli import main

    _envi(tmp_path / "lr.hdr", hwc, UTM_33N)
    hr = np.random.default_rng(1).random((2, 12, 15)).astype(np.float32)
    hr_t = (10.0, 0.0, 500000.0, 0.0, -10.0, 4000000.0)
    write_cube(hr, tmp_path / "hr.tif", meta={"crs": "EPSG:32633", "transform": hr_t})
    main(["fuse", "--lr-hsi", str(tmp_path / "lr.hdr"), "--hr-msi", str(tmp_path / "hr.tif"),
          "--out", str(tmp_path / "o.tif")])
    out = read_cube(tmp_path / "o.tif", allow_unnormalized=True).meta
    assert out["transform"] == Affine(*hr_t)
    assert out["crs"].to_epsg() == 32633

    off = (10.0, 0.0, 500030.0, 0.0, -10.0, 4000000.0)
    write_cube(hr, tmp_path / "hr2.tif", meta={"crs": "EPSG:32633", "transform": off})
    with pytest.raises(SystemExit) as exc:
        main(["fuse", "--lr-hsi", str(tmp_path / "lr.hdr"), "--hr-msi",
              str(tmp_path / "hr2.tif"), "--out", str(tmp_path / "o2.tif")])
    assert exc.value.code == 2
    assert not (tmp_path / "o2.tif").exists()
