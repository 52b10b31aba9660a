"""No-reference indices: D_lambda, D_s, QNR (Alparone et al. 2008), HSI-MSI adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from mossfuse.errors import MossfuseInputError
from mossfuse.metrics import d_lambda, d_s, degrade_msi, q_index, qnr, qnr_for_inputs
from mossfuse.physics import gaussian_kernel, spatial_degrade

RATIO, PHASE = 4, 1
KERNEL = gaussian_kernel(3, 1.0)  # the wald-x4 PSF: 3 x 3, sigma 1, centre 1, phase 1


def _consistent(rng, bands=6, msi_bands=3, size=64):
    """Bands that are scaled copies of one image: every Q between two of them is
    ``(2 a b / (a^2 + b^2))^2`` at any scale and on any block, so D_lambda = D_s = 0."""
    z = 0.2 + 0.6 * rng.random((size, size))
    scales = rng.uniform(0.3, 1.0, bands)
    fused = scales[:, None, None] * z
    srf = rng.random((msi_bands, bands))
    srf /= srf.sum(1, keepdims=True)
    hr_msi = np.einsum("jb,bhw->jhw", srf, fused)
    lr_hsi = spatial_degrade(fused, KERNEL, RATIO, PHASE)
    return fused, lr_hsi, hr_msi


def test_perfectly_consistent_fusion_has_qnr_one(rng):
    fused, lr, msi = _consistent(rng)
    rep = qnr(fused, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE)
    assert rep.profile == "qnr-alparone2008"
    assert rep["d_lambda"] == pytest.approx(0.0, abs=1e-12)
    assert rep["d_s"] == pytest.approx(0.0, abs=1e-12)
    assert rep["qnr"] == pytest.approx(1.0, abs=1e-12)
    assert rep.details["block_size_lr"] == 8  # 32 / ratio: the same ground footprint
    assert rep.details["d_lambda_blocks_hr"] == 4 and rep.details["d_lambda_blocks_lr"] == 4


def test_inconsistent_fusion_scores_lower(rng):
    fused, lr, msi = _consistent(rng)
    noisy = fused + 0.2 * rng.standard_normal(fused.shape)
    rep = qnr(noisy, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE)
    assert rep["d_s"] > 0.05 and rep["d_lambda"] > 0.05
    assert rep["qnr"] == pytest.approx((1 - rep["d_lambda"]) * (1 - rep["d_s"]))
    weighted = qnr(noisy, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE, alpha=2, beta=0.5)
    assert weighted["qnr"] == pytest.approx((1 - rep["d_lambda"]) ** 2 * (1 - rep["d_s"]) ** 0.5)


def test_d_lambda_and_d_s_hand_computed_from_block_q(rng):
    """Two HSI bands, one MSI band, 64 x 64 at ratio 4: HR blocks 32, LR blocks 8 (2 x 2 each)."""
    fused = rng.random((2, 64, 64))
    lr = rng.random((2, 16, 16))
    msi = rng.random((1, 64, 64))
    msi_lr = rng.random((1, 16, 16))

    def mean_q(x, y, k):
        return np.mean([q_index(x[i:i + k, j:j + k], y[i:i + k, j:j + k])
                        for i in range(0, x.shape[0], k) for j in range(0, x.shape[1], k)])

    expected_dl = abs(mean_q(fused[0], fused[1], 32) - mean_q(lr[0], lr[1], 8))
    assert d_lambda(fused, lr, ratio=4) == pytest.approx(expected_dl, abs=1e-12)
    expected_ds = np.mean([abs(mean_q(fused[b], msi[0], 32) - mean_q(lr[b], msi_lr[0], 8))
                           for b in range(2)])
    assert d_s(fused, lr, msi, msi_lr, ratio=4) == pytest.approx(expected_ds, abs=1e-12)
    # p = 2 on a single pair is still |difference|
    assert d_lambda(fused, lr, ratio=4, p=2) == pytest.approx(expected_dl, abs=1e-12)


def test_callable_and_kernel_degradations_agree(rng):
    fused, lr, msi = _consistent(rng)
    fused = fused + 0.05 * rng.standard_normal(fused.shape)
    by_kernel = qnr(fused, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE)
    by_callable = qnr(fused, lr, msi, ratio=RATIO,
                      degrade=lambda x: spatial_degrade(x, KERNEL, RATIO, PHASE))
    assert by_callable.values == pytest.approx(by_kernel.values, abs=1e-12)
    assert by_callable.details["degradation"] == "callable"


def test_nodata_mask_excludes_corrupted_pixels(rng):
    fused, lr, msi = _consistent(rng)
    bad = fused.copy()
    bad[:, 16:32, 16:32] = rng.random((bad.shape[0], 16, 16))  # garbage in a no-data patch
    mask = np.zeros(fused.shape[1:], bool)
    mask[16:32, 16:32] = True
    assert qnr(bad, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE)["qnr"] < 0.99
    rep = qnr(bad, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE, nodata_mask=mask)
    assert rep["qnr"] == pytest.approx(1.0, abs=1e-12)
    assert rep.details["excluded_hr_pixels"] == 256
    # LR pixels i whose window [4 i, 4 i + 3) meets rows 16..31: i = 4..7 -> 4 x 4 pixels
    assert rep.details["excluded_lr_pixels"] == 16


def test_band_subsample_for_many_bands(rng):
    fused, lr, msi = _consistent(rng, bands=40)
    rep = qnr(fused, lr, msi, ratio=RATIO, kernel=KERNEL, phase=PHASE, max_bands=10)
    assert len(rep.details["bands_used"]) == 10 and rep.details["bands_used"][-1] == 39
    assert rep["qnr"] == pytest.approx(1.0, abs=1e-12)


def test_qnr_for_inputs_uses_the_protocol_operator(rng):
    from mossfuse.data.scene import Scene
    from mossfuse.physics import get_protocol

    case = get_protocol("wald-x4").simulate(Scene(rng.random((31, 64, 64)).astype(np.float32)))
    inp = case.inputs
    # the MSI degraded by the inputs' PSF/phase equals the SRF applied to the LR-HSI
    msi_lr = degrade_msi(inp.hr_msi, ratio=4, kernel=inp.psf, phase=inp.phase,
                         centre=inp.psf_centre)
    np.testing.assert_allclose(msi_lr, np.einsum("jb,bhw->jhw", inp.srf, inp.lr_hsi), atol=1e-5)
    rep = qnr_for_inputs(case.reference.cube, inp)
    assert "kernel (3, 3), phase 1" in rep.details["degradation"]
    assert 0.0 <= rep["qnr"] <= 1.0
    with pytest.raises(MossfuseInputError, match="degrade"):
        qnr_for_inputs(case.reference.cube, inp.blind())


def test_bad_input_raises(rng):
    fused, lr, msi = _consistent(rng)
    kw = dict(ratio=RATIO, kernel=KERNEL, phase=PHASE)
    with pytest.raises(MossfuseInputError, match="needs a `degrade` callable"):
        qnr(fused, lr, msi, ratio=RATIO)
    with pytest.raises(MossfuseInputError, match="not ratio 4"):
        qnr(fused[:, :60, :60], lr, msi[:, :60, :60], **kw)
    with pytest.raises(MossfuseInputError, match="bands"):
        qnr(fused[:3], lr, msi, **kw)
    with pytest.raises(MossfuseInputError, match="HR-MSI size"):
        qnr(fused, lr, msi[:, :32], **kw)
    with pytest.raises(MossfuseInputError, match="not a multiple of the 24 px block"):
        qnr(fused, lr, msi, block_size=24, block_size_lr=6, **kw)
    with pytest.raises(MossfuseInputError, match="not a multiple of ratio"):
        qnr(fused, lr, msi, block_size=30, **kw)
    with pytest.raises(MossfuseInputError, match="nodata_mask has shape"):
        qnr(fused, lr, msi, nodata_mask=np.zeros((3, 3), bool), **kw)
    with pytest.raises(MossfuseInputError, match="expected"):
        qnr(fused, lr, msi, ratio=RATIO, degrade=lambda x: x[:, ::8, ::8])
    bad = fused.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(MossfuseInputError, match="NaN/Inf"):
        qnr(bad, lr, msi, **kw)
    with pytest.raises(MossfuseInputError, match="at least 2 bands"):
        d_lambda(fused[:1], lr[:1], ratio=RATIO)
