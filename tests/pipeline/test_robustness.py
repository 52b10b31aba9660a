"""Robustness of ``mossfuse fuse`` on a user's own files (issue #6, item 7).

Tiny synthetic arrays written to temporary files and run through the CLI in process
(``mossfuse.cli.main``): band counts from 1 to 224, non-square and odd sizes and ratios, the
size policy (no pad, no crop), NaN / no-data pixels and masks, uint8 / uint16 / int16 / float
inputs with explicit scaling, georeferenced extents, SRF versus band metadata, and the SRF
plausibility warning on real camera curves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import torch

from mossfuse.cli import main
from mossfuse.data.io import read_cube, write_cube
from mossfuse.physics.psf import gaussian_kernel
from mossfuse.physics.spatial import spatial_degrade
from mossfuse.pipeline import fuse_with_report
from mossfuse.pipeline.report import _srf_warnings

torch.set_num_threads(1)

FAST = {"cnmf": '{"n_inner": 5, "n_outer": 1, "n_endmembers": 4, "min_endmembers": 2}'}


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def _config(tmp_path: Path, method: str) -> list[str]:
    if method not in FAST:
        return []
    cfg = tmp_path / f"{method}.json"
    cfg.write_text(FAST[method])
    return ["--config", cfg]


def _scene(bands: int, h: int, w: int, wl: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """A smooth ``(bands, h, w)`` scene in [0, 1] mixing 6 smooth spectra."""
    rng = np.random.default_rng(seed)
    ab = scipy.ndimage.gaussian_filter(rng.random((6, h, w)), (0, 2, 2))
    ab -= ab.min(axis=(1, 2), keepdims=True)
    ab /= ab.max(axis=(1, 2), keepdims=True) + 1e-12
    sp = rng.random((bands, 6))
    if bands > 3:
        sp = scipy.ndimage.gaussian_filter1d(sp, max(1.0, bands / 20), axis=0)
    x = np.einsum("bk,khw->bhw", 0.1 + 0.8 * sp, ab) / 6
    return np.clip(x, 0, 1)


def _gauss_srf(wl: np.ndarray, centres: tuple[float, ...], width: float = 30.0) -> np.ndarray:
    srf = np.stack([np.exp(-0.5 * ((wl - c) / width) ** 2) for c in centres])
    return srf / srf.sum(1, keepdims=True)


def _pair(bands: int, msi_bands: int, h: int, w: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lr (B, h, w), hr (b, r h, r w))`` related by a Gaussian PSF and a random SRF."""
    x = _scene(bands, r * h, r * w)
    k = max(3, r + 1 - r % 2)
    lr = np.asarray(spatial_degrade(x, gaussian_kernel(k, r / 3), r, r // 2, centre=k // 2,
                                    padding="reflect"))
    srf = np.random.default_rng(1).random((msi_bands, bands))
    srf /= srf.sum(1, keepdims=True)
    return lr.astype(np.float32), np.einsum("jb,bhw->jhw", srf, x).astype(np.float32)


# ------------------------------------------------------------------ band counts and odd sizes
@pytest.mark.parametrize("method", ["bicubic", "gsa", "cnmf"])
@pytest.mark.parametrize(
    ("bands", "msi_bands", "h", "w", "r"),
    [(3, 1, 5, 7, 3), (3, 8, 4, 3, 2), (48, 3, 9, 6, 4), (224, 4, 6, 5, 2), (31, 2, 1, 1, 4)],
)
def test_band_counts_and_non_square_odd_sizes_fuse(capsys, tmp_path, method, bands, msi_bands,
                                                  h, w, r):
    lr, hr = _pair(bands, msi_bands, h, w, r)
    write_cube(lr, tmp_path / "lr.npy")
    write_cube(hr, tmp_path / "hr.npy")
    code, out, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi",
                         tmp_path / "hr.npy", "--method", method, "--out", tmp_path / "o.npy",
                         *_config(tmp_path, method))
    assert code == 0, err
    fused = np.load(tmp_path / "o.npy")
    assert fused.shape == (r * h, r * w, bands)
    assert np.isfinite(fused).all()


@pytest.mark.parametrize(("bands", "msi_bands", "h", "w", "r"),
                         [(3, 1, 9, 7, 3), (224, 8, 6, 5, 2), (48, 3, 7, 9, 4)])
