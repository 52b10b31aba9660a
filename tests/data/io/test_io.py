"""Cube file I/O: every reader round-trips with its writer, scaling is explicit, bad files raise
MossfuseInputError naming the file, and a failed write leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from affine import Affine
from rasterio.crs import CRS

from mossfuse.data.io import load_mat_variables, normalize_cube, read_cube, write_cube
from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError

WL = np.array([450.0, 550.0, 650.0])
ALL_EXTS = [".mat", ".npy", ".npz", ".hdr", ".tif"]


@pytest.fixture
def cube(rng) -> np.ndarray:
    """(bands, H, W) with H != W so a transposition cannot pass unnoticed."""
    return rng.random((3, 5, 4), dtype=np.float32)


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("ext", ALL_EXTS)
def test_write_then_read_round_trips_values_shape_and_wavelengths(tmp_path, cube, ext):
    path = tmp_path / f"x{ext}"
    write_cube(cube, path, wavelengths=WL)
    scene = read_cube(path)
    assert scene.cube.dtype == np.float32
    assert scene.cube.shape == (3, 5, 4)
    np.testing.assert_array_equal(scene.cube, cube)
    if ext == ".npy":  # a .npy holds the array only
        assert scene.wavelengths_nm is None
    else:
        np.testing.assert_allclose(scene.wavelengths_nm, WL)
    assert scene.meta["scale"] == 1.0
    assert "nodata_mask" not in scene.meta


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("ext", ALL_EXTS)
def test_files_store_height_width_bands(tmp_path, cube, ext):
    path = tmp_path / f"x{ext}"
    write_cube(cube, path)
    if ext == ".mat":
        stored = scipy.io.loadmat(path)["cube"]
    elif ext == ".npy":
        stored = np.load(path)
    elif ext == ".npz":
        stored = np.load(path)["cube"]
    elif ext == ".hdr":
        from spectral.io import envi

        stored = np.asarray(envi.open(str(path)).load())
    else:
        import rasterio

        with rasterio.open(path) as ds:  # rasterio's own order is (bands, H, W)
            stored = np.moveaxis(ds.read(), 0, -1)
    assert stored.shape == (5, 4, 3)
    np.testing.assert_array_equal(stored, np.moveaxis(cube, 0, -1))


def test_scene_round_trip_keeps_wavelengths_from_the_scene(tmp_path, cube):
    write_cube(Scene(cube, WL, "s"), tmp_path / "s.npz")
    np.testing.assert_allclose(read_cube(tmp_path / "s.npz").wavelengths_nm, WL)


def test_geotiff_round_trip_keeps_crs_transform_band_names_and_wavelengths(tmp_path, cube):
    transform = Affine(30.0, 0.0, 500000.0, 0.0, -30.0, 4200000.0)
    meta = {"crs": "EPSG:32615", "transform": transform, "band_names": ("b1", "b2", "b3")}
    write_cube(Scene(cube, WL, "g", meta), tmp_path / "g.tiff")
    scene = read_cube(tmp_path / "g.tiff")
    np.testing.assert_array_equal(scene.cube, cube)
    assert scene.meta["crs"] == CRS.from_epsg(32615)
    assert scene.meta["transform"] == transform
    assert scene.meta["band_names"] == ("b1", "b2", "b3")
    np.testing.assert_allclose(scene.wavelengths_nm, WL)


def test_envi_reads_from_either_file_and_keeps_band_names(tmp_path, cube):
    hdr = write_cube(cube, tmp_path / "e.img", wavelengths=WL, meta={"band_names": ["a", "b", "c"]})
    assert hdr == tmp_path / "e.hdr"
    assert _files(tmp_path) == ["e.hdr", "e.img"]
    for p in (tmp_path / "e.hdr", tmp_path / "e.img"):
        scene = read_cube(p)
        np.testing.assert_array_equal(scene.cube, cube)
        np.testing.assert_allclose(scene.wavelengths_nm, WL)
        assert scene.meta["band_names"] == ("a", "b", "c")


def test_envi_wavelengths_in_micrometres_are_converted_to_nm(tmp_path, cube):
    from spectral.io import envi

    md = {"wavelength": ["0.45", "0.55", "0.65"], "wavelength units": "Micrometers"}
    envi.save_image(str(tmp_path / "u.hdr"), np.moveaxis(cube, 0, -1), metadata=md)
    np.testing.assert_allclose(read_cube(tmp_path / "u.hdr").wavelengths_nm, WL)


def test_mat_key_is_configurable(tmp_path, cube):
    write_cube(cube, tmp_path / "k.mat", key="ref")
    assert read_cube(tmp_path / "k.mat").meta["key"] == "ref"
    np.testing.assert_array_equal(read_cube(tmp_path / "k.mat", "ref").cube, cube)


def test_write_over_an_existing_file_replaces_it(tmp_path, cube):
    write_cube(cube, tmp_path / "x.npy")
    write_cube(cube * 0.5, tmp_path / "x.npy")
    np.testing.assert_array_equal(read_cube(tmp_path / "x.npy").cube, cube * 0.5)
    assert _files(tmp_path) == ["x.npy"]


# ------------------------------------------------------------------------------ MATLAB v7.3
def _write_v73(path: Path, variables: dict[str, np.ndarray]) -> None:
    """Write like MATLAB -v7.3: HDF5 with a 512-byte user block, arrays column-major."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for k, v in variables.items():
            ds = f.create_dataset(k, data=np.asarray(v).T)
            ds.attrs["MATLAB_class"] = np.bytes_("double" if v.dtype == np.float64 else "uint16")


