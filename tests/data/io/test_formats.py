"""One module per format: its window read equals the same window of its whole read, and
read_cube (in memory) and the streamed readers agree value for value."""

from __future__ import annotations

import numpy as np
import pytest

from mossfuse.data.io import envi, geotiff, mat, npy, read_cube, write_cube
from mossfuse.engine.streaming import open_reader

ROWS, COLS = (1, 4), (2, 7)


@pytest.fixture
def cube() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1, (4, 6, 8)).astype(np.float32)


@pytest.mark.parametrize("suffix", [".npy", ".mat", ".hdr", ".tif"])
def test_window_equals_the_window_of_the_whole_read(tmp_path, cube, suffix):
    path = write_cube(cube, tmp_path / f"c{suffix}", wavelengths=[450, 550, 650, 750])
    module = {".npy": npy, ".mat": mat, ".hdr": envi, ".tif": geotiff}[suffix]
    whole = module.read(path).data
    np.testing.assert_array_equal(whole, cube)
    if module is geotiff:
        with geotiff.open_dataset(path) as ds:
            win = geotiff.read_window(ds, ROWS, COLS)
    else:
        win = module.read_window(path, ROWS, COLS)
    np.testing.assert_array_equal(win, whole[:, ROWS[0] : ROWS[1], COLS[0] : COLS[1]])


@pytest.mark.parametrize("suffix", [".npy", ".tif", ".mat", ".hdr"])
def test_streamed_and_in_memory_reads_agree(tmp_path, suffix):
    raw = np.random.default_rng(1).integers(0, 65535, (6, 8, 3), dtype=np.uint16)
    path = tmp_path / f"c{suffix}"
    if suffix == ".npy":
        np.save(path, raw)
    else:  # float files: the same values scaled
        write_cube(np.moveaxis(raw, -1, 0) / np.float32(65535), path, wavelengths=[1, 2, 3])
    scene = read_cube(path)
    reader = open_reader(path)
    np.testing.assert_array_equal(reader.read(ROWS, COLS),
                                  scene.cube[:, ROWS[0] : ROWS[1], COLS[0] : COLS[1]])
    if scene.wavelengths_nm is not None:
        np.testing.assert_array_equal(reader.wavelengths_nm, scene.wavelengths_nm)


def test_geotiff_tags_round_trip():
    from mossfuse.data.io.wavelengths import from_geotiff_tags, geotiff_tags

    tags, band_tags = geotiff_tags(np.array([450.0, 550.5]))
    np.testing.assert_array_equal(from_geotiff_tags(tags, band_tags, 2), [450.0, 550.5])
    np.testing.assert_array_equal(from_geotiff_tags({}, band_tags, 2), [450.0, 550.5])
    assert from_geotiff_tags(tags, band_tags, 3) is None
    assert from_geotiff_tags({"wavelengths_nm": "a,b"}, band_tags, 2) is None
