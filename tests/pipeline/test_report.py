"""fuse_with_report: a real-scene fusion with estimated degradation and an offline report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.ndimage
import torch

from mossfuse.data.io import read_cube, write_cube
from mossfuse.physics.psf import gaussian_kernel
from mossfuse.physics.spatial import spatial_degrade
from mossfuse.pipeline.coregistration import register_pair
from mossfuse.pipeline.report import (
    _degradation_warnings,
    _srf_warnings,
    fuse_with_report,
    largest_valid_rectangle,
    qnr_block_geometry,
)

torch.set_num_threads(1)

WL = np.linspace(400.0, 700.0, 16)
RATIO = 4


def _rgb_srf() -> np.ndarray:
    rows = [np.exp(-0.5 * ((WL - c) / 30.0) ** 2) for c in (610.0, 540.0, 460.0)]  # R, G, B
    srf = np.stack(rows)
    return srf / srf.sum(1, keepdims=True)


def _write_pair(folder: Path, lr_size: int = 32, shift: tuple[float, float] | None = None,
                hole: bool = True) -> tuple[Path, Path]:
    """A smooth synthetic scene: LR-HSI GeoTIFF (CRS, wavelengths) + RGB GeoTIFF (NaN hole)."""
    rng = np.random.default_rng(0)
    H = lr_size * RATIO
    ab = scipy.ndimage.gaussian_filter(rng.random((8, H, H)), (0, 2, 2))
    ab -= ab.min(axis=(1, 2), keepdims=True)
    ab /= ab.max(axis=(1, 2), keepdims=True)
    spectra = scipy.ndimage.gaussian_filter1d(0.1 + 0.8 * rng.random((16, 8)), 1.5, axis=0)
    x = np.einsum("bk,khw->bhw", spectra, ab) / 8
    lr = np.asarray(spatial_degrade(x, gaussian_kernel(3, 1.0), RATIO, 1, centre=1))
    if shift is not None:
        lr = register_pair(lr, shift)
    msi = np.einsum("jb,bhw->jhw", _rgb_srf(), x).astype(np.float32)
    if hole:
        msi[:, H // 2 : H // 2 + 12, H - 20 : H - 4] = np.nan
    lr_path, hr_path = folder / "lr.tif", folder / "hr.tif"
    write_cube(lr.astype(np.float32), lr_path, wavelengths=WL,
               meta={"crs": "EPSG:32615", "transform": (4.0, 0, 500000.0, 0, -4.0, 3e6)})
    write_cube(msi, hr_path, meta={"band_names": ("R", "G", "B")})
    return lr_path, hr_path


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    folder = tmp_path_factory.mktemp("real")
    lr_path, hr_path = _write_pair(folder)
    summary = fuse_with_report(lr_path, hr_path, folder / "fused.tif", method="gsa",
                               report_dir=folder / "report")
    return summary, folder


def test_report_html_references_existing_pngs_and_holds_the_metric_table(report):
    summary, folder = report
    page = (folder / "report" / "index.html").read_text()
    pngs = re.findall(r'<img src="([^"]+)"', page)
    assert {"composites.png", "srf.png", "psf.png", "spectra.png"} <= set(pngs)
    for name in pngs:
        assert (folder / "report" / name).stat().st_size > 1000
    table = re.search(r'<table id="metrics">(.*?)</table>', page, re.S)
    assert table is not None
    for label in ("D_lambda", "D_s", "QNR", "reduced resolution: psnr",
                  "reduced resolution: sam", "reduced resolution: ergas"):
        assert label in table.group(1)
    assert "http" not in page.replace("http-equiv", "")  # offline: no external resource
    assert "fuse_with_report(" in page and "numpy" in page
    assert json.loads((folder / "report" / "summary.json").read_text())["ratio"] == RATIO
    assert not list(folder.rglob("*.partial.*"))


def test_output_keeps_georeferencing_and_degradation_files_sit_beside_it(report):
    summary, folder = report
    out = read_cube(folder / "fused.tif")
    assert out.cube.shape == (16, 128, 128)
    assert np.allclose(out.wavelengths_nm, WL)
    assert out.meta["crs"].to_epsg() == 32615
    assert out.meta["transform"].a == pytest.approx(1.0)
    srf_csv = np.loadtxt(folder / "fused.srf.csv", delimiter=",", skiprows=1)
    assert srf_csv.shape == (16, 4) and np.allclose(srf_csv[:, 0], WL)
    psf_csv = np.loadtxt(folder / "fused.psf.csv", delimiter=",")
    assert psf_csv.ndim == 2 and psf_csv.sum() == pytest.approx(1.0, abs=1e-4)
    for name in ("fused.srf.png", "fused.psf.png"):
        assert (folder / name).is_file()


def test_blind_estimate_quality_and_no_data_handling_on_a_consistent_pair(report):
    summary, _ = report
    deg = summary["degradation"]
    assert deg["estimated"] == {"srf": True, "psf": True}
    assert deg["residual"] < 0.05
    assert deg["window"] != [0, 32, 0, 32]  # estimated away from the NaN hole
    srf = np.asarray(deg["srf"])  # few endmembers: check the centroids
    centroids = (srf * WL).sum(1) / srf.sum(1)
    assert centroids[0] > centroids[1] > centroids[2]
    assert summary["warnings"] == []
    nr = summary["no_reference"]
    assert 0.0 <= nr["d_lambda"] < 0.1 and 0.0 <= nr["d_s"] < 0.2 and nr["qnr"] > 0.7
    assert nr["details"]["excluded_hr_pixels"] == 12 * 16
    assert nr["details"]["excluded_lr_pixels"] > 0
    assert summary["reduced_resolution"]["psnr"] > 25
    assert np.hypot(*summary["coregistration"]["total_shift_lr_px"]) < 0.1


def test_register_corrects_a_shifted_lr_hsi(tmp_path: Path):
    lr_path, hr_path = _write_pair(tmp_path, shift=(0.3, -1.6), hole=False)
    warned = fuse_with_report(lr_path, hr_path, tmp_path / "a.npy", method="gsa",
                              wald_check=False)
    assert warned["coregistration"]["total_shift_lr_px"] == pytest.approx([-0.3, 1.6], abs=0.1)
    assert any("--register" in w for w in warned["warnings"])
    fixed = fuse_with_report(lr_path, hr_path, tmp_path / "b.npy", method="gsa",
                             register=True, wald_check=False)
    assert fixed["registered"] is True
    assert np.hypot(*fixed["coregistration"]["residual_shift_lr_px"]) < 0.15
    assert fixed["no_reference"]["d_s"] < warned["no_reference"]["d_s"]


def test_tiny_pair_skips_checks_with_a_note(tmp_path: Path):
    lr_path, hr_path = _write_pair(tmp_path, lr_size=6, hole=False)
    s = fuse_with_report(lr_path, hr_path, tmp_path / "f.npz", method="gsa",
                         report_dir=tmp_path / "rep")
    assert "skipped" in s["reduced_resolution"]
    assert "skipped" in s["coregistration"]
    assert any("reduced-resolution check skipped" in n for n in s["notes"])
    assert "skipped" in (tmp_path / "rep" / "index.html").read_text()


def test_implausible_srf_and_psf_are_warned():
    notes: list[str] = []
    bgr = _rgb_srf()[::-1]  # the rows of a B, G, R camera labelled R, G, B
    warns = _srf_warnings(bgr, WL, ("R", "G", "B"), notes)
    assert len(warns) == 2 and "'R'" in warns[0] and "'B'" in warns[1]
    assert _srf_warnings(_rgb_srf(), WL, ("R", "G", "B"), notes) == []
    _srf_warnings(_rgb_srf(), None, ("R", "G", "B"), notes)
    assert any("wavelengths are unknown" in n for n in notes)
    deg = SimpleNamespace(sigma=5.0, info={"residual": 0.01, "offset": (0, 0)})
    assert any("exceeds the ratio" in w for w in _degradation_warnings(deg, 4))


def test_geometry_helpers():
    valid = np.ones((6, 7), bool)
    valid[2:4, 3:] = False
    assert largest_valid_rectangle(valid) == (0, 6, 0, 3)
    assert largest_valid_rectangle(np.zeros((3, 3), bool)) == (0, 0, 0, 0)
    assert qnr_block_geometry(128, 128, 4) == (8, 128, 128)
    assert qnr_block_geometry(24, 24, 3) == (12, 24, 24)
    k, h, w = qnr_block_geometry(37, 41, 4)
    assert h % k == 0 and w % k == 0 and k >= 2


def test_report_renders_in_headless_chromium(report, tmp_path: Path):
    browser = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "")
                    if p and Path(p).is_file()), None)
    if browser is None:
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): no screenshot")
    _, folder = report
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,2000", (folder / "report" / "index.html").as_uri()],
        check=True, timeout=60, capture_output=True,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


# --- report nits (issue #16, item 6) -----------------------------------------------------------
def _srf_figure(monkeypatch, **kw):
    """Draw an SRF figure and return it (its axes and legend), not only the PNG."""
    from mossfuse.viz import degradation

    drawn = {}
    monkeypatch.setattr(degradation, "save_figure",
                        lambda fig, path, dpi: drawn.setdefault("fig", fig))
    args = {"srf_true": None, "srf_est": None, "psf_true": None, "psf_est": None,
            "wavelengths_nm": WL, **kw}
    degradation.save_srf_psf_figure("unused.png", **args)
    ax = drawn["fig"].axes[0]
    leg = ax.get_legend()
    return ax.get_title(), [t.get_text() for t in leg.get_texts()], leg.get_title().get_text()


def test_srf_plot_title_names_only_the_curves_drawn(monkeypatch):
    est = _rgb_srf()
    title, _, _ = _srf_figure(monkeypatch, srf_est=est, band_names=("R", "G", "B"))
    assert title == "SRF (estimated)" and "true" not in title
    title, labels, _ = _srf_figure(monkeypatch, srf_true=est, srf_est=est,
                                   band_names=("R", "G", "B"))
    assert "solid: true" in title and "R true" in labels and "R est." in labels
    title, _, _ = _srf_figure(monkeypatch, srf_true=est, band_names=("R", "G", "B"))
    assert title == "SRF (true)"


def test_srf_legend_uses_msi_band_names(monkeypatch):
    est = _rgb_srf()
    _, labels, head = _srf_figure(monkeypatch, srf_est=est, band_names=("Red", "Green", "Blue"))
    assert labels == ["Red est.", "Green est.", "Blue est."] and head == ""
    # names unknown, 3 bands: R, G, B as the SRF notes assume, and the legend says so
    _, labels, head = _srf_figure(monkeypatch, srf_est=est, band_names=())
    assert labels == ["R est.", "G est.", "B est."] and "assumed R, G, B" in head
    _, labels, _ = _srf_figure(monkeypatch, srf_est=np.vstack([est, est[:1]]), band_names=())
    assert labels[0] == "band0 est." and len(labels) == 4


def test_report_shows_shapes_h_w_bands_and_neutral_no_warnings(report):
    from mossfuse.pipeline.report import _html

    summary, folder = report
    page = (folder / "report" / "index.html").read_text()
    assert "(32, 32, 16) (H x W x bands)" in page  # LR-HSI 16 bands of 32 x 32
    assert "(128, 128, 3) (H x W x bands)" in page
    assert "[16, 32, 32]" not in page and "(16, 32, 32)" not in page
    quiet = _html({**summary, "warnings": []}, {})
    section = quiet.split("<h2>Warnings</h2>")[1].split("<h2>")[0]
    assert "none" in section and 'class="warn"' not in section
    loud = _html({**summary, "warnings": ["PSF too wide"]}, {})
    section = loud.split("<h2>Warnings</h2>")[1].split("<h2>")[0]
    assert 'class="warn"' in section and "PSF too wide" in section and "none" not in section