def test_v73_arrays_come_back_in_matlab_axis_order(tmp_path, rng):
    hwb = rng.random((6, 5, 4))  # MATLAB H x W x B
    _write_v73(tmp_path / "v73.mat", {"cube": hwb, "wl": np.arange(4.0)[None, :]})
    variables = load_mat_variables(tmp_path / "v73.mat")
    assert variables["cube"].shape == (6, 5, 4)
    assert variables["wl"].shape == (1, 4)
    np.testing.assert_array_equal(variables["cube"], hwb)
    scene = read_cube(tmp_path / "v73.mat")
    assert scene.cube.shape == (4, 6, 5)
    np.testing.assert_allclose(scene.cube, np.moveaxis(hwb, -1, 0).astype(np.float32))


def test_v73_and_v5_give_the_same_variables(tmp_path, rng):
    hwb = (rng.random((6, 5, 4)) * 65535).astype(np.uint16)
    _write_v73(tmp_path / "a.mat", {"data": hwb})
    scipy.io.savemat(tmp_path / "b.mat", {"data": hwb})
    a, b = load_mat_variables(tmp_path / "a.mat"), load_mat_variables(tmp_path / "b.mat")
    np.testing.assert_array_equal(a["data"], b["data"])
    np.testing.assert_array_equal(read_cube(tmp_path / "a.mat").cube,
                                  read_cube(tmp_path / "b.mat").cube)


def test_load_mat_variables_skips_header_entries(tmp_path):
    scipy.io.savemat(tmp_path / "m.mat", {"R": np.eye(3)})
    assert list(load_mat_variables(tmp_path / "m.mat")) == ["R"]


# ------------------------------------------------------------------------------ key selection
def test_ambiguous_cube_variables_raise_listing_keys_and_shapes(tmp_path, cube):
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"a": np.zeros((2, 2, 3)), "b": np.zeros((4, 4, 3))})
    with pytest.raises(MossfuseInputError, match=r"a \(2, 2, 3\), b \(4, 4, 3\)") as exc:
        read_cube(path)
    assert str(path) in str(exc.value)
    assert read_cube(path, "b").cube.shape == (3, 4, 4)


def test_unknown_key_raises_listing_keys(tmp_path, cube):
    np.savez(tmp_path / "z.npz", hsi=np.moveaxis(cube, 0, -1))
    with pytest.raises(MossfuseInputError, match=r"'msi'.*hsi \(5, 4, 3\)"):
        read_cube(tmp_path / "z.npz", "msi")


def test_no_cube_variable_raises(tmp_path):
    scipy.io.savemat(tmp_path / "v.mat", {"v": np.arange(5.0)})
    with pytest.raises(MossfuseInputError, match="give key="):
        read_cube(tmp_path / "v.mat")


