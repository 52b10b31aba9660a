"""Learnable degradation module of MossFuse: an anisotropic Gaussian PSF and an SRF matrix.

Paper Sec. 3.5: the PSF is an anisotropic Gaussian with covariance
``R(theta) diag(lambda1, lambda2) R(theta)^T``; here it is parameterised, as released, by the
precision ``P = M^T M`` with ``M`` a lower-triangular 2 x 2 factor (3 free entries; the upper
entry of the stored 2 x 2 parameter is masked out), initialised to ``M = 5 I`` (sigma 0.2 px,
nearly a delta). The SRF is a ``(b, B)`` parameter initialised to ones, made non-negative
(clamp or softplus) and row-normalised to sum 1. These are global parameters of a dataset,
not predicted per image.

``model="free"`` is the ablation of the paper's Table 3 ("degradation module replaced by a free
convolution"): the PSF is a free ``(k, k)`` kernel (initialised to the Gaussian start) and the
SRF a free ``(b, B)`` 1x1 convolution (initialised to ``1 / B``), with no positivity, no
sum-to-one and no Gaussian structure.

Convention
----------
Every degradation goes through :mod:`mossfuse.physics`: the kernel is built by
:func:`~mossfuse.physics.psf.gaussian_kernel_from_precision` (precision in (x, y) = (column,
row) order, taps at integer offsets from the centre, normalised to sum 1) and applied by
:func:`~mossfuse.physics.spatial.spatial_degrade` (valid correlation, stride ``r``, LR sample
``i`` on HR pixel ``phase + r i``); the SRF by :func:`~mossfuse.physics.spectral.spectral_degrade`
(``msi[j] = sum_k R[j, k] hsi[k]``). The kernel has ``r - 1`` taps per side with the centre at
the middle tap (r = 32: 31 x 31, centre 15, phase 15, windows ``[32 i, 32 i + 31)``: the
``mossfuse-x32`` geometry).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.forward import FusionForwardModel
from mossfuse.physics.psf import default_centre, gaussian_kernel_from_precision, kernel_moments
from mossfuse.physics.spatial import SpatialDegradation, spatial_degrade
from mossfuse.physics.spectral import spectral_degrade

SRF_EPS = 1e-12


class DegradationModule(nn.Module):
    """PSF (``M``, 2 x 2, lower triangle used) and SRF (``(b, B)``) parameters.

    Args:
        hsi_bands: ``B``.
        msi_bands: ``b``.
        ratio: ``r`` (>= 2).
        psf_size: taps per side (default ``r - 1``).
        phase: HR index of the first LR sample (default: the kernel centre).
        srf_constraint: ``"clamp"`` (``max(P, 0)`` in the forward pass, plus
            :meth:`project_` after each optimiser step so entries stay >= 0 and can recover)
            or ``"softplus"`` (``log(1 + e^P)``, strictly positive).
        psf_init_scale: ``M = s I`` at init (precision ``s^2 I``, sigma ``1 / s`` px).
        model: ``"gaussian"`` (the paper) or ``"free"`` (unconstrained kernel and SRF, the
            ablation).

    >>> deg = DegradationModule(31, 3, 32)
    >>> deg.kernel().shape, round(deg.export()["sigma"], 3)
    (torch.Size([31, 31]), 0.2)
    """

    def __init__(
        self,
        hsi_bands: int,
        msi_bands: int,
        ratio: int,
        *,
        psf_size: int | None = None,
        phase: int | None = None,
        srf_constraint: Literal["clamp", "softplus"] = "clamp",
        psf_init_scale: float = 5.0,
        model: Literal["gaussian", "free"] = "gaussian",
    ):
        super().__init__()
        if ratio < 2:
            raise MossfuseInputError(f"ratio must be >= 2 for a learnable PSF; got {ratio}")
        if srf_constraint not in ("clamp", "softplus"):
            raise MossfuseInputError(
                f"srf_constraint must be 'clamp' or 'softplus'; got {srf_constraint!r}"
            )
        self.ratio = int(ratio)
        self.psf_size = int(psf_size) if psf_size is not None else self.ratio - 1
        self.centre = default_centre(self.psf_size)
        self.phase = self.centre if phase is None else int(phase)
        if not 0 <= self.phase < self.ratio:
            raise MossfuseInputError(f"phase must be in [0, {self.ratio}); got {self.phase}")
        if model not in ("gaussian", "free"):
            raise MossfuseInputError(f"model must be 'gaussian' or 'free'; got {model!r}")
        self.srf_constraint = srf_constraint
        self.model = model
        self.register_buffer("_tril", torch.tensor([[1.0, 0.0], [1.0, 1.0]]), persistent=False)
        if model == "gaussian":
            self.psf_factor = nn.Parameter(psf_init_scale * torch.eye(2))
            self.srf_param = nn.Parameter(torch.ones(msi_bands, hsi_bands))
        else:
            start = gaussian_kernel_from_precision(
                (psf_init_scale**2) * torch.eye(2), self.psf_size, (self.centre, self.centre)
            )
            self.psf_kernel = nn.Parameter(start.detach().clone())
            self.srf_param = nn.Parameter(torch.full((msi_bands, hsi_bands), 1.0 / hsi_bands))

    @classmethod
    def from_known(
        cls, kernel: np.ndarray, srf: np.ndarray, ratio: int, phase: int, centre: int
    ) -> DegradationModule:
        """A module holding a known PSF ``(k, k)`` and SRF ``(b, B)`` exactly (``free`` model,
        so any kernel shape is represented), for training against the true degradation; keep
        it frozen (``TrainConfig(degradation_after_warmup="frozen")``).

        >>> k = np.full((3, 3), 1 / 9, dtype="f4")
        >>> deg = DegradationModule.from_known(k, np.full((1, 4), 0.25), 4, 1, 1)
        >>> bool(torch.allclose(deg.kernel(), torch.as_tensor(k)))
        True
        """
        kernel = np.asarray(kernel, dtype=np.float32)
        srf = np.asarray(srf, dtype=np.float32)
        if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1]:
            raise MossfuseInputError(
                f"known PSF must be a square (k, k) kernel; got {kernel.shape}"
            )
        if centre != default_centre(kernel.shape[0]):
            raise MossfuseInputError(
                f"known PSF of {kernel.shape[0]} taps has its centre at {centre}; the module "
                f"expects {default_centre(kernel.shape[0])}"
            )
        if srf.ndim != 2:
            raise MossfuseInputError(f"known SRF must be (msi bands, hsi bands); got {srf.shape}")
        mod = cls(srf.shape[1], srf.shape[0], ratio, psf_size=kernel.shape[0], phase=phase,
                  model="free")
        with torch.no_grad():
            mod.psf_kernel.copy_(torch.from_numpy(kernel))
            mod.srf_param.copy_(torch.from_numpy(srf))
        return mod

    # --- parameters -> physical quantities ------------------------------------------------
    def factor(self) -> torch.Tensor:
        """Lower-triangular ``M`` ``(2, 2)`` (x, y order); Gaussian mode only."""
        return self.psf_factor * self._tril

    def precision(self) -> torch.Tensor:
        """Precision ``M^T M`` ``(2, 2)`` in 1/px^2 (x, y order); in ``free`` mode the inverse
        of the kernel's second-moment covariance (not differentiable)."""
        if self.model == "free":
            cov = kernel_moments(self.psf_kernel.detach().double().cpu().numpy(),
                                 (self.centre, self.centre))["covariance"]
            return torch.linalg.inv(torch.as_tensor(cov) + 1e-9 * torch.eye(2)).float()
        m = self.factor()
        return m.T @ m

    def kernel(self) -> torch.Tensor:
        """The PSF ``(k, k)``, sums to 1, centre tap ``k // 2`` (differentiable); the raw free
        kernel in ``free`` mode."""
        if self.model == "free":
            return self.psf_kernel
        return gaussian_kernel_from_precision(
            self.precision(), self.psf_size, (self.centre, self.centre)
        )

    def srf(self) -> torch.Tensor:
        """The SRF ``(b, B)``: non-negative, each row summing to 1 (differentiable); the raw
        matrix in ``free`` mode."""
        if self.model == "free":
            return self.srf_param
        if self.srf_constraint == "softplus":
            w = F.softplus(self.srf_param)
        else:
            w = self.srf_param.clamp(min=0.0)
        return w / w.sum(dim=1, keepdim=True).clamp(min=SRF_EPS)

    @torch.no_grad()
    def project_(self) -> None:
        """After an optimiser step: clamp the raw SRF parameter to >= 0 (``clamp`` mode; the
        paper's "clamped activation during each iteration"). No-op for ``softplus``."""
        if self.srf_constraint == "clamp" and self.model == "gaussian":
            self.srf_param.clamp_(min=0.0)

    # --- operators ---------------------------------------------------------------------------
    def spatial(self, x: torch.Tensor, *, detach: bool = False) -> torch.Tensor:
        """PSF blur + decimation: ``(..., H, W) -> (..., h, w)``; ``detach`` holds the PSF
        constant (no gradient reaches ``M``)."""
        k = self.kernel()
        if detach:
            k = k.detach()
        return spatial_degrade(x, k, self.ratio, self.phase, centre=self.centre)

    def spectral(self, x: torch.Tensor, *, detach: bool = False) -> torch.Tensor:
        """SRF: ``(..., B, H, W) -> (..., b, H, W)``; ``detach`` holds the SRF constant."""
        r = self.srf()
        if detach:
            r = r.detach()
        return spectral_degrade(x, r)

    def lr_msi_from_msi(self, hr_msi: torch.Tensor, *, detach: bool = False) -> torch.Tensor:
        """``y_Y = clamp(PSF(Y), 0, 1)``: ``(N, b, H, W) -> (N, b, h, w)``."""
        return self.spatial(hr_msi, detach=detach).clamp(0.0, 1.0)

    def lr_msi_from_hsi(self, lr_hsi: torch.Tensor, *, detach: bool = False) -> torch.Tensor:
        """``y_x = clamp(SRF(x), 0, 1)``: ``(N, B, h, w) -> (N, b, h, w)``."""
        return self.spectral(lr_hsi, detach=detach).clamp(0.0, 1.0)

    # --- export ----------------------------------------------------------------------------
    @torch.no_grad()
    def export(self) -> dict:
        """Estimated degradation as plain numbers / arrays.

        Returns a dict with ``kernel`` ``(k, k)`` float32, ``srf`` ``(b, B)`` float32,
        ``precision`` and ``covariance`` (2 x 2, px^2, x/y order), ``eigenvalues``
        ``(lambda1 >= lambda2)`` of the covariance in px^2, ``theta`` (radians, angle of the
        lambda1 eigenvector from the x axis, in (-pi/2, pi/2]), ``sigma`` =
        ``sqrt(mean eigenvalue)`` (the analytic, untruncated Gaussian), ``centre``, ``phase``,
        ``ratio``.
        """
        prec = self.precision().double().cpu().numpy()
        cov = np.linalg.inv(prec)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        evals, evecs = evals[order], evecs[:, order]
        theta = math.atan2(evecs[1, 0], evecs[0, 0])
        if theta <= -math.pi / 2:
            theta += math.pi
        elif theta > math.pi / 2:
            theta -= math.pi
        return {
            "kernel": self.kernel().float().cpu().numpy(),
            "srf": self.srf().float().cpu().numpy(),
            "precision": prec,
            "covariance": cov,
            "eigenvalues": (float(evals[0]), float(evals[1])),
            "theta": float(theta),
            "sigma": float(np.sqrt(evals.mean())),
            "centre": self.centre,
            "phase": self.phase,
            "ratio": self.ratio,
        }

    def forward_model(self) -> FusionForwardModel:
        """The current estimate as a fixed :class:`~mossfuse.physics.forward.FusionForwardModel`."""
        e = self.export()
        spatial = SpatialDegradation(e["kernel"], self.ratio, self.phase, centre=self.centre)
        return FusionForwardModel(spatial, e["srf"])
