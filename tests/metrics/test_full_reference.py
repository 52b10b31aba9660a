"""Golden values and library agreement of the full-reference metric functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mossfuse.errors import MossfuseInputError
from mossfuse.metrics import (
    cc,
    cc_per_band,
    ergas,
    hypercomplex_product,
    psnr,
    psnr_per_band,
    q2n,
    q2n_map,
    q_index,
    rmse,
    sam,
    sam_map,
    ssim,
    uiqi,
)
from mossfuse.metrics.full_reference import _structure_constants

# A 2-band 2 x 2 reference used by the hand-computed cases below.
REF = np.array(
    [
        [[0.2, 0.4], [0.6, 0.8]],  # band 0, mean 0.5
        [[0.1, 0.3], [0.5, 0.7]],  # band 1, mean 0.4
    ]
)


def _noisy(rng, shape=(4, 40, 48), noise=0.1):
    ref = rng.random(shape)
    return np.clip(ref + noise * rng.normal(size=shape), 0, 1), ref


# ---------------------------------------------------------------------------- PSNR


def test_psnr_hand_computed_2x2x2():
    pred = REF.copy()
    pred[0] += 0.1  # band 0: every error 0.1 -> MSE 0.01 -> 10 log10(1/0.01) = 20 dB
    pred[1, 0, 0] += 0.1  # band 1: two errors of 0.1 -> MSE 0.02/4 = 0.005
    pred[1, 1, 1] -= 0.1  # -> 10 log10(200) = 23.0103 dB
    np.testing.assert_allclose(psnr_per_band(pred, REF), [20.0, 10 * math.log10(200)])
    # mean of the per-band PSNRs: (20 + 23.0103) / 2 = 21.5051
    assert psnr(pred, REF) == pytest.approx((20.0 + 10 * math.log10(200)) / 2, abs=1e-12)


@pytest.mark.parametrize("e", [0.5, 0.1, 0.01, 1e-3])
def test_psnr_of_constant_error_is_minus_20_log10_e(e):
    ref = np.full((3, 5, 6), 0.25)
    assert psnr(ref + e, ref) == pytest.approx(-20 * math.log10(e), abs=1e-9)
    # with a peak L: 20 log10(L / e)
    assert psnr(ref + e, ref, data_range=255.0) == pytest.approx(20 * math.log10(255 / e),
                                                                 abs=1e-9)


def test_psnr_of_identical_band_is_inf():
    assert psnr_per_band(REF, REF)[0] == np.inf


def test_psnr_matches_skimage_and_torchmetrics_per_band(rng):
    from skimage.metrics import peak_signal_noise_ratio

    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image")
    pred, ref = _noisy(rng)
    per_band = psnr_per_band(pred, ref)
    sk = [peak_signal_noise_ratio(ref[k], pred[k], data_range=1.0) for k in range(4)]
    np.testing.assert_allclose(per_band, sk, rtol=0, atol=1e-10)
    t = tm.peak_signal_noise_ratio(torch.from_numpy(pred)[None], torch.from_numpy(ref)[None],
                                   data_range=1.0, dim=(2, 3), reduction="elementwise_mean")
    # torchmetrics keeps data_range as a float32 tensor: agreement to ~1e-6 dB
    assert psnr(pred, ref) == pytest.approx(float(t), abs=1e-5)


# ---------------------------------------------------------------------------- SAM


def test_sam_identical_spectra_is_zero_and_orthogonal_is_90():
    g = np.zeros((3, 1, 2))
    g[:, 0, 0] = (0.2, 0.5, 0.1)
    g[:, 0, 1] = (1.0, 0.0, 0.0)
    assert sam(g, g) == pytest.approx(0.0, abs=1e-5)  # arccos resolves ~1e-6 degree near 0
    p = g.copy()
    p[:, 0, 0] *= 3.0  # a scaled spectrum has the same angle: 0
    p[:, 0, 1] = (0.0, 0.7, 0.0)  # orthogonal: 90
    np.testing.assert_allclose(sam_map(p, g), [[0.0, 90.0]], atol=1e-5)
    assert sam(p, g) == pytest.approx(45.0, abs=1e-5)


def test_sam_hand_computed_45_degrees():
    # g = (1, 1), p = (1, 0): cos = 1 / sqrt(2) -> 45 degrees
    g = np.ones((2, 1, 1))
    p = np.array([1.0, 0.0]).reshape(2, 1, 1)
    assert sam(p, g) == pytest.approx(45.0, abs=1e-12)


def test_sam_leaves_out_zero_reference_and_scores_zero_prediction_90():
    g = np.zeros((2, 1, 3))
    g[:, 0, 0] = (1.0, 0.0)  # pixel 0: exact
    g[:, 0, 1] = (1.0, 1.0)  # pixel 1: prediction all zero -> 90 by default
    p = g.copy()
    p[:, 0, 1] = 0.0
    p[:, 0, 2] = (0.3, 0.3)  # pixel 2: reference all zero -> no angle, left out
    assert sam(p, g) == pytest.approx(45.0, abs=1e-5)  # (0 + 90) / 2
    assert sam(p, g, zero_pred_angle=None) == pytest.approx(0.0, abs=1e-5)
    assert np.isnan(sam_map(p, g)[0, 2]) and np.isnan(sam_map(p, g)[0, 1])
    with pytest.raises(MossfuseInputError, match="every reference spectrum"):
        sam(p, np.zeros_like(g))


def test_sam_matches_torchmetrics_in_degrees(rng):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image")
    pred, ref = _noisy(rng)
    pred += 1e-3  # no zero spectra
    t = tm.spectral_angle_mapper(torch.from_numpy(pred)[None], torch.from_numpy(ref)[None])
    assert sam(pred, ref) == pytest.approx(math.degrees(float(t)), abs=1e-9)


# ---------------------------------------------------------------------------- ERGAS


def test_ergas_hand_computed_wald_and_paper():
    pred = REF.copy()
    pred[0] += 0.05  # RMSE_0 / mean_0 = 0.05 / 0.5 = 0.1
    pred[1] += 0.04  # RMSE_1 / mean_1 = 0.04 / 0.4 = 0.1
    # Wald, r = 4: 100/4 * sqrt((0.01 + 0.01) / 2) = 25 * 0.1 = 2.5
    assert ergas(pred, REF, ratio=4) == pytest.approx(2.5, abs=1e-12)
    # paper: 100/4 * sqrt((0.01 + 0.01) / (2 + 1)) = 25 * 0.0816497 = 2.0412415
    assert ergas(pred, REF, ratio=4, convention="mossfuse-paper") == pytest.approx(
        25 * math.sqrt(0.02 / 3), abs=1e-12)
    # r = 32 vs r = 8: the 100 / r prefactor only
    assert ergas(pred, REF, ratio=8) == pytest.approx(4 * ergas(pred, REF, ratio=32))


@pytest.mark.parametrize("bands", [1, 3, 31])
def test_ergas_paper_over_standard_is_sqrt_c_over_c_plus_1(rng, bands):
    pred, ref = _noisy(rng, (bands, 9, 7))
    ref += 0.05
    ratio = ergas(pred, ref, ratio=32, convention="mossfuse-paper") / ergas(pred, ref, ratio=32)
    assert ratio == pytest.approx(math.sqrt(bands / (bands + 1)), rel=1e-12)


def test_ergas_wald_matches_torchmetrics(rng):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image")
    pred, ref = _noisy(rng)
    t = tm.error_relative_global_dimensionless_synthesis(
        torch.from_numpy(pred)[None], torch.from_numpy(ref)[None], ratio=4)
    assert ergas(pred, ref, ratio=4) == pytest.approx(float(t), rel=1e-10)


def test_ergas_rejects_zero_mean_band_and_bad_ratio():
    ref = REF.copy()
    ref[1] = 0.0
    with pytest.raises(MossfuseInputError, match=r"band\(s\) \[1\]"):
        ergas(REF, ref, ratio=4)
    with pytest.raises(MossfuseInputError, match="ratio"):
        ergas(REF, REF, ratio=0)
    with pytest.raises(MossfuseInputError, match="convention"):
        ergas(REF, REF, ratio=4, convention="c+1")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- RMSE, CC


def test_rmse_hand_computed():
    pred = REF.copy()
    pred[0, 0, 0] += 0.4  # one error of 0.4 among 8 values: sqrt(0.16 / 8)
    assert rmse(pred, REF) == pytest.approx(math.sqrt(0.02), abs=1e-12)


def test_cc_affine_and_constant_bands():
    pred = np.stack([2 * REF[0] + 1, -REF[1]])  # correlations +1 and -1
    np.testing.assert_allclose(cc_per_band(pred, REF), [1.0, -1.0], atol=1e-12)
    assert cc(pred, REF) == pytest.approx(0.0, abs=1e-12)
    pred[1] = 0.3  # constant band: no correlation, left out of the mean
    assert np.isnan(cc_per_band(pred, REF)[1])
    assert cc(pred, REF) == pytest.approx(1.0)


# ---------------------------------------------------------------------------- SSIM


def test_ssim_uniform_sample_covariance_is_literally_skimage(rng):
    from skimage.metrics import structural_similarity

    pred, ref = _noisy(rng)
    expected = structural_similarity(ref.transpose(1, 2, 0), pred.transpose(1, 2, 0),
                                     channel_axis=-1, data_range=1, K1=0.01, K2=0.03)
    got = ssim(pred, ref, window="uniform", win_size=7, sample_covariance=True)
    assert got == pytest.approx(expected, abs=1e-12)


def test_ssim_gaussian_matches_torchmetrics_inside_the_border(rng):
    """Wang et al.'s convention (11 x 11 Gaussian, sigma 1.5, population covariance): the
    SSIM maps of scikit-image and torchmetrics coincide on every window inside the image
    (to 1e-12 in float64); torchmetrics >= 1.0 also averages the 5-px border computed on
    reflect-padded data, so its scalar differs slightly (here < 1e-3)."""
    from skimage.metrics import structural_similarity

    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.image")
    pred, ref = _noisy(rng)
    ours = ssim(pred, ref)  # defaults: the standard profile's settings
    value, full = tm.structural_similarity_index_measure(
        torch.from_numpy(pred)[None], torch.from_numpy(ref)[None], data_range=1.0,
        gaussian_kernel=True, sigma=1.5, kernel_size=11, return_full_image=True)
    inner = full[0].numpy()[:, 5:-5, 5:-5]
    assert ours == pytest.approx(float(inner.mean()), abs=1e-12)
    _, sk_map = structural_similarity(ref.transpose(1, 2, 0), pred.transpose(1, 2, 0),
                                      channel_axis=-1, data_range=1, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False, full=True)
    np.testing.assert_allclose(sk_map.transpose(2, 0, 1)[:, 5:-5, 5:-5], inner, atol=1e-12)
    assert abs(ours - float(value)) < 1e-3


def test_ssim_of_identical_is_one_and_small_image_is_rejected(rng):
    ref = rng.random((2, 12, 12))
    assert ssim(ref, ref) == pytest.approx(1.0)
    with pytest.raises(MossfuseInputError, match="does not fit"):
        ssim(ref[:, :10], ref[:, :10])


# ---------------------------------------------------------------------------- UIQI


def _img_qi_reference(x: np.ndarray, y: np.ndarray, k: int) -> float:
    """Wang's img_qi.m written out window by window (float64, its guards)."""
    vals = []
    for i in range(x.shape[0] - k + 1):
        for j in range(x.shape[1] - k + 1):
            a, b = x[i:i + k, j:j + k].ravel(), y[i:i + k, j:j + k].ravel()
            n = a.size
            sa, sb = a.sum(), b.sum()
            num = 4 * (n * (a * b).sum() - sa * sb) * sa * sb
            den1 = n * ((a * a).sum() + (b * b).sum()) - sa * sa - sb * sb
            den = den1 * (sa * sa + sb * sb)
            if den != 0:
                vals.append(num / den)
            elif den1 == 0 and sa * sa + sb * sb != 0:
                vals.append(2 * sa * sb / (sa * sa + sb * sb))
            else:
                vals.append(1.0)
    return float(np.mean(vals))