def test_two_dimensional_array_reads_as_one_band(tmp_path, rng):
    img = rng.random((5, 4)).astype(np.float32)
    np.save(tmp_path / "p.npy", img)
    scene = read_cube(tmp_path / "p.npy")
    assert scene.cube.shape == (1, 5, 4)
    scipy.io.savemat(tmp_path / "p.mat", {"pan": img})
    assert read_cube(tmp_path / "p.mat").cube.shape == (1, 5, 4)


def test_chw_layout(tmp_path, cube):
    np.save(tmp_path / "c.npy", cube)
    np.testing.assert_array_equal(read_cube(tmp_path / "c.npy", layout="chw").cube, cube)
    with pytest.raises(MossfuseInputError, match="layout"):
        read_cube(tmp_path / "c.npy", layout="whc")


def test_wavelengths_argument_overrides_and_is_checked(tmp_path, cube):
    write_cube(cube, tmp_path / "w.npz", wavelengths=WL)
    np.testing.assert_allclose(read_cube(tmp_path / "w.npz", wavelengths=[1, 2, 3]).wavelengths_nm,
                               [1, 2, 3])
    with pytest.raises(MossfuseInputError, match="2 wavelengths for a cube of 3 bands"):
        read_cube(tmp_path / "w.npz", wavelengths=[1, 2])


# ------------------------------------------------------------------------------ scaling
@pytest.mark.parametrize(("dtype", "divisor"), [(np.uint8, 255.0), (np.uint16, 65535.0)])
def test_unsigned_integers_are_divided_by_their_full_scale(tmp_path, dtype, divisor):
    data = np.array([[[0, 1], [int(divisor), 7]]], dtype=dtype).transpose(1, 2, 0)  # (2, 2, 1)
    np.save(tmp_path / "i.npy", data)
    scene = read_cube(tmp_path / "i.npy")
    assert scene.meta["scale"] == divisor
    np.testing.assert_allclose(scene.cube[0], data[..., 0] / divisor, rtol=1e-6)


def test_other_integers_need_an_explicit_scale(tmp_path):
    np.save(tmp_path / "i.npy", np.full((2, 2, 2), 1000, np.int16))
    with pytest.raises(MossfuseInputError, match="give scale=") as exc:
        read_cube(tmp_path / "i.npy")
    assert "i.npy" in str(exc.value)
    scene = read_cube(tmp_path / "i.npy", scale=4000)
    assert scene.meta["scale"] == 4000.0
    np.testing.assert_allclose(scene.cube, 0.25)


def test_float_outside_unit_range_raises_unless_allowed(tmp_path):
    np.save(tmp_path / "f.npy", np.full((2, 2, 2), 3.0))
    with pytest.raises(MossfuseInputError, match="scale="):
        read_cube(tmp_path / "f.npy")
    assert read_cube(tmp_path / "f.npy", allow_unnormalized=True).cube.max() == 3.0
    np.testing.assert_allclose(read_cube(tmp_path / "f.npy", scale=6.0).cube, 0.5)


def test_scale_too_small_for_integer_data_raises(tmp_path):
    np.save(tmp_path / "i.npy", np.full((2, 2, 2), 100, np.uint16))
    with pytest.raises(MossfuseInputError, match=r"\[0, 1\]"):
        read_cube(tmp_path / "i.npy", scale=10)


def test_nonpositive_scale_raises():
    with pytest.raises(MossfuseInputError, match="positive"):
        normalize_cube(np.ones((1, 2, 2)), scale=0)


def test_nan_pixels_are_kept_and_masked(tmp_path, cube):
    cube = cube.copy()
    cube[1, 2, 3] = np.nan
    write_cube(cube, tmp_path / "n.tif")
    scene = read_cube(tmp_path / "n.tif")
    assert np.isnan(scene.cube[1, 2, 3])
    assert not np.isnan(scene.cube[0, 2, 3])
    expected = np.zeros((5, 4), bool)
    expected[2, 3] = True
    np.testing.assert_array_equal(scene.meta["nodata_mask"], expected)


