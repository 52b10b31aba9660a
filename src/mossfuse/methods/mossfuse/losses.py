"""MossFuse losses (paper eqs. 8-14) and their gradient routing.

- ``L_SC`` (eq. 8), subspace clustering: with ``c(a, b)`` the cosine similarity of the two
  *whole flattened batch tensors*,
  ``-log(e^{c(S_Y,S_x)} / (e^{c(S_Y,S_x)} + e^{c(S_Y,C_Y)} + e^{c(S_x,C_x)} + e^{c(C_Y,C_x)}))``.
- ``L_MA`` (eq. 13): ``|x - PSF(X_hat)|_1 + |Y - SRF(X_hat)|_1``.
- ``L_DE`` (eq. 12): ``|SRF(x) - PSF(Y)|_1``, both LR-MSI estimates clamped to [0, 1].
- ``L_SCT`` (eqs. 9-11): ``|Y - Y_hat|_1 + |x - x_hat|_1 + |y_Y - y_hat|_1 + |y_x - y_hat|_1``
  (paper, weight alpha2 = 1; disabled in the release). The decoders work on the HR grid, so
  ``x`` / ``y`` targets are upsampled bilinearly (``sct_lr_target="upsample"``, as the LR-HSI
  is for its encoder) or the outputs are PSF-degraded (``"degrade"``).
- Total: ``L_MA + alpha1 L_SC + alpha2 L_SCT + alpha3 L_DE`` (0.1, 1, 1).

``|.|_1`` is the mean absolute error (``torch.nn.L1Loss``).

Gradient routing (as released): ``L_DE`` trains **only** the degradation module (its inputs are
the data, so no network parameter is reached). ``L_MA``, ``L_SC`` and ``L_SCT`` train **only**
the network: the PSF and SRF they use are detached (held constant), never toggled with
``requires_grad``. So one ``backward()`` of the total gives each optimiser exactly its terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812

from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.network import MossFuseOutputs, upsample_lr_hsi


def flat_cosine(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Cosine similarity of two tensors flattened whole (batch included): a scalar."""
    return F.cosine_similarity(a.reshape(1, -1), b.reshape(1, -1), dim=1, eps=eps)[0]


def subspace_clustering_loss(
    shared_msi: torch.Tensor, comp_msi: torch.Tensor, shared_hsi: torch.Tensor,
    comp_hsi: torch.Tensor,
) -> torch.Tensor:
    """``L_SC`` (eq. 8) from the four ``(N, C, H, W)`` features; scalar, >= 0.

    Equals ``logsumexp(c_SS, c_YY, c_xx, c_CC) - c_SS`` with ``c_SS = cos(S_Y, S_x)``,
    ``c_YY = cos(S_Y, C_Y)``, ``c_xx = cos(S_x, C_x)``, ``c_CC = cos(C_Y, C_x)``.
    """
    c_ss = flat_cosine(shared_msi, shared_hsi)
    others = torch.stack(
        [c_ss, flat_cosine(shared_msi, comp_msi), flat_cosine(shared_hsi, comp_hsi),
         flat_cosine(comp_msi, comp_hsi)]
    )
    return torch.logsumexp(others, dim=0) - c_ss


def modality_aggregation_loss(
    fused: torch.Tensor, hr_msi: torch.Tensor, lr_hsi: torch.Tensor, deg: DegradationModule
) -> torch.Tensor:
    """``L_MA`` (eq. 13) with the PSF/SRF detached: trains the network only.

    ``fused (N, B, H, W)``, ``hr_msi (N, b, H, W)``, ``lr_hsi (N, B, h, w)``.
    """
    return F.l1_loss(deg.spatial(fused, detach=True), lr_hsi) + F.l1_loss(
        deg.spectral(fused, detach=True), hr_msi
    )


def degradation_estimation_loss(
    hr_msi: torch.Tensor, lr_hsi: torch.Tensor, deg: DegradationModule
) -> torch.Tensor:
    """``L_DE`` (eq. 12): ``|clamp(SRF(x)) - clamp(PSF(Y))|_1``; trains the degradation only."""
    return F.l1_loss(deg.lr_msi_from_hsi(lr_hsi), deg.lr_msi_from_msi(hr_msi))