def test_report_path_handles_band_counts_and_odd_sizes(capsys, tmp_path, bands, msi_bands,
                                                      h, w, r):
    lr, hr = _pair(bands, msi_bands, h, w, r)
    write_cube(lr, tmp_path / "lr.tif")
    write_cube(hr, tmp_path / "hr.tif")
    code, out, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.tif", "--hr-msi",
                         tmp_path / "hr.tif", "--method", "gsa", "--out", tmp_path / "o.tif",
                         "--report", tmp_path / "rep")
    assert code == 0, err
    fused = read_cube(tmp_path / "o.tif").cube
    assert fused.shape == (bands, r * h, r * w)
    srf = np.loadtxt(tmp_path / "o.srf.csv", delimiter=",", skiprows=1)
    assert srf.shape == (bands, 1 + msi_bands)
    assert (tmp_path / "rep" / "index.html").is_file()


def test_report_refuses_an_lr_hsi_too_small_to_estimate_with_a_clear_line(capsys, tmp_path):
    lr, hr = _pair(31, 3, 2, 3, 4)
    write_cube(lr, tmp_path / "lr.npy")
    write_cube(hr, tmp_path / "hr.npy")
    code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi",
                       tmp_path / "hr.npy", "--out", tmp_path / "o.npy", "--report",
                       tmp_path / "rep")
    line = one_error_line(err)
    assert code == 2 and "lr.npy" in line and "too small" in line and "2 x 3" in line
    assert not (tmp_path / "o.npy").exists() and not (tmp_path / "rep").exists()


# ------------------------------------------------------------------ size policy: no pad/crop
@pytest.mark.parametrize(("hr_hw", "extra", "needle"), [
    ((16, 22), [], "crop the pair"),  # 5 x 7 LR: one extra HR row/column, not a multiple
    ((15, 28), [], "one ratio for both axes"),  # ratio 3 on rows, 4 on columns
    ((15, 21), ["--ratio", "4"], "expected 20 x 28"),
])
def test_size_policy_neither_pads_nor_crops(capsys, tmp_path, hr_hw, extra, needle):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "lr.npy", rng.random((5, 7, 8), dtype=np.float32))
    np.save(tmp_path / "hr.npy", rng.random((*hr_hw, 3), dtype=np.float32))
    out = tmp_path / "o.npy"
    code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi",
                       tmp_path / "hr.npy", "--out", out, *extra)
    line = one_error_line(err)
    assert code == 2 and needle in line and "hr.npy" in line
    assert "neither pads nor crops" in line
    assert not out.exists()


# ------------------------------------------------------------------ no-data: NaN and masks
def test_nan_pixels_are_refused_without_report_and_masked_with_it(capsys, tmp_path):
    lr, hr = _pair(16, 3, 16, 16, 4)
    hr[:, 20:30, 40:52] = np.nan
    write_cube(lr, tmp_path / "lr.npy")
    write_cube(hr, tmp_path / "hr.npy")
    args = ["fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi", tmp_path / "hr.npy",
            "--method", "gsa", "--out", tmp_path / "o.npy"]
    code, _, err = run(capsys, *args)
    line = one_error_line(err)
    assert code == 2 and "--report" in line and "120 no-data pixels" in line
    code, out, err = run(capsys, *args, "--report", tmp_path / "rep")
    assert code == 0, err
    fused = np.load(tmp_path / "o.npy")
    assert fused.shape == (64, 64, 16) and np.isfinite(fused).all()


def _degrade4(x: np.ndarray) -> np.ndarray:
    """x4 with the blind estimator's default geometry (3 taps, phase 1), sigma 0.8 px."""
    return np.asarray(spatial_degrade(x, gaussian_kernel(3, 0.8), 4, 1, centre=1,
                                      padding="reflect"))


def _rgb_pair(folder: Path, *, patch: bool, nodata_value: int | None = 0,
              seed: int = 0) -> tuple[Path, Path]:
    """uint16 48-band LR-HSI (380-1050 nm) + uint8 RGB, optionally with a black patch."""
    wl = np.linspace(380.0, 1050.0, 48)
    x = _scene(48, 96, 96, seed=seed)
    lr = _degrade4(x)
    rgb = np.einsum("jb,bhw->jhw", _gauss_srf(wl, (610.0, 540.0, 460.0)), x)
    rgb_u8 = np.round(np.clip(rgb / rgb.max(), 0, 1) * 255).astype(np.uint8)
    rgb_u8 = np.maximum(rgb_u8, 1)  # no true-black pixel outside the patch
    if patch:
        rgb_u8[:, 30:70, 60:90] = 0  # the black no-data patch of an orthophoto
    lr_u16 = np.round(np.clip(lr, 0, 1) * 65535).astype(np.uint16)
    np.save(folder / "lr.npy", np.moveaxis(lr_u16, 0, -1))
    np.save(folder / "hr.npy", np.moveaxis(rgb_u8, 0, -1))
    return folder / "lr.npy", folder / "hr.npy"


