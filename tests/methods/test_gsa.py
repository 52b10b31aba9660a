"""GSA (Aiazzi et al. 2007) adapted to HSI-MSI fusion."""

from __future__ import annotations

import numpy as np
import pytest

from methods.methods_testing import bicubic_psnr, make_case, psnr
from mossfuse.methods import get_method
from mossfuse.methods.gsa import GSA, GSAConfig, gsa_fuse
from mossfuse.physics import spatial_degrade


@pytest.fixture(scope="module")
def case():
    return make_case()


@pytest.mark.parametrize("assignment", ["srf_argmax", "srf_weighted"])
def test_beats_bicubic_with_known_degradation(case, assignment):
    res = get_method("gsa", assignment=assignment).fuse(case.inputs)
    assert res.hr_hsi.shape == case.reference.shape and res.hr_hsi.dtype == np.float32
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 5.0
    assert res.estimated_srf is None and res.estimated_psf is None


def test_blind_mode_estimates_and_still_beats_bicubic(case):
    res = GSA().fuse(case.inputs.blind())
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 5.0
    assert res.estimated_srf.shape == case.srf.shape
    assert res.estimated_psf is not None
    assert res.info["degradation"]["estimated"] == {"srf": True, "psf": True}


def test_argmax_assignment_groups_bands_by_srf(case):
    lr_msi = spatial_degrade(case.inputs.hr_msi, case.psf, 8, case.phase, centre=case.centre)
    _, info = gsa_fuse(case.inputs.lr_hsi, case.inputs.hr_msi, lr_msi, case.srf, 8, case.phase)
    a = np.asarray(info["assignment"])
    assert set(np.unique(a)) == {0.0, 1.0}
    np.testing.assert_array_equal(a.sum(axis=0), 1.0)
    np.testing.assert_array_equal(np.argmax(a, axis=0), np.argmax(case.srf, axis=0))


def test_uncovered_bands_take_the_most_correlated_msi_band(case):
    srf = case.srf.copy()
    srf[:, -2:] = 0.0  # no MSI band sees the last two HSI bands
    lr_msi = spatial_degrade(case.inputs.hr_msi, case.psf, 8, case.phase, centre=case.centre)
    fused, info = gsa_fuse(case.inputs.lr_hsi, case.inputs.hr_msi, lr_msi, srf, 8, case.phase)
    assert info["uncovered_bands"] == [14, 15]
    a = np.asarray(info["assignment"])
    assert a[:, -2:].sum() == 2.0
    assert np.isfinite(fused).all()


def test_config_defaults_and_validation():
    cfg = GSAConfig()
    assert cfg.assignment == "srf_argmax" and cfg.intercept
    with pytest.raises(ValueError):
        GSAConfig(assignment="nearest")
    with pytest.raises(ValueError):
        GSAConfig(unknown=1)