def self_supervised_constraint_loss(
    out: MossFuseOutputs,
    hr_msi: torch.Tensor,
    lr_hsi: torch.Tensor,
    deg: DegradationModule,
    lr_target: str = "upsample",
) -> torch.Tensor:
    """``L_SCT`` (eqs. 9-11); LR-MSI targets ``y_Y = PSF(Y)``, ``y_x = SRF(x)`` use the detached
    degradation (clamped to [0, 1]). See the module docstring for ``lr_target``."""
    if out.msi_hat is None or out.hsi_hat is None or out.lr_msi_hat is None:
        raise ValueError("L_SCT needs the reconstructions: run the network with "
                         "reconstructions=True")
    y_msi = deg.lr_msi_from_msi(hr_msi, detach=True)
    y_hsi = deg.lr_msi_from_hsi(lr_hsi, detach=True)
    loss = F.l1_loss(out.msi_hat, hr_msi)
    if lr_target == "upsample":
        size = tuple(hr_msi.shape[-2:])
        loss = loss + F.l1_loss(out.hsi_hat, out.hsi_up)
        loss = loss + F.l1_loss(out.lr_msi_hat, upsample_lr_hsi(y_msi, size))
        return loss + F.l1_loss(out.lr_msi_hat, upsample_lr_hsi(y_hsi, size))
    if lr_target == "degrade":
        loss = loss + F.l1_loss(deg.spatial(out.hsi_hat, detach=True), lr_hsi)
        y_hat = deg.spatial(out.lr_msi_hat, detach=True)
        return loss + F.l1_loss(y_hat, y_msi) + F.l1_loss(y_hat, y_hsi)
    raise ValueError(f"lr_target must be 'upsample' or 'degrade'; got {lr_target!r}")


def warm_start_loss(fused: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``|X_hat - G|_1`` between the network's fused output and a classical fusion ``G`` of
    the same inputs (the warm start of ``TrainConfig.warm_start``; both ``(N, B, H, W)``)."""
    return F.l1_loss(fused, target)


@dataclass
class LossTerms:
    """The individual terms (scalars with graph) and the weighted total.

    ``network`` = ``L_MA + alpha1 L_SC + alpha2 L_SCT`` (+ the weighted warm-start term
    ``warm`` while a warm start runs); ``degradation`` = ``alpha3 L_DE``; ``total`` = their sum
    (one backward pass feeds both optimisers correctly).
    """

    sc: torch.Tensor
    ma: torch.Tensor
    de: torch.Tensor
    sct: torch.Tensor | None
    network: torch.Tensor
    degradation: torch.Tensor
    warm: torch.Tensor | None = None

    @property
    def total(self) -> torch.Tensor:
        return self.network + self.degradation

    def as_floats(self) -> dict[str, float]:
        d = {"sc": self.sc, "ma": self.ma, "de": self.de, "network": self.network,
             "degradation": self.degradation, "total": self.total}
        if self.sct is not None:
            d["sct"] = self.sct
        if self.warm is not None:
            d["warm"] = self.warm
        return {k: float(v.detach()) for k, v in d.items()}


def mossfuse_losses(
    out: MossFuseOutputs,
    hr_msi: torch.Tensor,
    lr_hsi: torch.Tensor,
    deg: DegradationModule,
    cfg: MossFuseConfig,
    sc: torch.Tensor | None = None,
) -> LossTerms:
    """All loss terms of one batch with the release's routing (module docstring).

    ``sc`` replaces the batch's ``L_SC`` (multi-process training passes the global one).
    """
    if sc is None:
        sc = subspace_clustering_loss(out.shared_msi, out.comp_msi, out.shared_hsi, out.comp_hsi)
    ma = modality_aggregation_loss(out.fused, hr_msi, lr_hsi, deg)
    de = degradation_estimation_loss(hr_msi, lr_hsi, deg)
    network = ma + cfg.alpha_sc * sc
    sct = None
    if cfg.use_sct_loss:
        sct = self_supervised_constraint_loss(out, hr_msi, lr_hsi, deg, cfg.sct_lr_target)
        network = network + cfg.alpha_sct * sct
    return LossTerms(sc, ma, de, sct, network, cfg.alpha_de * de)