def test_black_no_data_patch_does_not_poison_the_blind_estimate(tmp_path):
    (clean_dir := tmp_path / "clean").mkdir()
    (patch_dir := tmp_path / "patch").mkdir()
    kw = {"method": "gsa", "wald_check": False, "hsi_wavelengths": np.linspace(380, 1050, 48)}
    clean = fuse_with_report(*_rgb_pair(clean_dir, patch=False), clean_dir / "o.npy", **kw)
    lr, hr = _rgb_pair(patch_dir, patch=True)
    masked = fuse_with_report(lr, hr, patch_dir / "m.npy", msi_nodata=0, **kw)
    unmasked = fuse_with_report(lr, hr, patch_dir / "u.npy", **kw)
    assert masked["inputs"]["hr_nodata"] == 40 * 30
    assert unmasked["inputs"]["hr_nodata"] == 0

    wl = kw["hsi_wavelengths"]

    def srf(s: dict) -> np.ndarray:
        return np.asarray(s["degradation"]["srf"], dtype=np.float64)

    def srf_err(s: dict) -> float:
        return float(np.linalg.norm(srf(s) - srf(clean)) / np.linalg.norm(srf(clean)))

    def centroids(s: dict) -> np.ndarray:
        return (srf(s) * wl).sum(1) / srf(s).sum(1)

    # equal to the estimate on the same no-data-free window of the patch-free pair ...
    r0, r1, c0, c1 = masked["degradation"]["window"]
    assert (r1 - r0) * (c1 - c0) < 24 * 24  # the patch and its margin were left out
    from mossfuse.data.scene import FusionInputs
    from mossfuse.physics.estimation import estimate_degradation

    lr_c, hr_c = read_cube(clean_dir / "lr.npy").cube, read_cube(clean_dir / "hr.npy").cube
    same_window = estimate_degradation(FusionInputs(
        lr_c[:, r0:r1, c0:c1], hr_c[:, 4 * r0 : 4 * r1, 4 * c0 : 4 * c1], 4, wl))
    np.testing.assert_allclose(srf(masked), same_window.srf, rtol=1e-4, atol=1e-5)
    assert masked["degradation"]["sigma"] == pytest.approx(same_window.sigma, abs=1e-4)
    # ... and close to the estimate on the whole patch-free scene
    assert srf_err(masked) < 0.1
    np.testing.assert_allclose(centroids(masked), centroids(clean), atol=8.0)
    assert abs(masked["degradation"]["sigma"] - clean["degradation"]["sigma"]) < 0.05
    assert masked["warnings"] == clean["warnings"] == []
    # the same patch taken as data (no mask) is what poisons the estimate
    assert srf_err(unmasked) > 0.5
    assert unmasked["degradation"]["residual"] > 5 * masked["degradation"]["residual"]
    assert any("estimated SRF" in w for w in unmasked["warnings"])
    assert np.isfinite(np.load(patch_dir / "m.npy")).all()


def test_msi_nodata_flag_masks_the_patch_from_the_cli(capsys, tmp_path):
    lr, hr = _rgb_pair(tmp_path, patch=True)
    code, out, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--method", "gsa",
                         "--hsi-wavelengths", "380:1050:48", "--msi-nodata", "0",
                         "--out", tmp_path / "o.tif", "--report", tmp_path / "rep")
    assert code == 0, err
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "1200 HR-MSI no-data pixels filled" in html
    code, _, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--msi-nodata", "0",
                       "--out", tmp_path / "p.npy")
    assert code == 2 and "--report" in one_error_line(err)


