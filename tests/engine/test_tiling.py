"""Tiled fusion: the plan, the blending, agreement with whole-image fusion, the degradation
settled once per scene, and what each tile sees."""

from __future__ import annotations

import numpy as np
import pytest
from engine_testing import PixelLocal, Spy

from mossfuse.data.dead_leaves import DeadLeavesConfig, generate_dead_leaves
from mossfuse.data.scene import FusionInputs
from mossfuse.engine.streaming import StreamedInputs
from mossfuse.engine.tiling import (
    TileBlender,
    TiledFusion,
    blend_weights,
    fuse_tiled,
    plan_tiles,
)
from mossfuse.errors import MossfuseInputError
from mossfuse.methods import get_method
from mossfuse.physics import get_protocol


@pytest.fixture(scope="module")
def scene():
    return generate_dead_leaves(DeadLeavesConfig(size=(512, 384), seed=3))


@pytest.fixture(scope="module")
def case_x8(scene):
    return get_protocol("wald-x8").simulate(scene)


@pytest.fixture(scope="module")
def case_x32(scene):
    return get_protocol("mossfuse-x32").simulate(scene)


# ---------------------------------------------------------------------------------- the plan
@pytest.mark.parametrize(("hw", "r", "tile", "overlap"),
                         [((512, 384), 8, 128, 32), ((512, 384), 32, 256, 64),
                          ((96, 40), 4, 32, 8), ((64, 64), 8, 128, 16), ((200, 72), 8, 64, 0)])
def test_plan_tiles_are_aligned_to_the_lr_grid_and_cover_the_scene(hw, r, tile, overlap):
    plan = plan_tiles(hw, r, tile, overlap)
    cover = np.zeros(hw, int)
    for t in plan:
        assert t.hr_rows == (r * t.lr_rows[0], r * t.lr_rows[1])
        assert t.hr_cols == (r * t.lr_cols[0], r * t.lr_cols[1])
        assert t.hr_rows[0] % r == 0 and t.hr_cols[0] % r == 0
        assert t.hr_shape == (min(tile, hw[0]), min(tile, hw[1]))
        cover[slice(*t.hr_rows), slice(*t.hr_cols)] += 1
    assert cover.min() >= 1
    for windows in (plan.row_windows, plan.col_windows):
        for (a0, a1), (b0, _) in zip(windows[:-1], windows[1:], strict=True):
            assert r * (a1 - b0) >= overlap  # neighbours overlap by at least the request
            assert b0 > a0


@pytest.mark.parametrize(("tile", "overlap", "margin", "needle"),
                         [(100, 16, None, "multiple of the ratio"),
                          (128, 12, None, "multiple of the ratio"),
                          (128, 128, None, "[0, tile size"),
                          (128, 32, 16, "half the overlap")])
def test_plan_tiles_rejects_sizes_off_the_lr_grid(tile, overlap, margin, needle):
    with pytest.raises(MossfuseInputError, match=needle.replace("[", r"\[")):
        plan_tiles((512, 512), 8, tile, overlap, margin=margin)


def test_blend_weights_are_positive_and_neighbours_sum_to_one():
    for margin in (0, 8):
        w = blend_weights(128, 32, 32, margin)
        assert w.min() > 0 and w.max() == 1.0
        left, right = blend_weights(128, 0, 32, margin), blend_weights(128, 32, 0, margin)
        np.testing.assert_allclose(left[-32:] + right[:32], 1.0, atol=2e-6)
        assert np.all(left[:96] == 1.0)  # no taper at the scene border


# ------------------------------------------------------------------------- tiled vs whole
def _seam(a: np.ndarray, b: np.ndarray) -> tuple[float, tuple[int, ...]]:
    d = np.abs(a - b)
    return float(d.max()), tuple(int(i) for i in np.unravel_index(d.argmax(), d.shape))


def test_pixel_local_method_tiled_equals_whole_exactly(case_x8):
    """Overlaps blend ``sum(w_i v) / sum(w_i)`` in float64: exactly ``v`` once cast to float32."""
    method = PixelLocal()
    whole = method.fuse(case_x8.inputs).hr_hsi
    for tile, overlap, margin in ((128, 32, None), (96, 48, 0), (64, 8, 0)):
        tiled = fuse_tiled(method, case_x8.inputs, tile=tile, overlap=overlap, margin=margin)
        np.testing.assert_array_equal(tiled, whole)


@pytest.mark.parametrize(("case_name", "tile", "overlap"),
                         [("case_x8", 128, 64), ("case_x32", 384, 192)])
def test_bicubic_tiled_matches_whole_within_stated_seam_error(request, case_name, tile, overlap):
    """Seam error (max |tiled - whole|) of bicubic, a local method with a 1.5 r border effect:
    with the default margin (2 r here) it is float rounding (< 1e-6); a plain raised cosine
    (margin 0) leaves ~3e-3 where the tiles' clamped borders still weigh."""
    case = request.getfixturevalue(case_name)
    method = get_method("bicubic")
    whole = method.fuse(case.inputs).hr_hsi
    tiled = fuse_tiled(method, case.inputs, tile=tile, overlap=overlap)
    err, where = _seam(tiled, whole)
    print(f"{case_name} bicubic tile {tile} overlap {overlap}: seam error {err:.2e} at {where}")
    assert err < 1e-6
    plain = fuse_tiled(method, case.inputs, tile=tile, overlap=overlap, margin=0)
    err0, where0 = _seam(plain, whole)
    print(f"{case_name} bicubic margin 0: seam error {err0:.2e} at {where0}")
    assert err0 < 2e-2