def test_uiqi_matches_img_qi_window_by_window(rng):
    pred, ref = _noisy(rng, (2, 14, 11))
    pred[0, :6, :6] = 0.5  # windows constant in pred only
    pred[1, :6, :6] = ref[1, :6, :6] = 0.25  # windows constant in both -> Q = 1
    pred[0, 7:, 5:] = ref[0, 7:, 5:] = 0.0  # zero in both (dark, clipped): Q = 1 as well
    expected = np.mean([_img_qi_reference(ref[b], pred[b], 5) for b in range(2)])
    assert uiqi(pred, ref, block_size=5) == pytest.approx(expected, abs=1e-9)


def test_uiqi_identical_is_one_and_disjoint_blocks(rng):
    ref = rng.random((3, 64, 64))
    assert uiqi(ref, ref) == pytest.approx(1.0, abs=1e-12)
    pred = np.clip(ref + 0.05 * rng.normal(size=ref.shape), 0, 1)
    # stride = block: the four disjoint 32 x 32 blocks, Q of each by q_index
    expected = np.mean([q_index(ref[b, i:i + 32, j:j + 32], pred[b, i:i + 32, j:j + 32])
                        for b in range(3) for i in (0, 32) for j in (0, 32)])
    assert uiqi(pred, ref, block_size=32, stride=32) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(MossfuseInputError, match="block_size"):
        uiqi(ref[:, :16], ref[:, :16], block_size=32)