# ------------------------------------------------------------------ dtypes and scaling
def test_integer_inputs_are_scaled_explicitly(capsys, tmp_path):
    lr, hr = _pair(8, 3, 6, 5, 2)
    lr_u16 = np.round(lr * 65535).astype(np.uint16)
    hr_u8 = np.round(hr * 255).astype(np.uint8)
    np.save(tmp_path / "lr16.npy", np.moveaxis(lr_u16, 0, -1))
    np.save(tmp_path / "hr8.npy", np.moveaxis(hr_u8, 0, -1))
    np.save(tmp_path / "lrf.npy", np.moveaxis(lr_u16 / np.float32(65535), 0, -1))
    np.save(tmp_path / "hrf.npy", np.moveaxis(hr_u8 / np.float32(255), 0, -1))
    lr_i16 = lr_u16 // 4
    np.save(tmp_path / "lri16.npy", np.moveaxis(lr_i16.astype(np.int16), 0, -1))
    np.save(tmp_path / "lr_refl.npy", np.moveaxis(lr * 10000.0, 0, -1))  # reflectance x 10^4

    def fuse(lr_file: str, hr_file: str, out: str, *extra: str) -> tuple[int, str]:
        code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / lr_file, "--hr-msi",
                           tmp_path / hr_file, "--method", "bicubic", "--out", tmp_path / out,
                           *extra)
        return code, err

    assert fuse("lr16.npy", "hr8.npy", "a.npy")[0] == 0  # uint16 / 65535, uint8 / 255
    assert fuse("lrf.npy", "hrf.npy", "b.npy")[0] == 0
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"),
                               atol=1e-6)
    code, err = fuse("lri16.npy", "hr8.npy", "c.npy")  # int16: no implicit divisor
    line = one_error_line(err)
    assert code == 2 and "lri16.npy" in line and "int16" in line and "--hsi-scale" in line
    assert fuse("lri16.npy", "hr8.npy", "c.npy", "--hsi-scale", "16383.75")[0] == 0
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), np.load(tmp_path / "a.npy"),
                               atol=1e-4)
    code, err = fuse("lr_refl.npy", "hr8.npy", "d.npy")  # float outside [0, 1]
    line = one_error_line(err)
    assert code == 2 and "[0, 1]" in line and "--hsi-scale" in line
    assert fuse("lr_refl.npy", "hr8.npy", "d.npy", "--hsi-scale", "10000")[0] == 0
    np.testing.assert_allclose(np.load(tmp_path / "d.npy"), np.load(tmp_path / "b.npy"),
                               atol=1e-4)
    code, err = fuse("lr16.npy", "hr8.npy", "e.npy", "--msi-scale", "0")
    assert code == 2 and "positive" in one_error_line(err)


def test_tiled_path_takes_the_scale_flags(capsys, tmp_path):
    lr, hr = _pair(8, 3, 8, 8, 4)
    np.save(tmp_path / "lr.npy", np.moveaxis(np.round(lr * 1000).astype(np.int32), 0, -1))
    np.save(tmp_path / "hr.npy", np.moveaxis(hr, 0, -1))
    base = ["fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi", tmp_path / "hr.npy",
            "--method", "bicubic", "--tile-size", "16", "--overlap", "4"]
    code, _, err = run(capsys, *base, "--out", tmp_path / "o.npy")
    assert code == 2 and "--hsi-scale" in one_error_line(err)
    code, _, err = run(capsys, *base, "--hsi-scale", "1000", "--out", tmp_path / "o.npy")
    assert code == 0, err
    assert np.load(tmp_path / "o.npy").shape == (32, 32, 8)


