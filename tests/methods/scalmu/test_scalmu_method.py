"""SCALMU: non-negativity, factors, gradients, weights (save/load/shipped), synthetic data,
the `train --method scalmu` path. Tiny arrays (fast, single-threaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from methods.methods_testing import bicubic_psnr, make_case, psnr
from mossfuse.errors import MossfuseInputError
from mossfuse.methods import available_methods, get_method, load_method
from mossfuse.methods.scalmu import Scalmu, ScalmuNet, make_problem, run_scalmu, shipped_weights
from mossfuse.methods.scalmu.data import SyntheticPairs, random_dead_leaves_config
from mossfuse.methods.scalmu.network import (
    FORMAT,
    GuidedUpsampler,
    LocalLinearGuide,
    msi_consistency,
)
from mossfuse.methods.scalmu.trainer import ScalmuTrainConfig, train_scalmu
from mossfuse.physics import get_protocol
from mossfuse.physics.estimation import resolve_degradation

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def case():
    return make_case(bands=16, size=64, ratio=8)


def test_registered_and_beats_bicubic_untrained(case):
    assert "scalmu" in available_methods()
    res = get_method("scalmu", weights="none", keep_factors=True).fuse(case.inputs)
    assert res.hr_hsi.shape == case.reference.shape
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 5.0
    e, a = res.info["endmembers"], res.info["abundances"]
    assert (e >= 0).all() and (a >= 0).all() and (res.hr_hsi >= 0).all()
    # the output is E A plus the guided LR residual: the factors alone explain most of it
    ea = np.einsum("bp,phw->bhw", e, a)
    assert psnr(res.hr_hsi, ea) > 30 and not np.allclose(ea, res.hr_hsi)


def test_iterates_nonnegative_for_any_parameters(case):
    # non-negativity holds by construction whatever the learned values are
    deg = resolve_degradation(case.inputs)
    pb = make_problem(case.inputs.lr_hsi, case.inputs.hr_msi, deg.srf, deg.spatial())
    net = ScalmuNet(3)
    with torch.no_grad():
        for prm in net.parameters():
            prm.copy_(torch.randn_like(prm))
        out = run_scalmu(net, pb, n_endmembers=5, n_init=10, n_sub=2)
    assert torch.isfinite(out.z).all()
    assert (out.endmembers >= 0).all() and (out.abundances >= 0).all()


def test_guided_upsampler_is_a_convex_combination(case):
    deg = resolve_degradation(case.inputs)
    pb = make_problem(case.inputs.lr_hsi, case.inputs.hr_msi, deg.srf, deg.spatial())
    gu = GuidedUpsampler(pb)
    w = gu.weights(torch.tensor(0.1), torch.tensor(0.3), torch.tensor(1.0))
    assert w.shape == (9, 8, 8, 8, 8) and (w >= 0).all()
    torch.testing.assert_close(w.sum(0), torch.ones(8, 8, 8, 8))
    const = torch.full((2, 8, 8), 0.5)
    torch.testing.assert_close(gu.apply(const, w), torch.full((2, 64, 64), 0.5))


def test_local_linear_guide_inverts_the_blur_on_locally_linear_images():
    # an HR cube that is a linear function of the MSI (plus offsets) is recovered from its
    # LR version alone, through the MSI; a constant map stays constant
    deg = get_protocol("wald-x8").degradation(np.arange(400.0, 701.0, 10.0))
    rng = np.random.default_rng(0)
    y = rng.uniform(0.1, 1.0, (3, 64, 64)).astype(np.float32)
    y = np.stack([np.convolve(r, np.ones(5) / 5, "same") for r in y.reshape(-1, 64)])
    y = y.reshape(3, 64, 64).astype(np.float32)
    m, c = rng.uniform(0, 1, (3, 5)), rng.uniform(0, 0.1, 5)
    z = (np.einsum("bc,bhw->chw", m, y) + c[:, None, None]).astype(np.float32)
    sp = deg.spatial()
    x = sp(torch.from_numpy(z)).numpy()
    pb = make_problem(x, y, np.ones((3, 5), np.float32), sp)
    guide = LocalLinearGuide(pb)
    np.testing.assert_allclose(guide.apply(pb.x, 1e-7).numpy(), z, atol=2e-3)
    const = torch.full((2, 8, 8), 0.25)
    torch.testing.assert_close(guide.apply(const, 1e-4), torch.full((2, 64, 64), 0.25))
    with pytest.raises(ValueError, match="odd"):
        LocalLinearGuide(pb, window=4)


def test_msi_consistency_matches_the_msi_and_keeps_what_it_cannot_see(case):
    deg = resolve_degradation(case.inputs)
    pb = make_problem(case.inputs.lr_hsi, case.inputs.hr_msi, deg.srf, deg.spatial())
    z = torch.rand(pb.x.shape[0], *pb.y.shape[1:])
    out = msi_consistency(z, pb, 1.0, 1e-7)
    r_out = torch.einsum("bc,chw->bhw", pb.srf, out)
    torch.testing.assert_close(r_out, pb.y, atol=1e-4, rtol=1e-3)
    # a cube that already explains the MSI is left alone; kappa = 0 changes nothing
    torch.testing.assert_close(msi_consistency(out, pb, 1.0, 1e-7), out, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(msi_consistency(z, pb, 0.0), z)


def test_inference_path_computes_what_the_training_path_does(case):
    # the no-autograd layers (preallocated buffers, cell-major G_k) are an optimisation only
    deg = resolve_degradation(case.inputs)
    pb = make_problem(case.inputs.lr_hsi, case.inputs.hr_msi, deg.srf, deg.spatial())
    gu = GuidedUpsampler(pb)
    tau = (0.07, 0.4, 0.8)
    w = gu.weights(*(torch.tensor(t) for t in tau))
    wb = gu.weights_into(*tau, torch.empty(64, 9, 64))
    torch.testing.assert_close(wb.view(8, 8, 9, 8, 8).permute(2, 0, 3, 1, 4), w)
    z = torch.rand(3, 8, 8)
    out = gu.apply_into(z, wb, torch.empty(3, 64 * 64), torch.empty(64, 3, 64))
    torch.testing.assert_close(out.view(3, 64, 64), gu.apply(z, w))
    net = ScalmuNet(3)
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(0.3 * torch.randn_like(prm))
        fast = run_scalmu(net, pb, n_endmembers=5, n_init=10, n_sub=2)
    slow = run_scalmu(net, pb, n_endmembers=5, n_init=10, n_sub=2)
    assert slow.z.requires_grad and not fast.z.requires_grad
    torch.testing.assert_close(fast.z, slow.z.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(fast.abundances, slow.abundances.detach(), rtol=1e-4, atol=1e-5)


def test_gradients_reach_every_parameter(case):
    deg = resolve_degradation(case.inputs)
    pb = make_problem(case.inputs.lr_hsi, case.inputs.hr_msi, deg.srf, deg.spatial())
    net = ScalmuNet(2)
    out = run_scalmu(net, pb, n_endmembers=4, n_init=5, n_sub=1)
    (out.z - torch.from_numpy(case.reference)).abs().mean().backward()
    for name, prm in net.named_parameters():
        assert prm.grad is not None and torch.isfinite(prm.grad).all(), name
        assert prm.grad.abs().sum() > 0, name


def test_blind_mode_estimates(case):
    res = Scalmu(weights="none", n_init=20).fuse(case.inputs.blind())
    assert res.estimated_srf is not None and res.estimated_psf is not None
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 3.0


def test_synthetic_pairs_are_seeded_and_separate_from_real_data():
    deg = get_protocol("wald-x8").degradation(np.arange(400.0, 701.0, 10.0))
    ds = SyntheticPairs(deg, 32, seed=3)
    a, b = ds[5], ds[5]
    np.testing.assert_array_equal(a.reference, b.reference)
    assert a.inputs.lr_hsi.shape == (31, 4, 4) and a.inputs.hr_msi.shape == (3, 32, 32)
    assert not np.array_equal(ds[6].reference, a.reference)
    assert 0 <= a.reference.min() and a.reference.max() <= 1
    cfg = random_dead_leaves_config(32, np.arange(400.0, 701.0, 10.0), np.random.default_rng(0))
    assert cfg.shape == "mixed" and cfg.size == (32, 32) and cfg.n_materials is None
    sizes = {random_dead_leaves_config(32, np.arange(400.0, 701.0, 10.0),
                                       np.random.default_rng(i), (2, 8)).n_materials
             for i in range(40)}
    assert sizes <= set(range(2, 9)) and {2, 8} <= sizes
    with pytest.raises(ValueError, match="materials"):
        SyntheticPairs(deg, 32, materials=(5, 2))
    import mossfuse.methods.scalmu.data as data_mod
    src = open(data_mod.__file__).read()
    assert "import" not in "".join(ln for ln in src.splitlines() if "cave" in ln.lower()
                                   and ln.startswith(("import", "from")))


def test_train_save_load_roundtrip(tmp_path, case):
    deg = get_protocol("wald-x8").degradation(np.arange(400.0, 701.0, 10.0))
    tc = ScalmuTrainConfig(protocol="wald-x8", steps=2, size=32, n_layers=2, n_endmembers=4,
                           n_init=5, n_sub=1, n_val=1, validate_every=1, checkpoint_every=1)
    summary = train_scalmu(tc, deg, tmp_path, log=lambda *a: None)
    assert summary["steps"] == 2
    lines = [json.loads(s) for s in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [0, 1, 2] and "val_psnr" in lines[-1]
    meta = json.loads((tmp_path / "model.json").read_text())
    assert meta["format"] == FORMAT and meta["ratio"] == 8 and meta["n_layers"] == 2
    m = load_method("scalmu", {"weights": str(tmp_path / "model.safetensors")})
    res = m.fuse(case.inputs)  # 16 bands: the scalar weights are band-count independent
    assert res.hr_hsi.shape == case.reference.shape and res.info["n_layers"] == 2
    m.save(tmp_path / "again.safetensors")
    assert json.loads((tmp_path / "again.json").read_text())["n_layers"] == 2


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"")
    (tmp_path / "x.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(MossfuseInputError, match="not a SCALMU checkpoint"):
        Scalmu().load(tmp_path / "x.safetensors")
    (tmp_path / "x.json").write_text(json.dumps({"format": "scalmu-v2"}))
    with pytest.raises(MossfuseInputError, match="retrain"):
        Scalmu().load(tmp_path / "x.safetensors")


@pytest.mark.skipif(not shipped_weights(), reason="no shipped SCALMU weights in this checkout")
def test_shipped_weights_are_used_by_ratio(case):
    ship = shipped_weights()
    assert {8, 32} <= set(ship)
    res = Scalmu().fuse(case.inputs)  # ratio 8 -> the wald-x8 weights
    assert res.info["weights_ratio"] == 8 and "note" not in res.info
    assert psnr(case.reference, res.hr_hsi) > bicubic_psnr(case) + 5.0


def test_psnr_loss_is_minus_the_mean_band_psnr():
    from mossfuse.methods.scalmu.trainer import _loss

    rng = np.random.default_rng(1)
    ref = rng.uniform(0, 1, (4, 8, 8))
    z = ref + rng.normal(0, [[[0.01]], [[0.02]], [[0.05]], [[0.1]]], ref.shape)
    band_psnr = [10 * np.log10(1 / np.mean((z[b] - ref[b]) ** 2)) for b in range(4)]
    got = _loss(torch.from_numpy(z), torch.from_numpy(ref), "psnr")
    assert float(got) == pytest.approx(-np.mean(band_psnr), rel=1e-6)
    assert float(_loss(torch.from_numpy(z), torch.from_numpy(ref), "l1")) == pytest.approx(
        np.abs(z - ref).mean())
    with pytest.raises(ValueError):
        ScalmuTrainConfig(loss="l2")
