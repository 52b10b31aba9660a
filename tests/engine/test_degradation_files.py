"""The estimated degradation beside an output: plausibility warnings and staged, atomic files."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mossfuse.engine.sidecars import staged_degradation_files
from mossfuse.physics.degradation import Degradation, degradation_paths
from mossfuse.physics.psf import gaussian_kernel

WL = np.linspace(400.0, 700.0, 31)


def _rgb_srf() -> np.ndarray:
    rows = [np.exp(-0.5 * ((WL - c) / 30.0) ** 2) for c in (610.0, 540.0, 460.0)]
    srf = np.stack(rows)
    return srf / srf.sum(1, keepdims=True)


def test_plausible_estimate_has_no_warning():
    est = Degradation(gaussian_kernel(7, 1.5), _rgb_srf(), 8, wavelengths_nm=WL,
                      band_names=("R", "G", "B"))
    warns, notes = est.warnings()
    assert warns == [] and notes == []


def test_psf_wider_than_the_ratio_and_bad_fit_are_warnings():
    est = Degradation(gaussian_kernel(31, 6.0), None, 4, wavelengths_nm=WL,
                      info={"residual": 0.3, "offset": (2, 0)})
    assert est.sigma > 4
    warns, _ = est.warnings()
    assert any("exceeds the ratio 4" in w for w in warns)
    assert any("residual" in w and "0.30" in w for w in warns)
    assert any("(2, 0) HR px" in w for w in warns)


def test_srf_mass_outside_the_band_range_and_zero_rows():
    srf = _rgb_srf()[::-1].copy()  # B, G, R named R, G, B
    srf[1] = 0.0
    warns, _ = Degradation(None, srf, 8, wavelengths_nm=WL,
                           band_names=("R", "G", "B")).warnings()
    assert any("row 1 is zero" in w for w in warns)
    assert sum("of its mass in" in w for w in warns) == 2
    # without wavelengths only the zero row can be checked, and a note says so
    warns, notes = Degradation(None, srf, 8).warnings()
    assert len(warns) == 1 and any("wavelengths are unknown" in n for n in notes)


def test_from_result_keeps_only_what_was_not_given():
    res = SimpleNamespace(estimated_srf=_rgb_srf(), estimated_psf=gaussian_kernel(7, 1.0),
                          info={"degradation": {"residual": 0.01, "offset": (0, 0), "x": 1}})
    est = Degradation.from_result(res, ratio=8, srf_given=True, psf_given=False)
    assert est.srf is None and est.psf.shape == (7, 7) and est.info == {
        "residual": 0.01, "offset": (0, 0)}
    est = Degradation.from_result(res, ratio=8, srf_given=True, psf_given=True)
    assert est.empty
    none = SimpleNamespace(estimated_srf=None, estimated_psf=None, info={})
    assert Degradation.from_result(none, ratio=8, srf_given=False,
                                   psf_given=False).empty


def test_staged_files_appear_together_or_not_at_all(tmp_path):
    out = tmp_path / "scene.fused.tif"
    paths = degradation_paths(out)
    assert paths["srf_csv"].name == "scene.fused.srf.csv"
    est = Degradation(gaussian_kernel(7, 1.5), _rgb_srf(), 8, wavelengths_nm=WL,
                      band_names=("R", "G", "B"))
    with pytest.raises(RuntimeError), staged_degradation_files(out, est) as files:
        assert set(files) == {"srf_csv", "srf_png", "psf_csv", "psf_png"}
        assert not paths["srf_csv"].exists()  # not before the block succeeds
        raise RuntimeError("output failed")
    assert list(tmp_path.iterdir()) == []
    with staged_degradation_files(out, est) as files:
        out.write_bytes(b"x")
    assert all(paths[k].is_file() for k in paths)
    text = paths["srf_csv"].read_text().splitlines()
    assert text[0] == "wavelength_nm,R,G,B" and len(text) == 32
    psf = np.loadtxt(paths["psf_csv"], delimiter=",")
    np.testing.assert_allclose(psf, gaussian_kernel(7, 1.5), atol=1e-7)
    assert not list(tmp_path.glob(".*partial*"))


def test_saved_srf_reads_back_with_load_srf(tmp_path):
    from mossfuse.physics import load_srf

    est = Degradation(None, _rgb_srf(), 8, wavelengths_nm=WL, band_names=("R", "G", "B"))
    with staged_degradation_files(tmp_path / "o.npy", est) as files:
        pass
    assert set(files) == {"srf_csv", "srf_png"}
    back = load_srf(files["srf_csv"], WL)
    np.testing.assert_allclose(back.matrix, _rgb_srf(), atol=1e-6)
    assert tuple(back.band_names) == ("R", "G", "B")


def test_empty_estimate_writes_nothing(tmp_path):
    with staged_degradation_files(tmp_path / "o.npy", None) as files:
        pass
    with staged_degradation_files(tmp_path / "o.npy", Degradation(None, None, 4)) as f2:
        pass
    assert files == {} and f2 == {} and list(tmp_path.iterdir()) == []