# ------------------------------------------------------------------ corrupt / truncated files
def _damage(path: Path, how: str) -> Path:
    """Damage a written cube in place; returns the file that was damaged."""
    target = path.with_suffix(".img") if path.suffix == ".hdr" and how != "header" else path
    raw = target.read_bytes()
    target.write_bytes({"garbage": b"not a cube file!" * 40,
                        "truncated": raw[: len(raw) // 2],
                        "header": raw[: len(raw) // 3]}[how])
    return target


CASES = [(ext, how) for ext in (".npy", ".npz", ".mat", ".tif", ".hdr")
         for how in ("garbage", "truncated")] + [(".hdr", "header"), (".img", "truncated")]


@pytest.mark.parametrize("mode", ["plain", "report"])
@pytest.mark.parametrize("which", ["lr", "hr"])
@pytest.mark.parametrize(("ext", "how"), CASES)
def test_corrupt_or_truncated_input_gives_one_error_line_and_keeps_old_output(
        capsys, tmp_path, ext, how, which, mode):
    write_ext = ".hdr" if ext == ".img" else ext
    lr, hr = _pair(8, 3, 12, 10, 4)
    paths = {"lr": tmp_path / f"lr{write_ext}", "hr": tmp_path / f"hr{write_ext}"}
    write_cube(lr, paths["lr"])
    write_cube(hr, paths["hr"])
    damaged = _damage(paths[which], how)
    if ext == ".img":
        paths[which] = paths[which].with_suffix(".img")  # given as the data file
    out = tmp_path / "fused.tif"
    out.write_bytes(b"the user's previous result")
    before = sorted(p.name for p in tmp_path.iterdir())
    extra = ["--report", tmp_path / "rep"] if mode == "report" else []
    code, stdout, err = run(capsys, "fuse", "--lr-hsi", paths["lr"], "--hr-msi", paths["hr"],
                            "--method", "gsa", "--out", out, *extra)
    line = one_error_line(err)
    assert code == 2
    named = {damaged.name, paths[which].name, paths[which].with_suffix(".hdr").name}
    assert line.startswith(f"error: {tmp_path}/") and line.split(":")[1].strip().split("/")[-1] \
        in named, line
    assert out.read_bytes() == b"the user's previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing new, no partial file
    assert stdout == ""


@pytest.mark.parametrize("ext", [".npy", ".tif"])
def test_corrupt_input_on_the_tiled_path(capsys, tmp_path, ext):
    lr, hr = _pair(8, 3, 8, 8, 4)
    write_cube(lr, tmp_path / f"lr{ext}")
    write_cube(hr, tmp_path / f"hr{ext}")
    _damage(tmp_path / f"hr{ext}", "truncated")
    out = tmp_path / "o.npy"
    code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / f"lr{ext}", "--hr-msi",
                       tmp_path / f"hr{ext}", "--tile-size", "16", "--out", out)
    line = one_error_line(err)
    assert code == 2 and f"hr{ext}" in line
    assert not out.exists()


# ------------------------------------------------------------------ georeferencing
UTM = "EPSG:32615"


def _geo_pair(folder: Path, lr_transform, hr_transform, *, lr_crs=UTM, hr_crs=UTM,
              hr_hw=(30, 42)) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    write_cube(rng.random((8, 10, 14), dtype=np.float32), folder / "lr.tif",
               meta={"crs": lr_crs, "transform": lr_transform})
    write_cube(rng.random((3, *hr_hw), dtype=np.float32), folder / "hr.tif",
               meta={"crs": hr_crs, "transform": hr_transform})
    return folder / "lr.tif", folder / "hr.tif"


LR_T = (30.0, 0.0, 500000.0, 0.0, -30.0, 3300000.0)
HR_T = (10.0, 0.0, 500000.0, 0.0, -10.0, 3300000.0)


def test_matching_georeferenced_pair_keeps_crs_and_hr_transform(capsys, tmp_path):
    lr, hr = _geo_pair(tmp_path, LR_T, HR_T)
    code, _, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--method", "gsa",
                       "--out", tmp_path / "o.tif")
    assert code == 0, err
    out = read_cube(tmp_path / "o.tif", allow_unnormalized=True)
    assert out.cube.shape == (8, 30, 42)
    assert str(out.meta["crs"]) == UTM
    assert tuple(out.meta["transform"])[:6] == HR_T


@pytest.mark.parametrize(("lr_t", "hr_t", "kw", "needle"), [
    (LR_T, (10.0, 0, 900000.0, 0, -10.0, 3300000.0), {}, "extents do not overlap"),
    (LR_T, (12.0, 0, 500000.0, 0, -12.0, 3300000.0), {"hr_hw": (30, 42)}, "non-integer ratio"),
    (LR_T, (7.5, 0, 500000.0, 0, -7.5, 3300000.0), {"hr_hw": (30, 42)}, "gives ratio 4"),
    (LR_T, (10.0, 0, 500050.0, 0, -10.0, 3300000.0), {}, "grids are offset"),
    (LR_T, HR_T, {"hr_crs": "EPSG:32616"}, "CRS"),
])
def test_georeferencing_contradictions_are_clear_errors(capsys, tmp_path, lr_t, hr_t, kw,
                                                        needle):
    lr, hr = _geo_pair(tmp_path, lr_t, hr_t, **kw)
    for extra in ([], ["--report", tmp_path / "rep"], ["--tile-size", "12"]):
        code, _, err = run(capsys, "fuse", "--lr-hsi", lr, "--hr-msi", hr, "--method", "gsa",
                           "--out", tmp_path / "o.tif", *extra)
        line = one_error_line(err)
        assert code == 2 and needle in line and "hr.tif" in line, (extra, line)
        assert not (tmp_path / "o.tif").exists() and not (tmp_path / "rep").exists()


# ------------------------------------------------------------------ SRF vs band metadata
def _srf_csv(path: Path, names: list[str], centres: list[float]) -> Path:
    wl = np.arange(380.0, 1051.0, 5.0)
    rows = [",".join(["wavelength_nm", *names])]
    curves = [np.exp(-0.5 * ((wl - c) / 30.0) ** 2) for c in centres]
    rows += [",".join([f"{w:g}", *(f"{c[i]:.6g}" for c in curves)]) for i, w in enumerate(wl)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize(("srf_names", "centres", "hsi_wl", "needle"), [
    (["B", "G", "R"], [460.0, 540.0, 610.0], "400:700:16", "reorder"),
    (["R", "G", "B", "NIR"], [610.0, 540.0, 460.0, 850.0], "400:1000:16", "4 rows"),
    (["R", "G", "B"], [610.0, 540.0, 460.0], "1500:2500:16", "no response"),
])
def test_srf_contradicting_band_metadata_is_a_clear_error(capsys, tmp_path, srf_names, centres,
                                                          hsi_wl, needle):
    lr, hr = _pair(16, 3, 6, 6, 4)
    write_cube(lr, tmp_path / "lr.tif")
    write_cube(hr, tmp_path / "hr.tif", meta={"band_names": ("R", "G", "B")})
    srf = _srf_csv(tmp_path / "cam.csv", srf_names, centres)
    for extra in ([], ["--report", tmp_path / "rep"]):
        code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.tif", "--hr-msi",
                           tmp_path / "hr.tif", "--srf", srf, "--hsi-wavelengths", hsi_wl,
                           "--method", "gsa", "--out", tmp_path / "o.tif", *extra)
        line = one_error_line(err)
        assert code == 2 and needle in line and "cam.csv" in line, line
        assert not (tmp_path / "o.tif").exists()


def test_matching_srf_file_is_accepted(capsys, tmp_path):
    lr, hr = _pair(16, 3, 6, 6, 4)
    write_cube(lr, tmp_path / "lr.tif")
    write_cube(hr, tmp_path / "hr.tif", meta={"band_names": ("R", "G", "B")})
    srf = _srf_csv(tmp_path / "cam.csv", ["R", "G", "B"], [610.0, 540.0, 460.0])
    code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.tif", "--hr-msi",
                       tmp_path / "hr.tif", "--srf", srf, "--hsi-wavelengths", "400:700:16",
                       "--method", "gsa", "--out", tmp_path / "o.tif")
    assert code == 0, err
    np.testing.assert_allclose(read_cube(tmp_path / "o.tif").wavelengths_nm,
                               np.linspace(400, 700, 16))


def test_hsi_wavelengths_flag_is_checked_against_the_band_count(capsys, tmp_path):
    lr, hr = _pair(16, 3, 6, 6, 4)
    write_cube(lr, tmp_path / "lr.npy")
    write_cube(hr, tmp_path / "hr.npy")
    code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.npy", "--hr-msi",
                       tmp_path / "hr.npy", "--hsi-wavelengths", "400:700:31",
                       "--out", tmp_path / "o.npy")
    line = one_error_line(err)
    assert code == 2 and "31 wavelengths" in line and "16 bands" in line and "lr.npy" in line