def test_q_index_guards_follow_img_qi():
    a = np.full(16, 0.5)
    assert q_index(a, a) == 1.0  # constant and equal
    assert q_index(a, np.full(16, 0.25)) == pytest.approx(2 * 0.5 * 0.25 / (0.25 + 0.0625))
    assert q_index(np.zeros(16), np.zeros(16)) == 1.0


# ---------------------------------------------------------------------------- Q2n


def test_hypercomplex_product_is_complex_for_n2_and_norm_multiplicative_to_octonions(rng):
    x, y = rng.normal(size=(2, 50, 2))
    z = (x[:, 0] + 1j * x[:, 1]) * (y[:, 0] + 1j * y[:, 1])
    np.testing.assert_allclose(hypercomplex_product(x, y), np.stack([z.real, z.imag], -1))
    for n in (4, 8):  # composition algebras: |xy| = |x||y| (quaternions, octonions)
        x, y = rng.normal(size=(2, 50, n))
        np.testing.assert_allclose(np.linalg.norm(hypercomplex_product(x, y), axis=-1),
                                   np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1))
    t = _structure_constants(8)  # e_i e_j = +-e_(i xor j)
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    np.testing.assert_array_equal(np.abs(t[i, j, i ^ j]), 1)
    with pytest.raises(MossfuseInputError, match="power-of-two"):
        hypercomplex_product(np.ones(3), np.ones(3))


