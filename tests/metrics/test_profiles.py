"""The named metric profiles: exactly the spec's conventions, chosen by name."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mossfuse.errors import MossfuseInputError
from mossfuse.metrics import PROFILES, MetricReport, ergas, evaluate, get_profile, psnr, sam


def _case(rng, shape=(5, 40, 48), noise=0.1):
    ref = rng.uniform(0.05, 0.95, shape)
    return ref + noise * rng.normal(size=shape), ref  # pred leaves [0, 1] in places


def test_registry_has_both_profiles_with_their_metric_keys():
    assert get_profile("mossfuse-paper").metrics == ("psnr", "ssim", "sam", "ergas")
    assert get_profile("standard").metrics == (
        "psnr", "ssim", "sam", "ergas", "rmse", "cc", "uiqi", "q2n")
    assert set(PROFILES) >= {"mossfuse-paper", "standard"}
    assert get_profile(PROFILES["standard"]) is PROFILES["standard"]


def test_unknown_profile_or_metric_is_an_input_error(rng):
    pred, ref = _case(rng)
    with pytest.raises(MossfuseInputError, match="unknown metric profile 'paper'"):
        evaluate(pred, ref, profile="paper", ratio=32)
    with pytest.raises(MossfuseInputError, match=r"no metric\(s\) \['q2n'\]"):
        evaluate(pred, ref, profile="mossfuse-paper", ratio=32, metrics=["q2n"])


def test_paper_profile_clips_the_prediction_first(rng):
    pred, ref = _case(rng)
    assert pred.min() < 0 and pred.max() > 1
    rep = evaluate(pred, ref, profile="mossfuse-paper", ratio=32)
    clipped = np.clip(pred, 0, 1)
    assert rep["psnr"] == pytest.approx(psnr(clipped, ref), abs=1e-12)
    assert rep["psnr"] > psnr(pred, ref)  # clipping towards [0, 1] can only help here
    assert rep["ergas"] == pytest.approx(
        ergas(clipped, ref, ratio=32, convention="mossfuse-paper"), abs=1e-12)
    assert rep.details["pred_clipped_fraction"] == pytest.approx(
        np.mean((pred < 0) | (pred > 1)))
    std = evaluate(pred, ref, profile="standard", ratio=32, metrics=["psnr"])
    assert std["psnr"] == pytest.approx(psnr(pred, ref), abs=1e-12)  # standard: no clipping


def test_paper_sam_floors_the_prediction_at_1e_5():
    ref = np.full((2, 7, 7), 0.5)
    pred = ref.copy()
    pred[:, 3, 3] = -1.0  # a negative spectrum: clipped to (1e-5, 1e-5), parallel to ref
    paper = evaluate(pred, ref, profile="mossfuse-paper", ratio=4, metrics=["sam"])
    assert paper["sam"] == pytest.approx(0.0, abs=1e-5)
    # standard, unclipped: that pixel is anti-parallel (180 degrees) -> mean 180 / 49
    standard = evaluate(pred, ref, profile="standard", ratio=4, metrics=["sam"])
    assert standard["sam"] == pytest.approx(180.0 / 49, abs=1e-5)


def test_paper_sam_reports_zero_reference_pixels_instead_of_nan(rng):
    pred, ref = _case(rng)
    ref[:, 0, :3] = 0.0
    rep = evaluate(pred, ref, profile="mossfuse-paper", ratio=32, metrics=["sam"])
    assert rep.details["sam_zero_reference_pixels"] == 3
    assert math.isfinite(rep["sam"])
    keep = np.ones(ref.shape[1:], bool)
    keep[0, :3] = False
    clipped = np.clip(pred, 1e-5, 1)[:, keep]
    cos = (clipped * ref[:, keep]).sum(0) / np.linalg.norm(clipped, axis=0) / np.linalg.norm(
        ref[:, keep], axis=0)
    expected = np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()
    assert rep["sam"] == pytest.approx(expected, abs=1e-9)


def test_paper_ssim_is_literally_the_skimage_call_of_the_spec(rng):
    from skimage.metrics import structural_similarity

    pred, ref = _case(rng)
    rep = evaluate(pred, ref, profile="mossfuse-paper", ratio=32, metrics=["ssim"])
    gt = ref.transpose(1, 2, 0)
    p = np.clip(pred, 0, 1).transpose(1, 2, 0)
    expected = structural_similarity(gt, p, channel_axis=-1, data_range=1, K1=0.01, K2=0.03)
    assert rep["ssim"] == pytest.approx(expected, abs=1e-12)


def test_standard_ssim_is_wang_gaussian(rng):
    from skimage.metrics import structural_similarity

    pred, ref = _case(rng)
    pred = np.clip(pred, 0, 1)
    rep = evaluate(pred, ref, profile="standard", ratio=32, metrics=["ssim"])
    per_band = [structural_similarity(ref[k], pred[k], data_range=1, gaussian_weights=True,
                                      sigma=1.5, use_sample_covariance=False)
                for k in range(ref.shape[0])]
    assert rep["ssim"] == pytest.approx(np.mean(per_band), abs=1e-12)


def test_ergas_ratio_is_the_experiment_ratio_and_paper_keeps_c_plus_1(rng):
    pred, ref = _case(rng)
    pred = np.clip(pred, 0, 1)
    p32 = evaluate(pred, ref, profile="mossfuse-paper", ratio=32, metrics=["ergas"])["ergas"]
    p8 = evaluate(pred, ref, profile="mossfuse-paper", ratio=8, metrics=["ergas"])["ergas"]
    s32 = evaluate(pred, ref, profile="standard", ratio=32, metrics=["ergas"])["ergas"]
    assert p8 == pytest.approx(4 * p32)  # the spec's x8 anchors use 100 / 8
    assert p32 / s32 == pytest.approx(math.sqrt(5 / 6), rel=1e-12)  # C = 5 bands


def test_standard_profile_reports_all_metrics_and_small_image_blocks(rng):
    pred, ref = _case(rng, (4, 20, 24), noise=0.02)
    rep = evaluate(pred, ref, profile="standard", ratio=4)
    assert list(rep.values) == list(get_profile("standard").metrics)
    assert rep.details["uiqi_block"] == rep.details["q2n_block"] == 20  # min(32, H, W)
    assert 0 < rep["q2n"] < 1 and 0 < rep["uiqi"] < 1 and 0 < rep["cc"] < 1
    same = evaluate(ref, ref, profile="standard", ratio=4)
    assert same["psnr"] == math.inf and same["rmse"] == 0.0 and same["ergas"] == 0.0
    for key in ("ssim", "cc", "uiqi", "q2n"):
        assert same[key] == pytest.approx(1.0, abs=1e-9), key
    assert same["sam"] == pytest.approx(0.0, abs=1e-5)


def test_report_is_json_serialisable_and_records_profile_and_ratio(rng):
    pred, ref = _case(rng)
    rep = evaluate(pred.astype(np.float32), ref.astype(np.float32), ratio=32)
    assert isinstance(rep, MetricReport) and rep.profile == "mossfuse-paper"
    data = json.loads(json.dumps(rep.to_dict()))
    assert data["details"]["ratio"] == 32 and data["details"]["shape"] == [5, 40, 48]
    assert set(data["values"]) == {"psnr", "ssim", "sam", "ergas"}
    assert "mossfuse-paper" in str(rep)


def test_evaluate_rejects_bad_input(rng):
    pred, ref = _case(rng)
    with pytest.raises(MossfuseInputError, match="shape"):
        evaluate(pred[:, :-1], ref, ratio=32)
    bad = pred.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(MossfuseInputError, match="NaN/Inf"):
        evaluate(bad, ref, ratio=32)
    with pytest.raises(MossfuseInputError, match="reference has values"):
        evaluate(pred, ref * 2, ratio=32)
    with pytest.raises(MossfuseInputError, match="ratio"):
        evaluate(pred, ref, ratio=-1)
    with pytest.raises(TypeError):
        evaluate(pred, ref)  # type: ignore[call-arg]  # no silent default ratio
    with pytest.raises(MossfuseInputError, match="does not fit"):
        evaluate(pred[:, :5, :5], ref[:, :5, :5], ratio=4)  # 7 x 7 SSIM window


def test_sam_of_the_standard_profile_is_the_plain_function(rng):
    pred, ref = _case(rng)
    rep = evaluate(pred, ref, profile="standard", ratio=32, metrics=["sam"])
    assert rep["sam"] == sam(pred, ref)