# ------------------------------------------------------------------ SRF plausibility warning
def test_plausibility_check_is_no_false_alarm_for_real_camera_srfs(shared_data):
    """The 28 measured camera SRFs (Jiang et al. 2013), on the CAVE grid and on the Houston
    CASI grid (48 bands, 380-1050 nm), pass; the same curves in B, G, R order are flagged."""
    z = np.load(shared_data / "srf" / "camera" / "camspec_jiang2013_28cameras_400-720nm_10nm.npz")
    for grid in (np.arange(400.0, 701.0, 10.0), np.linspace(380.0, 1050.0, 48)):
        for cam, curves in zip(z["cameras"], z["srf"], strict=True):
            m = np.stack([np.interp(grid, z["wavelengths_nm"], c, left=0, right=0)
                          for c in curves])
            assert _srf_warnings(m, grid, ("R", "G", "B"), []) == [], cam
            assert len(_srf_warnings(m[::-1], grid, ("R", "G", "B"), [])) == 2, cam


def test_blind_estimate_with_a_real_camera_srf_raises_no_warning(tmp_path, shared_data):
    """A 48-band scene on the Houston CASI grid seen through a real camera SRF (Canon 5D Mark II
    curves): the blind estimate is plausible, so no warning (not a false alarm)."""
    wl = np.linspace(380.0, 1050.0, 48)
    from mossfuse.physics import load_srf

    cam = load_srf(shared_data / "srf" / "camera" /
                   "canon_eos_5d_mark_ii_rawtoaces_colour-science.csv", wl).matrix
    x = _scene(48, 96, 96, seed=3)
    lr = _degrade4(x)
    write_cube(lr.astype(np.float32), tmp_path / "lr.tif", wavelengths=wl)
    hr = np.einsum("jb,bhw->jhw", cam, x)
    write_cube((hr / hr.max()).astype(np.float32), tmp_path / "hr.tif",
               meta={"band_names": ("R", "G", "B")})
    s = fuse_with_report(tmp_path / "lr.tif", tmp_path / "hr.tif", tmp_path / "o.tif",
                         method="gsa", wald_check=False)
    assert s["warnings"] == [], s["warnings"]
    assert s["degradation"]["residual"] < 0.05


