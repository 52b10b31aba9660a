"""Loaders of the real remote-sensing crops: shapes, scaling rule and metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mossfuse.data.remote_sensing import (
    ABU_SCENES,
    ALI_MS_BANDS,
    load_abu,
    load_houston2018,
    load_paris,
    load_paris_pan,
)
from mossfuse.errors import MossfuseInputError, check_cube


@pytest.fixture(scope="module")
def rs_root(shared_data: Path) -> Path:
    return shared_data / "remote_sensing"


def test_houston_pair_shapes_scaling_and_nodata_mask(rs_root):
    hsi, rgb = load_houston2018(rs_root)
    assert hsi.cube.shape == (48, 128, 128) and rgb.cube.shape == (3, 512, 512)
    check_cube(hsi.cube)
    check_cube(rgb.cube)
    assert hsi.meta["scale"] == 19534.0 and hsi.cube.max() == 1.0
    np.testing.assert_allclose(hsi.wavelengths_nm[[0, -1]], [380.0, 1050.0])
    assert np.allclose(np.diff(hsi.wavelengths_nm), 670.0 / 47)
    assert rgb.meta["scale"] == 255.0 and rgb.meta["band_names"] == ("R", "G", "B")
    mask = rgb.meta["nodata_mask"]
    assert mask.shape == (512, 512) and mask.dtype == bool and mask.any()
    assert (rgb.cube[:, mask] == 0).all()
    assert rgb.meta["labels"].shape == (512, 512)
    assert hsi.meta["ratio"] == rgb.cube.shape[1] // hsi.cube.shape[1] == 4


def test_houston_accepts_the_file_itself_and_an_explicit_scale(rs_root):
    hsi, _ = load_houston2018(rs_root / "houston2018_crop" / "houston_dataset.mat",
                              hsi_scale=65535)
    assert hsi.meta["scale"] == 65535.0 and hsi.cube.max() < 0.3


def test_paris_hs_ms_share_one_divisor(rs_root):
    hs, ms = load_paris(rs_root)
    assert hs.cube.shape == (128, 72, 72) and ms.cube.shape == (9, 72, 72)
    assert hs.meta["scale"] == ms.meta["scale"] == pytest.approx(1.4515779, rel=1e-6)
    assert max(hs.cube.max(), ms.cube.max()) == 1.0
    check_cube(hs.cube)
    check_cube(ms.cube)
    assert ms.meta["band_names"] == ALI_MS_BANDS
    assert hs.meta["hyperion_bands"].shape == (128,) and hs.wavelengths_nm is None


def test_paris_pan_shapes(rs_root):
    hs, pan = load_paris_pan(rs_root)
    assert hs.cube.shape == (128, 72, 58) and pan.cube.shape == (1, 216, 174)
    assert hs.meta["scale"] == pan.meta["scale"] and pan.cube.max() == 1.0
    check_cube(hs.cube)


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("abu-beach-4", (102, 100, 100)),
        ("abu-urban-2", (198, 100, 100)),
        ("sandiego_plane", (189, 100, 100)),
        ("HYDICE_data.mat", (162, 100, 80)),
    ],
)
def test_abu_crops_are_normalised_by_their_maximum(rs_root, name, shape):
    scene = load_abu(name, rs_root)
    assert scene.cube.shape == shape
    assert scene.cube.max() == 1.0
    check_cube(scene.cube)
    assert scene.meta["anomaly_map"].shape == shape[1:]
    assert scene.meta["scale"] > 0
    assert shape[0] == ABU_SCENES[name.removesuffix(".mat")][2]


def test_abu_urban_negative_values_are_clipped_and_counted(rs_root):
    scene = load_abu("abu-urban-2", rs_root)
    assert scene.meta["scale"] == 14060.0
    assert scene.meta["clipped_negative"] > 0 and scene.cube.min() == 0.0


def test_unknown_crop_and_missing_root_raise(rs_root, tmp_path):
    with pytest.raises(MossfuseInputError, match="unknown ABU crop"):
        load_abu("pavia", rs_root)
    with pytest.raises(MossfuseInputError, match="houston_dataset.mat"):
        load_houston2018(tmp_path)
