"""read_cube on a user's own files: explicit scaling of every dtype, whole-pixel no-data values,
wavelength specs, and clear messages for files of the wrong kind."""

from __future__ import annotations

import numpy as np
import pytest

from mossfuse.data.io import parse_wavelengths, read_cube, write_cube
from mossfuse.errors import MossfuseInputError


@pytest.mark.parametrize(("dtype", "scale", "divisor"), [
    (np.uint8, None, 255.0),
    (np.uint16, None, 65535.0),
    (np.uint16, 10000.0, 10000.0),  # e.g. reflectance x 10^4 stored as uint16
    (np.int16, 4096.0, 4096.0),
    (np.int32, 1000.0, 1000.0),
    (np.float32, None, 1.0),
    (np.float64, 2.0, 2.0),
])
@pytest.mark.parametrize("ext", [".npy", ".mat", ".tif"])
def test_every_dtype_is_scaled_by_the_recorded_divisor(tmp_path, dtype, scale, divisor, ext):
    rng = np.random.default_rng(0)
    top = 1.0 if np.dtype(dtype).kind == "f" else divisor
    data = (rng.random((6, 5, 4)) * top).astype(dtype)
    if np.dtype(dtype).kind == "f" and scale is not None:
        data = (data * scale).astype(dtype)
    path = tmp_path / f"c{ext}"
    if ext == ".npy":
        np.save(path, data)
    elif ext == ".mat":
        import scipy.io

        scipy.io.savemat(path, {"cube": data})
    else:
        import rasterio

        with rasterio.open(path, "w", driver="GTiff", height=6, width=5, count=4,
                           dtype=np.dtype(dtype).name) as ds:
            ds.write(np.moveaxis(data, -1, 0))
    scene = read_cube(path, scale=scale)
    assert scene.meta["scale"] == divisor
    assert scene.cube.dtype == np.float32
    np.testing.assert_allclose(scene.cube, np.moveaxis(data, -1, 0) / divisor, rtol=1e-5,
                               atol=1e-7)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint32, np.int64])
def test_integer_types_without_a_natural_full_scale_need_scale(tmp_path, dtype):
    np.save(tmp_path / "i.npy", np.full((2, 3, 4), 7, dtype))
    with pytest.raises(MossfuseInputError, match="--hsi-scale/--msi-scale") as exc:
        read_cube(tmp_path / "i.npy")
    assert "i.npy" in str(exc.value) and np.dtype(dtype).name in str(exc.value)


def test_nodata_value_masks_whole_pixels_only(tmp_path):
    rgb = np.full((4, 5, 3), 100, np.uint8)
    rgb[1, 2] = 0  # a black no-data pixel
    rgb[3, 4, 0] = 0  # a pixel dark in one channel only: data
    np.save(tmp_path / "rgb.npy", rgb)
    scene = read_cube(tmp_path / "rgb.npy", nodata=0)
    mask = scene.meta["nodata_mask"]
    assert mask.sum() == 1 and mask[1, 2]
    assert np.isnan(scene.cube[:, 1, 2]).all()
    assert scene.cube[0, 3, 4] == 0.0 and np.isfinite(scene.cube[:, 3, 4]).all()
    assert "nodata_mask" not in read_cube(tmp_path / "rgb.npy").meta
    with pytest.raises(MossfuseInputError, match="finite"):
        read_cube(tmp_path / "rgb.npy", nodata=float("nan"))


def test_nan_pixels_in_float_files_are_masked_in_every_format(tmp_path):
    cube = np.full((3, 4, 5), 0.5, np.float32)
    cube[:, 2, 3] = np.nan
    for ext in (".npy", ".npz", ".mat", ".tif", ".hdr"):
        scene = read_cube(write_cube(cube, tmp_path / f"c{ext}"))
        assert scene.meta["nodata_mask"].sum() == 1 and scene.meta["nodata_mask"][2, 3], ext


@pytest.mark.parametrize(("ext", "needle"), [(".npy", "not a .npy file"),
                                             (".npz", "not a .npz archive")])
def test_a_file_of_another_kind_is_named_as_such(tmp_path, ext, needle):
    path = tmp_path / f"x{ext}"
    write_cube(np.zeros((2, 3, 4), np.float32), tmp_path / "real.tif")
    path.write_bytes((tmp_path / "real.tif").read_bytes())  # a GeoTIFF renamed
    with pytest.raises(MossfuseInputError, match=needle) as exc:
        read_cube(path)
    assert str(exc.value).startswith(str(path))


def test_parse_wavelengths_specs_and_files(tmp_path):
    np.testing.assert_allclose(parse_wavelengths("380:1050:48"), np.linspace(380, 1050, 48))
    assert parse_wavelengths("450, 550,650").tolist() == [450.0, 550.0, 650.0]
    assert parse_wavelengths("0.45,0.55").tolist() == [450.0, 550.0]  # micrometres
    f = tmp_path / "wl.csv"
    f.write_text("wavelength_nm,fwhm\n450,10\n550,10\n650,12\n")
    assert parse_wavelengths(f, bands=3).tolist() == [450.0, 550.0, 650.0]
    with pytest.raises(MossfuseInputError, match="4 wavelengths for a cube of 3 bands"):
        parse_wavelengths("1,2,3,4", bands=3)
    with pytest.raises(MossfuseInputError, match="increasing"):
        parse_wavelengths("550,450")
    with pytest.raises(MossfuseInputError, match="START:STOP:COUNT"):
        parse_wavelengths("four hundred")
    (tmp_path / "empty.txt").write_text("no numbers here\n")
    with pytest.raises(MossfuseInputError, match="empty.txt"):
        parse_wavelengths(tmp_path / "empty.txt")