def test_houston_report_flags_its_implausible_srf_and_masks_the_black_patch(capsys, tmp_path,
                                                                          shared_data):
    """The real Houston pair in one command (as in the README): the estimate cannot be a
    plausible camera SRF (a gamma-encoded orthophoto against hazy CASI radiance), and the report
    says so; the black no-data patch is masked, not fitted."""
    mat = shared_data / "remote_sensing" / "houston2018_crop" / "houston_dataset.mat"
    code, out, err = run(capsys, "fuse", "--lr-hsi", mat, "--hsi-key", "hyprImg", "--hr-msi",
                         mat, "--msi-key", "rgbImg", "--hsi-wavelengths", "380:1050:48",
                         "--msi-nodata", "0", "--method", "gsa", "--out", tmp_path / "h.tif",
                         "--report", tmp_path / "rep")
    assert code == 0, err
    import json

    s = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert s["inputs"]["hr_nodata"] == 5065
    r0, r1, c0, c1 = s["degradation"]["window"]
    assert c1 * 4 <= 314  # estimated left of the patch (HR cols 314-368)
    assert s["degradation"]["sigma"] < 4  # the PSF is not wider than the ratio
    assert sum("estimated SRF of MSI band" in w for w in s["warnings"]) == 3
    assert any("residual" in w for w in s["warnings"])
    assert err.count("warning:") == len(s["warnings"])
    assert read_cube(tmp_path / "h.tif", allow_unnormalized=True).cube.shape == (48, 512, 512)


@pytest.mark.parametrize("extra", [[], ["--report", "rep"], ["--tile-size", "16"]])
def test_output_keeps_band_names_and_wavelengths_of_an_envi_lr_hsi(capsys, tmp_path, extra):
    lr, hr = _pair(6, 3, 8, 8, 4)
    wl = [450.0, 500.0, 550.0, 600.0, 650.0, 700.0]
    names = tuple(f"b{w:.0f}" for w in wl)
    write_cube(lr, tmp_path / "lr.hdr", wavelengths=wl, meta={"band_names": names})
    write_cube(hr, tmp_path / "hr.tif", meta={"crs": UTM, "transform": HR_T})
    extra = [tmp_path / e if e == "rep" else e for e in extra]
    code, _, err = run(capsys, "fuse", "--lr-hsi", tmp_path / "lr.hdr", "--hr-msi",
                       tmp_path / "hr.tif", "--method", "gsa", "--out", tmp_path / "o.tif",
                       *extra)
    assert code == 0, err
    out = read_cube(tmp_path / "o.tif", allow_unnormalized=True)
    assert out.meta["band_names"] == names
    np.testing.assert_allclose(out.wavelengths_nm, wl)
    assert str(out.meta["crs"]) == UTM
