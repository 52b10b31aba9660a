"""Losses against hand computations, the gradient routing, and one training step."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mossfuse_testing import single_threaded_torch, tiny_batch, tiny_config  # noqa: F401

from mossfuse.methods.mossfuse import DegradationModule, MossFuseNet, TrainState, train_step
from mossfuse.methods.mossfuse.losses import (
    degradation_estimation_loss,
    modality_aggregation_loss,
    mossfuse_losses,
    self_supervised_constraint_loss,
    subspace_clustering_loss,
)
from mossfuse.methods.mossfuse.network import MossFuseOutputs


def _t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 2, 2)


def test_sc_loss_hand_value():
    s_y, s_x = _t([1, 0, 0, 0]), _t([1, 1, 0, 0])
    c_y, c_x = _t([0, 1, 0, 0]), _t([0, 0, 1, 0])
    # cos(S_Y,S_x) = 1/sqrt 2; cos(S_Y,C_Y) = cos(S_x,C_x) = cos(C_Y,C_x) = 0
    expected = -math.log(math.exp(2**-0.5) / (math.exp(2**-0.5) + 3.0))
    assert float(subspace_clustering_loss(s_y, c_y, s_x, c_x)) == pytest.approx(expected, rel=1e-6)


def test_sc_loss_uses_whole_flattened_batch():
    g = torch.Generator().manual_seed(0)
    s_y, c_y, s_x, c_x = (torch.randn(2, 3, 4, 4, generator=g) for _ in range(4))
    f = [t.numpy().ravel().astype(np.float64) for t in (s_y, c_y, s_x, c_x)]
    cos = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)  # noqa: E731
    num = math.exp(cos(f[0], f[2]))
    den = num + math.exp(cos(f[0], f[1])) + math.exp(cos(f[2], f[3])) + math.exp(cos(f[1], f[3]))
    got = float(subspace_clustering_loss(s_y, c_y, s_x, c_x))
    assert got == pytest.approx(-math.log(num / den), rel=1e-5)


def test_ma_and_de_losses_hand_values_ratio_2():
    # r = 2: a 1-tap PSF (exactly a delta), phase 0; SRF init = [0.5, 0.5]
    deg = DegradationModule(2, 1, 2)
    fused = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [1.0, 0.0]]])[None] / 4
    lr_hsi = torch.tensor([[[0.5]], [[0.0]]])[None]  # (1, 2, 1, 1)
    hr_msi = torch.tensor([[[0.1, 0.2], [0.3, 0.4]]])[None]  # (1, 1, 2, 2)
    # PSF(X_hat) = X_hat[:, :, 0, 0] = (0.25, 0); SRF(X_hat) = mean of the two bands
    srf_x = np.array([[0.125, 0.375], [0.5, 0.5]])
    expected_ma = (abs(0.5 - 0.25) + abs(0.0 - 0.0)) / 2 + np.abs(
        np.array([[0.1, 0.2], [0.3, 0.4]]) - srf_x).mean()
    got = float(modality_aggregation_loss(fused, hr_msi, lr_hsi, deg))
    assert got == pytest.approx(expected_ma, rel=1e-6)
    # L_DE = |SRF(x) - PSF(Y)| = |0.25 - 0.1|
    de = degradation_estimation_loss(hr_msi, lr_hsi, deg)
    assert float(de.detach()) == pytest.approx(0.15, rel=1e-6)


def test_ma_loss_against_numpy_windows_ratio_4():
    deg = DegradationModule(3, 2, 4)  # 3-tap PSF, centre 1, phase 1
    with torch.no_grad():
        deg.psf_factor.copy_(torch.tensor([[0.9, 0.0], [0.2, 1.1]]))
        deg.srf_param.copy_(torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.5, 3.0]]))
    g = torch.Generator().manual_seed(1)
    fused = torch.rand(1, 3, 8, 8, generator=g)
    lr_hsi = torch.rand(1, 3, 2, 2, generator=g)
    hr_msi = torch.rand(1, 2, 8, 8, generator=g)
    k = deg.kernel().detach().numpy().astype(np.float64)
    r = deg.srf().detach().numpy().astype(np.float64)
    x = fused[0].numpy().astype(np.float64)
    blur = np.zeros((3, 2, 2))
    for i in range(2):
        for j in range(2):
            win = x[:, 4 * i : 4 * i + 3, 4 * j : 4 * j + 3]  # rows 1 + 4i - 1 ... + 1
            blur[:, i, j] = (win * k).sum(axis=(1, 2))
    spec = np.einsum("jk,khw->jhw", r, x)
    expected = np.abs(lr_hsi[0].numpy() - blur).mean() + np.abs(hr_msi[0].numpy() - spec).mean()
    got = float(modality_aggregation_loss(fused, hr_msi, lr_hsi, deg))
    assert got == pytest.approx(expected, rel=1e-5)


def _outputs(msi_hat, hsi_hat, lr_msi_hat, hsi_up) -> MossFuseOutputs:
    z = torch.zeros(1, 2, 4, 4)
    return MossFuseOutputs(z, z, z, z, msi_hat, hsi_hat, lr_msi_hat, z, hsi_up)


def test_sct_loss_hand_value_constant_images():
    deg = DegradationModule(2, 1, 2)  # delta PSF, SRF = [0.5, 0.5]
    hr_msi = torch.full((1, 1, 4, 4), 0.6)
    lr_hsi = torch.stack([torch.full((2, 2), 0.2), torch.full((2, 2), 0.4)])[None]
    hsi_up = torch.nn.functional.interpolate(lr_hsi, size=(4, 4), mode="bilinear")
    out = _outputs(torch.full((1, 1, 4, 4), 0.5), torch.full((1, 2, 4, 4), 0.3),
                   torch.full((1, 1, 4, 4), 0.45), hsi_up)
    # |Y - Y_hat| = 0.1; |x_up - x_hat| = (0.1 + 0.1) / 2; y_Y = 0.6: |0.6 - 0.45| = 0.15;
    # y_x = 0.3: |0.3 - 0.45| = 0.15
    for target in ("upsample", "degrade"):
        got = float(self_supervised_constraint_loss(out, hr_msi, lr_hsi, deg, target))
        assert got == pytest.approx(0.1 + 0.1 + 0.15 + 0.15, rel=1e-5)


def _reached(loss: torch.Tensor, named: list[tuple[str, torch.Tensor]]) -> dict[str, bool]:
    """Which parameters get a non-zero gradient from ``loss``."""
    grads = torch.autograd.grad(loss, [p for _, p in named], retain_graph=True, allow_unused=True)
    pairs = zip(named, grads, strict=True)
    return {n: g is not None and bool(g.abs().sum() > 0) for (n, _), g in pairs}


def test_gradient_routing():
    cfg = tiny_config(use_sct_loss=True)
    torch.manual_seed(0)
    net, deg = MossFuseNet(cfg), DegradationModule(8, 3, 4)
    with torch.no_grad():  # a PSF wide enough for visible gradients
        deg.psf_factor.copy_(torch.eye(2))
    hr, lr = tiny_batch(1, 8, 8)
    terms = mossfuse_losses(net(hr, lr), hr, lr, deg, cfg)
    net_p, deg_p = list(net.named_parameters()), list(deg.named_parameters())
    # L_DE reaches only the degradation module, and both of its parameters
    assert not any(_reached(terms.de, net_p).values())
    assert _reached(terms.de, deg_p) == {"psf_factor": True, "srf_param": True}
    # L_MA, L_SC, L_SCT reach only the network (PSF/SRF detached)
    for term in (terms.ma, terms.sc, terms.sct):
        assert any(_reached(term, net_p).values())
        assert not any(_reached(term, deg_p).values())
    # the fused output depends on E_Y, E_x and D_X only
    ma = _reached(terms.ma, net_p)
    assert any(v for n, v in ma.items() if n.startswith("decoder_fused"))
    assert not any(v for n, v in ma.items() if n.startswith(("decoder_msi", "decoder_lr_msi")))
    # L_SC reaches the encoders only
    sc = _reached(terms.sc, net_p)
    assert not any(v for n, v in sc.items() if n.startswith("decoder"))
    # the total (what train_step back-propagates) routes the same way
    terms.total.backward()
    assert all(p.grad is not None for p in deg.parameters())


def test_sct_loss_switch():
    hr, lr = tiny_batch(1, 8, 8)
    for flag in (False, True):
        cfg = tiny_config(use_sct_loss=flag)
        torch.manual_seed(0)
        net = MossFuseNet(cfg)
        terms = mossfuse_losses(net(hr, lr), hr, lr, DegradationModule(8, 3, 4), cfg)
        assert (terms.sct is not None) == flag
        expected = terms.ma + 0.1 * terms.sc + (terms.sct if flag else 0.0)
        torch.testing.assert_close(terms.network, expected)
        torch.testing.assert_close(terms.degradation, terms.de)


@pytest.mark.parametrize("constraint", ["clamp", "softplus"])
def test_train_step_updates_both_modules(constraint):
    cfg = tiny_config(srf_constraint=constraint, lr=1e-3, lr_degradation=1e-2)
    torch.manual_seed(0)
    state = TrainState.create(cfg)
    hr, lr = tiny_batch(2, 8, 8)
    net0 = {n: p.detach().clone() for n, p in state.net.named_parameters()}
    srf0 = state.degradation.srf_param.detach().clone()
    m0 = state.degradation.psf_factor.detach().clone()
    losses = train_step(state, {"hr_msi": hr, "lr_hsi": lr})
    assert {"ma", "sc", "de", "total"} <= set(losses) and all(map(math.isfinite, losses.values()))
    assert state.steps == 1
    assert not torch.equal(state.degradation.srf_param, srf0)
    assert not torch.equal(state.degradation.psf_factor, m0)
    changed = [n for n, p in state.net.named_parameters() if not torch.equal(p, net0[n])]
    assert any(n.startswith("decoder_fused") for n in changed)
    assert any(n.startswith("encoder_msi") for n in changed)
    r = state.degradation.srf()
    assert bool((r >= 0).all()) and torch.allclose(r.sum(1), torch.ones(3))
    if constraint == "clamp":
        assert bool((state.degradation.srf_param >= 0).all())


def test_free_degradation_ablation_is_unconstrained_and_trainable():
    from mossfuse.methods.mossfuse.degradation import DegradationModule

    deg = DegradationModule(5, 2, 4, model="free")
    assert not hasattr(deg, "psf_factor")
    assert deg.kernel().shape == (3, 3)
    with torch.no_grad():
        deg.srf_param.copy_(torch.tensor([[-0.5, 1.0, 2.0, 0.0, 0.1], [0.3] * 5]))
        deg.psf_kernel.fill_(-0.1)
    deg.project_()  # no projection in free mode: negatives and any row sum are kept
    torch.testing.assert_close(deg.srf(), deg.srf_param)
    assert deg.kernel().sum().item() == pytest.approx(-0.9)
    x, y = torch.rand(1, 5, 2, 2), torch.rand(1, 2, 8, 8)
    loss = (deg.lr_msi_from_hsi(x) - deg.spatial(y)).abs().mean()
    loss.backward()
    assert deg.psf_kernel.grad is not None and deg.srf_param.grad is not None
    assert set(deg.export()) >= {"kernel", "srf", "sigma"}
