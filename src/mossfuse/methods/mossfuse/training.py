"""One optimisation step of MossFuse: all losses, two Adam optimisers (network, degradation).

The full training loop (crops, augmentation, epochs) is assigned separately; this module pins
the loss routing so it can be tested: see :mod:`.losses`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.losses import LossTerms, mossfuse_losses
from mossfuse.methods.mossfuse.network import MossFuseNet


@dataclass
class TrainState:
    """Network, degradation module and their optimisers."""

    net: MossFuseNet
    degradation: DegradationModule
    opt_net: torch.optim.Optimizer
    opt_degradation: torch.optim.Optimizer
    cfg: MossFuseConfig
    steps: int = 0

    @classmethod
    def create(
        cls, cfg: MossFuseConfig, net: MossFuseNet | None = None,
        degradation: DegradationModule | None = None,
    ) -> TrainState:
        """Build (or adopt) the modules and Adam optimisers (betas 0.9/0.999, eps 1e-8)."""
        net = net if net is not None else MossFuseNet(cfg)
        degradation = degradation if degradation is not None else make_degradation(cfg)
        return cls(
            net, degradation,
            torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8),
            torch.optim.Adam(
                degradation.parameters(), lr=cfg.lr_degradation, betas=(0.9, 0.999), eps=1e-8
            ),
            cfg,
        )


def make_degradation(cfg: MossFuseConfig) -> DegradationModule:
    """The degradation module a config describes."""
    return DegradationModule(
        cfg.hsi_bands, cfg.msi_bands, cfg.ratio, psf_size=cfg.psf_size, phase=cfg.phase,
        srf_constraint=cfg.srf_constraint, psf_init_scale=cfg.psf_init_scale,
    )


def compute_losses(
    state: TrainState, hr_msi: torch.Tensor, lr_hsi: torch.Tensor
) -> LossTerms:
    """Forward pass (train mode) and every loss term, without stepping."""
    state.net.train()
    out = state.net(hr_msi, lr_hsi, reconstructions=state.cfg.use_sct_loss)
    return mossfuse_losses(out, hr_msi, lr_hsi, state.degradation, state.cfg)


def train_step(state: TrainState, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """One step on ``batch = {"hr_msi": (N, b, H, W), "lr_hsi": (N, B, h, w)}``.

    Zeroes both optimisers, back-propagates the total once (the detaches in :mod:`.losses`
    route ``L_DE`` to the degradation module and the rest to the network), steps both, then
    projects the SRF (clamp mode). Returns the loss values as floats.
    """
    hr_msi, lr_hsi = batch["hr_msi"], batch["lr_hsi"]
    state.opt_net.zero_grad(set_to_none=True)
    state.opt_degradation.zero_grad(set_to_none=True)
    terms = compute_losses(state, hr_msi, lr_hsi)
    terms.total.backward()
    state.opt_net.step()
    state.opt_degradation.step()
    state.degradation.project_()
    state.steps += 1
    return terms.as_floats()