def test_geotiff_nodata_sentinel_becomes_nan_and_is_masked(tmp_path, cube):
    cube = cube.copy()
    cube[:, 0, 1] = -9999.0
    write_cube(cube, tmp_path / "s.tif", meta={"nodata": -9999.0})
    scene = read_cube(tmp_path / "s.tif")
    assert scene.meta["nodata"] == -9999.0
    assert np.isnan(scene.cube[:, 0, 1]).all()
    assert scene.meta["nodata_mask"].sum() == 1 and scene.meta["nodata_mask"][0, 1]
    np.testing.assert_array_equal(scene.cube[:, 1:], cube[:, 1:])


# ------------------------------------------------------------------------------ bad files
def _valid_file(tmp_path: Path, ext: str, rng) -> Path:
    path = tmp_path / f"good{ext}"
    write_cube(rng.random((8, 64, 64), dtype=np.float32), path)
    return path


@pytest.mark.parametrize("ext", [".mat", ".npy", ".npz", ".tif", ".hdr"])
@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_damaged_files_raise_input_error_naming_the_file(tmp_path, rng, ext, damage):
    if damage == "truncated":
        path = _valid_file(tmp_path, ext, rng)
        target = path.with_suffix(".img") if ext == ".hdr" else path
        raw = target.read_bytes()
        target.write_bytes(raw[: len(raw) // 2])
    else:
        path = tmp_path / f"bad{ext}"
        path.write_bytes(b"" if damage == "empty" else b"this is not a cube file\n" * 20)
        if ext == ".hdr":
            path.with_suffix(".img").write_bytes(b"\0" * 16)
    with pytest.raises(MossfuseInputError) as exc:
        read_cube(path)
    assert path.stem in str(exc.value)


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
def test_damaged_v73_raises_input_error(tmp_path, rng, damage):
    path = tmp_path / "v73.mat"
    _write_v73(path, {"cube": rng.random((32, 32, 8))})
    raw = path.read_bytes()
    path.write_bytes({"empty": b"", "garbage": b"MATLAB 7.3 MAT-file" + b"\x17" * 600,
                      "truncated": raw[: len(raw) // 2]}[damage])
    with pytest.raises(MossfuseInputError, match="v73.mat"):
        load_mat_variables(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(MossfuseInputError, match="not found"):
        read_cube(tmp_path / "nope.mat")
    (tmp_path / "x.xyz").write_bytes(b"1")
    with pytest.raises(MossfuseInputError, match="extension"):
        read_cube(tmp_path / "x.xyz")


# ------------------------------------------------------------------------------ atomic writes
def _failing_writer(*args, **kwargs):
    """Write some bytes where the real writer would (its first path argument), then fail."""
    target = Path(str(args[0]))
    target.write_bytes(b"partial")
    if target.suffix == ".hdr":  # ENVI: the data file too
        target.with_suffix(".img").write_bytes(b"partial")
    raise RuntimeError("disk full")


@pytest.mark.parametrize(
    ("ext", "target"),
    [
        (".mat", "scipy.io.savemat"),
        (".npy", "numpy.save"),
        (".npz", "numpy.savez"),
        (".hdr", "spectral.io.envi.save_image"),
        (".tif", "rasterio.open"),
    ],
)
def test_failed_write_leaves_no_partial_file_and_keeps_the_old_one(
    tmp_path, monkeypatch, cube, ext, target
):
    path = tmp_path / f"out{ext}"
    write_cube(cube, path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    monkeypatch.setattr(target, _failing_writer)
    with pytest.raises(RuntimeError, match="disk full"):
        write_cube(cube * 0.5, path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    (fresh := tmp_path / "fresh").mkdir()
    with pytest.raises(RuntimeError, match="disk full"):
        write_cube(cube, fresh / f"new{ext}")
    assert _files(fresh) == []


def test_write_rejects_bad_shapes_and_metadata(tmp_path):
    with pytest.raises(MossfuseInputError, match="bands, H, W"):
        write_cube(np.zeros((2, 2, 2, 2)), tmp_path / "x.npy")
    with pytest.raises(MossfuseInputError, match="wavelengths"):
        write_cube(np.zeros((2, 2, 2)), tmp_path / "x.npz", wavelengths=[1.0])
    with pytest.raises(MossfuseInputError, match="band_names"):
        write_cube(np.zeros((2, 2, 2)), tmp_path / "x.tif", meta={"band_names": ["a"]})
    assert _files(tmp_path) == []
