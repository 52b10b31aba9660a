"""Blind estimation of the SRF and the PSF (mossfuse.physics.estimation)."""

from __future__ import annotations

import numpy as np
import pytest

from methods.methods_testing import make_case
from mossfuse.data.scene import FusionInputs
from mossfuse.physics import gaussian_kernel, spatial_degrade
from mossfuse.physics.degradation import Degradation
from mossfuse.physics.estimation import (
    default_geometry,
    degradation_error,
    estimate_degradation,
    estimate_srf,
    resolve_degradation,
)


@pytest.mark.parametrize("ratio, sigma", [(8, 2.0), (8, 1.3), (4, 1.0)])
def test_recovers_known_srf_and_sigma(ratio, sigma):
    case = make_case(texture=0.1, ratio=ratio, sigma=sigma)
    est = estimate_degradation(case.inputs.blind())
    err = degradation_error(est, case.srf, case.psf, true_centre=case.centre)
    assert err["srf_max_abs"] < 0.02
    assert err["sigma_abs_error"] < 0.2
    assert err["psf_l1"] < 0.1
    assert est.phase == case.phase and est.centre == case.centre
    assert est.psf.shape == case.psf.shape
    assert np.isclose(est.psf.sum(), 1.0, atol=1e-5)


def test_srf_is_nonnegative_and_optionally_sums_to_one():
    case = make_case(texture=0.1)
    est = estimate_degradation(case.inputs.blind(), srf_sum_to_one=True)
    assert (est.srf >= 0).all()
    np.testing.assert_allclose(est.srf.sum(axis=1), 1.0, atol=1e-3)


def test_exact_srf_from_exact_lr_msi():
    case = make_case(texture=0.1)
    lr_msi = spatial_degrade(case.inputs.hr_msi.astype(np.float64), case.psf, 8, case.phase,
                             centre=case.centre)
    srf, resid = estimate_srf(case.inputs.lr_hsi, lr_msi, smoothness=0.0)
    assert np.abs(srf - case.srf).max() < 1e-3
    assert resid < 1e-4


def test_unknown_phase_is_found_by_the_peak_offset_search():
    # truth: 5-tap kernel centred on phase 4 at ratio 8; the estimator assumes phase 3 and a
    # 7-tap window, so it must move the Gaussian's peak by +1 px in both axes
    case = make_case(texture=0.1, ratio=8)
    cube = case.reference.astype(np.float64)
    psf = gaussian_kernel(5, 1.2)
    lr = spatial_degrade(cube, psf, 8, 4, centre=2).astype(np.float32)
    inputs = FusionInputs(lr, case.inputs.hr_msi, 8)
    est = estimate_degradation(inputs)
    assert est.info["offset"] == (1, 1)
    assert est.info["effective_phase"] == (4, 4)
    err = degradation_error(est, case.srf, psf, true_centre=2, true_phase=4)
    assert err["sigma_abs_error"] < 0.2
    assert err["psf_l1"] < 0.15


def test_anisotropic_fit_recovers_an_elongated_psf():
    case = make_case(texture=0.1, ratio=8)
    psf = gaussian_kernel(7, lambdas=(3.0, 1.0), theta=0.5)
    lr = spatial_degrade(case.reference.astype(np.float64), psf, 8, 3, centre=3)
    inputs = FusionInputs(lr.astype(np.float32), case.inputs.hr_msi, 8,
                          degradation=Degradation(None, None, 8, phase=3))
    est = estimate_degradation(inputs, anisotropic=True)
    assert "lambdas" in est.info
    err = degradation_error(est, case.srf, psf, true_centre=3)
    assert err["psf_l1"] < 0.1
    assert err["sigma_abs_error"] < 0.2


def test_fixed_psf_or_srf_is_kept():
    case = make_case(texture=0.1)
    only_srf = estimate_degradation(case.inputs.blind(), psf=case.psf)
    np.testing.assert_allclose(only_srf.psf, case.psf / case.psf.sum(), atol=1e-7)
    assert only_srf.info["estimated"] == {"srf": True, "psf": False}
    only_psf = estimate_degradation(case.inputs.blind(), srf=case.srf)
    np.testing.assert_array_equal(only_psf.srf, case.srf)
    assert abs(only_psf.sigma - degradation_error(only_psf, case.srf, case.psf)["sigma_true"]) \
        < 0.2


def test_resolve_degradation_passes_known_values_through():
    case = make_case(texture=0.1)
    deg = resolve_degradation(case.inputs)
    assert isinstance(deg, Degradation)
    assert deg.info["estimated"] == {"srf": False, "psf": False}
    np.testing.assert_array_equal(deg.srf, case.srf)
    np.testing.assert_array_equal(deg.psf, case.psf)
    assert (deg.phase, deg.centre, deg.ratio) == (case.phase, case.centre, 8)
    blind = resolve_degradation(case.inputs.blind())
    assert blind.info["estimated"] == {"srf": True, "psf": True}


def test_degradation_error_of_the_truth_is_zero():
    case = make_case(texture=0.1)
    truth = Degradation(case.psf, case.srf, 8, case.phase, case.centre)
    err = degradation_error(truth, case.srf, case.psf)
    assert err["srf_max_abs"] == 0 and err["psf_l1"] < 1e-6 and err["sigma_abs_error"] < 1e-6


@pytest.mark.parametrize("ratio, phase, expected", [
    (32, None, (15, 15, 31)), (8, None, (3, 3, 7)), (4, None, (1, 1, 3)), (3, None, (1, 1, 3)),
    (32, 16, (16, 15, 31)), (8, 3, (3, 3, 7)),
])
def test_default_geometry(ratio, phase, expected):
    assert default_geometry(ratio, phase) == expected