def test_blender_accepts_tiles_in_any_order(case_x8):
    inputs = case_x8.inputs
    plan = plan_tiles(inputs.hr_msi.shape[1:], 8, 128, 48)
    method = get_method("bicubic")
    source = StreamedInputs.from_inputs(inputs)
    blocks = {t.index: method.fuse(source.window(t.lr_rows, t.lr_cols)).hr_hsi for t in plan}
    outs = []
    for order in (range(len(plan)), np.random.default_rng(1).permutation(len(plan))):
        out = np.full((31, *inputs.hr_msi.shape[1:]), np.nan, np.float32)

        def sink(rows, cols, block, out=out):
            assert np.isnan(out[:, slice(*rows), slice(*cols)]).all()  # each pixel written once
            out[:, slice(*rows), slice(*cols)] = block

        blender = TileBlender(plan, 31, sink)
        for i in order:
            blender.add(plan[int(i)], blocks[int(i)])
        blender.check_complete()
        outs.append(out)
    assert not np.isnan(outs[0]).any()
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)


def test_pending_memory_is_far_below_the_scene():
    rng = np.random.default_rng(0)
    inputs = FusionInputs(rng.random((31, 32, 32), dtype=np.float32),
                          rng.random((3, 1024, 1024), dtype=np.float32), ratio=32)
    report = TiledFusion(PixelLocal(), tile=256, overlap=64).run(inputs)
    assert report.hr_hsi is not None and report.tiles_fused == len(report.plan) == 25
    assert report.peak_pending_bytes < report.hr_hsi.nbytes / 3


# ------------------------------------------------------------ every tile sees FusionInputs
def test_every_tile_sees_only_fusion_inputs_with_the_scene_degradation(case_x32):
    spy = Spy()
    inputs = case_x32.inputs
    plan = plan_tiles(inputs.hr_msi.shape[1:], 32, 256, 64)
    fuse_tiled(spy, inputs, tile=256, overlap=64)
    assert len(spy.seen) == len(plan)
    for t, seen in zip(plan, spy.seen, strict=True):
        assert type(seen) is FusionInputs
        assert seen.hr_msi.shape == (3, *t.hr_shape)
        assert seen.lr_hsi.shape == (31, t.lr_rows[1] - t.lr_rows[0], t.lr_cols[1] - t.lr_cols[0])
        np.testing.assert_array_equal(seen.lr_hsi, inputs.lr_hsi[:, slice(*t.lr_rows),
                                                                 slice(*t.lr_cols)])
        np.testing.assert_array_equal(seen.hr_msi, inputs.hr_msi[:, slice(*t.hr_rows),
                                                                 slice(*t.hr_cols)])
        # the known degradation, same phase and centre as the scene (tiles start on LR samples)
        assert (seen.phase, seen.psf_centre) == (15, 15)
        np.testing.assert_array_equal(seen.srf, inputs.srf)
        np.testing.assert_array_equal(seen.psf, inputs.psf)


def test_tile_inputs_are_an_exact_sub_problem_of_the_forward_model(case_x32, scene):
    """For the x32 valid geometry the tile's LR samples are the degradation of its HR pixels."""
    case = case_x32
    proto = get_protocol("mossfuse-x32")
    model = proto.degradation(scene.wavelengths_nm).forward_model()
    source = StreamedInputs.from_inputs(case.inputs)
    for t in plan_tiles(case.inputs.hr_msi.shape[1:], 32, 256, 64)[:3]:
        ref = case.reference.cube[:, slice(*t.hr_rows), slice(*t.hr_cols)]
        lr, _ = model(ref.astype(np.float64))
        np.testing.assert_allclose(source.window(t.lr_rows, t.lr_cols).lr_hsi, lr, atol=1e-6)


def test_blind_degradation_is_estimated_once_per_scene_not_per_tile(case_x8, monkeypatch):
    import mossfuse.physics.estimation as est

    calls = []
    real = est.estimate_degradation

    def counting(inputs, **kw):
        calls.append(inputs.lr_hsi.shape)
        return real(inputs, **kw)

    monkeypatch.setattr(est, "estimate_degradation", counting)
    blind = case_x8.inputs.blind()
    spy = Spy()
    report = TiledFusion(spy, tile=256, overlap=64, crop_lr=32).run(blind)
    assert calls == [(31, 32, 32)]  # one estimate, on the central 32 x 32 LR crop
    assert report.degradation["source"] == "estimated"
    assert len(spy.seen) == len(report.plan) > 1
    first = spy.seen[0]
    assert first.srf is not None and first.psf is not None and first.phase is not None
    for seen in spy.seen[1:]:
        assert seen.srf is first.srf and seen.psf is first.psf  # the same estimate everywhere
        assert (seen.phase, seen.psf_centre) == (first.phase, first.psf_centre)
    # a real blind method (GSA) on tiles: still the one estimate
    calls.clear()
    fuse_tiled(get_method("gsa"), blind, tile=256, overlap=64)
    assert len(calls) == 1


def test_degradation_free_method_skips_estimation(case_x8, monkeypatch):
    import mossfuse.physics.estimation as est

    monkeypatch.setattr(est, "estimate_degradation",
                        lambda *a, **k: pytest.fail("bicubic needs no degradation"))
    report = TiledFusion(get_method("bicubic"), tile=256, overlap=64).run(case_x8.inputs.blind())
    assert report.degradation["source"] == "unused"
