"""Figure helpers: colour rendering and the files they write."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mossfuse import viz

WL = np.arange(400.0, 701.0, 10.0)


def _opens_as_nontrivial_png(path) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG"
        arr = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert arr.shape[0] > 100 and arr.shape[1] > 100
    assert arr.std() > 10  # not a blank canvas


def test_white_reflectance_renders_white_and_grey_stays_neutral():
    white = viz.hsi_to_rgb(np.ones((31, 3, 3), np.float32), WL, gain=1.0)
    np.testing.assert_allclose(white, 1.0, atol=0.02)
    lin = viz.hsi_to_linear_rgb(np.full((31, 2, 2), 0.2, np.float32), WL)
    np.testing.assert_allclose(lin, 0.2, atol=0.005)


def test_long_wavelength_spectrum_renders_red():
    cube = np.zeros((31, 2, 2), np.float32)
    cube[WL >= 600] = 0.8
    rgb = viz.hsi_to_rgb(cube, WL)
    assert rgb.shape == (2, 2, 3)
    assert (rgb[..., 0] > rgb[..., 1] + 0.3).all() and (rgb[..., 0] > rgb[..., 2] + 0.3).all()


def test_auto_gain_maps_the_percentile_to_one(rng):
    cube = (0.1 * rng.random((31, 16, 16))).astype(np.float32)
    rgb = viz.hsi_to_rgb(cube, WL)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert np.mean(rgb >= 0.999) == pytest.approx(0.01, abs=0.01)


def test_without_wavelengths_three_bands_are_shown():
    cube = np.zeros((12, 4, 4), np.float32)
    cube[9] = 1.0  # band round(5/6 * 11) = 9 is shown as red
    rgb = viz.hsi_to_rgb(cube, None, gain=1.0)
    np.testing.assert_allclose(rgb[..., 0], 1.0)
    np.testing.assert_allclose(rgb[..., 1:], 0.0)


def test_error_maps_are_zero_for_identical_cubes(rng):
    a = rng.random((5, 6, 7)).astype(np.float32) + 0.1
    assert viz.sam_map(a, a).max() < 1e-2
    assert viz.rmse_map(a, a).max() == 0
    assert viz.sam_map(2 * a, a).max() < 1e-2  # SAM ignores scale
    assert viz.rmse_map(a + 0.5, a).shape == (6, 7)


def test_comparison_figure_writes_a_png_and_nothing_else(tmp_path, rng):
    cube = rng.random((31, 32, 32)).astype(np.float32)
    panels = {"a": viz.hsi_to_rgb(cube, WL), "grey": cube[0]}
    maps = {"e1": viz.sam_map(cube, cube[::-1]), "e2": viz.rmse_map(cube, 0 * cube)}
    out = viz.save_comparison_figure(tmp_path / "cmp.png", panels, maps, "title")
    _opens_as_nontrivial_png(out)
    many = {f"p{i}": panels["a"] for i in range(6)}  # two rows
    _opens_as_nontrivial_png(viz.save_comparison_figure(tmp_path / "m.png", many, maps))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.png", "m.png"]


def test_spectra_and_srf_psf_figures_write_pngs(tmp_path, rng):
    ref = rng.random((31, 8, 8)).astype(np.float32)
    out = viz.save_spectra_figure(tmp_path / "s.png", ref, {"m": ref * 0.9},
                                      [(0, 0), (3, 4), (7, 7)], WL)
    _opens_as_nontrivial_png(out)
    from mossfuse.physics import gaussian_kernel, nikon_d700_nssr

    srf = nikon_d700_nssr()
    k = gaussian_kernel(7, 2.0)
    out = viz.save_srf_psf_figure(tmp_path / "r.png", srf.matrix, srf.matrix * 1.1, k,
                                      gaussian_kernel(7, 1.5), WL, srf.band_names, title="t")
    _opens_as_nontrivial_png(out)
    out = viz.save_srf_psf_figure(tmp_path / "r2.png", srf.matrix, None, None, None, WL)
    assert out.exists()


def test_learning_curves_figure_from_log_records(tmp_path):
    from mossfuse.viz import save_learning_curves

    recs = [{"step": s, "de": 1.0 / (s + 1), "psf_sigma": 0.2 + s / 100} for s in range(50)]
    recs += [{"step": s, "ma": 0.1, "sc": 1.0, "total": 0.2, "psf_sigma": 2.0,
              **({"val_psnr": 20.0 + s / 10, "val_sam": 10.0} if s % 25 == 0 else {})}
             for s in range(50, 120)]
    out = save_learning_curves(tmp_path / "c.png", recs, title="t")
    with Image.open(out) as im:
        assert im.size[0] > 500 and np.asarray(im.convert("L")).std() > 5