def _q2n_literal(ref: np.ndarray, pred: np.ndarray, k: int) -> float:
    """q2n.m / onions_quality.m ported loop by loop (per-pixel products, no shortcuts),
    without the uint16 cast; (C, H, W) inputs, shift = block size."""
    C, H, W = ref.shape
    ny, nx = math.ceil(H / k), math.ceil(W / k)
    pad = ((0, 0), (0, ny * k - H), (0, nx * k - W))
    g_all, f_all = np.pad(ref, pad, mode="symmetric"), np.pad(pred, pad, mode="symmetric")
    N = 1 << (C - 1).bit_length()
    zeros = np.zeros((N - C, *g_all.shape[1:]))
    g_all, f_all = np.concatenate([g_all, zeros]), np.concatenate([f_all, zeros])
    out = []
    for bi in range(ny):
        for bj in range(nx):
            d1 = g_all[:, bi * k:(bi + 1) * k, bj * k:(bj + 1) * k].reshape(N, -1).T.copy()
            d2 = f_all[:, bi * k:(bi + 1) * k, bj * k:(bj + 1) * k].reshape(N, -1).T.copy()
            d2[:, 1:] *= -1
            for i in range(N):
                s, t = d1[:, i].mean(), d1[:, i].std(ddof=1)
                if d1[:, i].max() == d1[:, i].min():
                    s, t = d1[0, i], np.finfo(float).eps
                t = t if t != 0 else np.finfo(float).eps
                d1[:, i] = (d1[:, i] - s) / t + 1
                sign = 1.0 if i == 0 else -1.0
                if s == 0:
                    d2[:, i] = sign * (sign * d2[:, i] - s + 1)
                else:
                    d2[:, i] = sign * ((sign * d2[:, i] - s) / t + 1)
            n = d1.shape[0]
            c = n / (n - 1)
            m1, m2 = d1.mean(0), d2.mean(0)
            t2 = np.sqrt((m1 ** 2).sum() * (m2 ** 2).sum())
            t4 = (m1 ** 2).sum() + (m2 ** 2).sum()
            t3 = c * (d1 ** 2).sum(1).mean() + c * (d2 ** 2).sum(1).mean() - c * t4
            bias = 2 * t2 / t4
            if t3 == 0:
                out.append(bias)
                continue
            qv = c * hypercomplex_product(d1, d2).mean(0)
            q = (qv - c * hypercomplex_product(m1, m2)) * bias * 2 / t3
            out.append(np.sqrt((q ** 2).sum()))
    return float(np.mean(out))


