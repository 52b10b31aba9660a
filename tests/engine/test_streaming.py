"""Windowed readers and writers: same values as the whole-file I/O, georeferencing of the HR
output, and outputs that are complete or absent."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from engine_testing import Failing, PixelLocal

from mossfuse.data.io import read_cube, write_cube
from mossfuse.data.scene import FusionInputs
from mossfuse.engine.files import fuse_files
from mossfuse.engine.streaming import (
    GeoTiffReader,
    LoadedReader,
    NpyReader,
    StreamedInputs,
    open_reader,
    open_writer,
)
from mossfuse.engine.tiling import fuse_tiled
from mossfuse.errors import MossfuseInputError

WL = np.arange(400, 701, 10.0)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    lr = rng.random((31, 12, 10), dtype=np.float32)
    hr = rng.random((3, 96, 80), dtype=np.float32)
    return tmp_path, lr, hr


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial." in p.name)


@pytest.mark.parametrize("ext", ["npy", "tif", "mat"])
def test_windows_equal_slices_of_the_whole_cube(pair, ext):
    tmp, _, hr = pair
    path = write_cube(hr, tmp / f"hr.{ext}", wavelengths=[450, 550, 650])
    reader = open_reader(path)
    assert isinstance(reader, {"npy": NpyReader, "tif": GeoTiffReader, "mat": LoadedReader}[ext])
    whole = read_cube(path).cube
    assert reader.shape == whole.shape
    np.testing.assert_array_equal(reader.read((8, 40), (16, 80)), whole[:, 8:40, 16:80])
    np.testing.assert_array_equal(reader.read_all(), whole)
    if ext != "npy":
        np.testing.assert_allclose(reader.wavelengths_nm, [450, 550, 650])


def test_integer_files_are_scaled_per_window_like_read_cube(tmp_path):
    data = np.random.default_rng(0).integers(0, 65535, (40, 30, 3), dtype=np.uint16)
    np.save(tmp_path / "u16.npy", data)
    np.save(tmp_path / "two_d.npy", data[..., 0])
    reader = open_reader(tmp_path / "u16.npy")
    np.testing.assert_array_equal(reader.read((5, 25), (0, 30)),
                                  read_cube(tmp_path / "u16.npy").cube[:, 5:25])
    assert open_reader(tmp_path / "two_d.npy").shape == (1, 40, 30)
    np.save(tmp_path / "i32.npy", data.astype(np.int32))
    with pytest.raises(MossfuseInputError, match="scale="):
        open_reader(tmp_path / "i32.npy")
    with pytest.raises(MossfuseInputError, match="outside"):
        reader.read((0, 41), (0, 3))


def test_streamed_inputs_check_the_ratio_and_give_exact_windows(pair):
    tmp, lr, hr = pair
    write_cube(lr, tmp / "lr.npy")
    write_cube(hr, tmp / "hr.npy")
    src = StreamedInputs.open(tmp / "lr.npy", tmp / "hr.npy")
    assert src.ratio == 8 and src.out_shape == (31, 96, 80)
    win = src.window((3, 7), (2, 6))
    assert isinstance(win, FusionInputs)
    np.testing.assert_array_equal(win.lr_hsi, lr[:, 3:7, 2:6])
    np.testing.assert_array_equal(win.hr_msi, hr[:, 24:56, 16:48])
    with pytest.raises(MossfuseInputError, match="not ratio 4"):
        StreamedInputs.open(tmp / "lr.npy", tmp / "hr.npy", ratio=4)
    write_cube(hr[:, :90], tmp / "hr_bad.npy")
    with pytest.raises(MossfuseInputError, match="integer multiple"):
        StreamedInputs.open(tmp / "lr.npy", tmp / "hr_bad.npy")


@pytest.mark.parametrize("ext", ["npy", "tif", "npz"])
def test_streamed_output_equals_in_memory_tiled_fusion(pair, ext):
    tmp, lr, hr = pair
    write_cube(lr, tmp / "lr.npy")
    write_cube(hr, tmp / "hr.tif")
    inputs = FusionInputs(lr, hr, ratio=8)
    expected = fuse_tiled(PixelLocal(), inputs, tile=32, overlap=16)
    src = StreamedInputs.open(tmp / "lr.npy", tmp / "hr.tif")
    report = fuse_files(src, tmp / f"out.{ext}", PixelLocal(), tile=32, overlap=16)
    assert report.hr_hsi is None and report.tiles_fused == len(report.plan)
    np.testing.assert_array_equal(read_cube(tmp / f"out.{ext}").cube, expected)
    assert _leftovers(tmp) == []


def test_geotiff_output_keeps_crs_and_scales_the_lr_transform_by_r(pair):
    tmp, lr, hr = pair
    lr_t = Affine(240.0, 0.0, 500000.0, 0.0, -240.0, 4100000.0)
    write_cube(lr, tmp / "lr.tif", wavelengths=WL, meta={"crs": "EPSG:32633", "transform": lr_t})
    write_cube(hr, tmp / "hr.tif")  # not georeferenced: the LR grid decides
    src = StreamedInputs.open(tmp / "lr.tif", tmp / "hr.tif")
    fuse_files(src, tmp / "out.tif", PixelLocal(), tile=32, overlap=16)
    with rasterio.open(tmp / "out.tif") as ds:
        assert ds.crs.to_epsg() == 32633
        assert ds.transform == Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4100000.0)
        assert (ds.count, ds.height, ds.width) == (31, 96, 80)
    np.testing.assert_allclose(read_cube(tmp / "out.tif").wavelengths_nm, WL)
    # an HR-MSI with its own georeferencing wins
    hr_t = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4100000.0)
    write_cube(hr, tmp / "hr_geo.tif", meta={"crs": "EPSG:32633", "transform": hr_t})
    src = StreamedInputs.open(tmp / "lr.tif", tmp / "hr_geo.tif")
    fuse_files(src, tmp / "out2.tif", PixelLocal(), tile=32, overlap=16)
    with rasterio.open(tmp / "out2.tif") as ds:
        assert ds.transform == hr_t


def test_failed_run_leaves_no_output_and_keeps_an_older_file(pair):
    tmp, lr, hr = pair
    write_cube(lr, tmp / "lr.npy")
    write_cube(hr, tmp / "hr.npy")
    src = StreamedInputs.open(tmp / "lr.npy", tmp / "hr.npy")
    for ext in ("npy", "tif"):
        with pytest.raises(RuntimeError, match="interruption"):
            fuse_files(src, tmp / f"new.{ext}", Failing(interrupt_after=3), tile=32, overlap=16)
        assert not (tmp / f"new.{ext}").exists()
    (tmp / "old.npy").write_bytes(b"previous result")
    with pytest.raises(RuntimeError):
        fuse_files(src, tmp / "old.npy", Failing(interrupt_after=3), tile=32, overlap=16)
    assert (tmp / "old.npy").read_bytes() == b"previous result"
    assert _leftovers(tmp) == []


def test_writer_rejects_a_window_of_the_wrong_shape(tmp_path):
    with pytest.raises(ValueError, match="expected"), \
            open_writer(tmp_path / "o.npy", (2, 8, 8)) as w:
        w.write((0, 4), (0, 4), np.zeros((2, 4, 3), np.float32))
    assert list(tmp_path.iterdir()) == []