@pytest.mark.parametrize("shape", [(3, 20, 24), (5, 16, 16), (8, 17, 16), (1, 16, 16)])
def test_q2n_matches_literal_toolbox_port(rng, shape):
    pred, ref = _noisy(rng, shape)
    ref[0, :5, :5] = pred[0, :5, :5] = 0.3  # a constant patch
    assert q2n(pred, ref, block_size=8, shift=8) == pytest.approx(
        _q2n_literal(ref, pred, 8), abs=1e-10)


def test_q2n_of_identical_is_one_and_decreases_with_noise(rng):
    ref = rng.random((31, 64, 64))
    assert q2n(ref, ref) == pytest.approx(1.0, abs=1e-10)
    np.testing.assert_allclose(q2n_map(ref, ref), np.ones((2, 2)), atol=1e-10)
    small = q2n(np.clip(ref + 0.02 * rng.normal(size=ref.shape), 0, 1), ref)
    large = q2n(np.clip(ref + 0.2 * rng.normal(size=ref.shape), 0, 1), ref)
    assert 1.0 > small > large > 0.0


def test_q2n_single_band_is_uiqi_of_disjoint_blocks(rng):
    """With one band the 2^0-on is a real number: Q2n = |Q| per block (normalisation by the
    GT block's mean/std is affine, and Q's correlation and contrast factors are affine
    invariant up to that shift; the luminance factor is computed after the shift, so compare
    on blocks where pred and ref have the same mean)."""
    ref = rng.random((1, 32, 32))
    pred = ref + 0.1 * rng.normal(size=ref.shape)
    pred += ref.mean() - pred.mean()  # equal means: Q = correlation x contrast term
    x, y = ref.ravel(), pred.ravel()
    corr = np.corrcoef(x, y)[0, 1]
    contrast = 2 * x.std() * y.std() / (x.var() + y.var())
    assert q2n(pred, ref) == pytest.approx(abs(corr * contrast), abs=1e-10)


# ---------------------------------------------------------------------------- input checks


@pytest.mark.parametrize("fn", [psnr, rmse, cc, sam, uiqi, q2n, ssim])
def test_bad_input_raises(fn):
    good = np.full((2, 40, 40), 0.5)
    with pytest.raises(MossfuseInputError, match="shape"):
        fn(good, good[:, :, :39])
    bad = good.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(MossfuseInputError, match="NaN/Inf"):
        fn(bad, good)
    bad[0, 0, 0] = np.inf
    with pytest.raises(MossfuseInputError, match="NaN/Inf"):
        fn(good, bad)
    with pytest.raises(MossfuseInputError, match="integer dtype"):
        fn(good, np.ones((2, 40, 40), np.uint16))
    with pytest.raises(MossfuseInputError, match="3-D"):
        fn(good[0], good[0])


def test_float32_and_float64_agree(rng):
    pred, ref = _noisy(rng)
    p32, r32 = pred.astype(np.float32), ref.astype(np.float32)
    # float32 inputs are promoted: the result is the float64 metric of the float32 values
    assert psnr(p32, r32) == psnr(p32.astype(np.float64), r32.astype(np.float64))
    assert sam(p32, r32) == pytest.approx(sam(pred, ref), abs=1e-4)
