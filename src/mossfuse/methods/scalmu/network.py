"""The SCALMU network: K unrolled layers of coupled-NMF multiplicative updates with learned,
non-negative adaptive terms.

SCALMU ("Synthetically-trained Coupling of Adaptive Learned Multiplicative Updates", see
``shared/papers/scalmu_abstract.txt``) unrolls the multiplicative updates (MU) of CNMF (Yokoya,
Yairi & Iwasaki, "Coupled nonnegative matrix factorization unmixing for hyperspectral and
multispectral data fusion", IEEE TGRS 50(2), 2012) into a network and inserts learnable
adaptive matrices in the updates, keeping every iterate non-negative. This module is our own
implementation of that idea (design choices in ``docs/scalmu.md``).

Model (matrices ``(bands, pixels)``)
------------------------------------
``Z = E A`` with endmembers ``E`` ``(B, p)`` and HR abundances ``A`` ``(p, H W)``, both >= 0.
LR-HSI ``X ~= E S(A)`` (``S`` = PSF + decimation, :class:`~mossfuse.physics.spatial.
SpatialDegradation`), HR-MSI ``Y ~= (R E) A`` (``R`` the ``(b, B)`` SRF). As in CNMF the MSI
term is augmented with a row ``delta 1^T`` (soft sum-to-one of the abundances).

Initialisation (no learned part, CNMF step 1): VCA endmembers of ``X`` and ``n_init`` Lee-Seung
updates of the LR unmixing ``X ~= E A_lr`` (``E`` and ``A_lr`` alternately), then
``A^(0) = G_0(A_lr)``.

Adaptive matrix ``G_k`` (the learned part)
----------------------------------------
``G_k`` maps an LR map ``(c, h, w)`` to the HR grid ``(c, H, W)``: HR pixel ``q`` takes a convex
combination of the 3 x 3 LR cells around its own, with weights
``softmax_j(-|chroma(y_q) - chroma(y~_j)|^2 / tau_c^2 - (log I(y_q) - log I(y~_j))^2 / tau_i^2
- |q - c_j|^2 / sigma^2)``, where ``y`` is the HR-MSI, ``y~ = R X`` the LR-HSI seen by the MSI
sensor, ``chroma`` the band-normalised MSI vector and ``I`` its mean (scale-invariant features)
and ``c_j`` the LR sample position (in LR pixels). It is a non-negative ``(H W) x (h w)`` matrix
computed from the inputs, with 3 learned positive scalars per layer (``tau_c, tau_i, sigma``):
an MSI-guided (joint-bilateral) upsampling. It replaces the adjoint ``S^T`` in the LR-HSI part
of the abundance update (a learned, input-adaptive preconditioner; ``S^T`` itself only reaches
the HR pixels under the 31 x 31 PSF footprint of each LR sample at x32).

Layer ``k`` (``k = 1..K``), ``W_m = [R E; delta 1^T]``, ``Y_a = [Y; delta 1^T]``::

    A <- A * ((W_m^T Y_a + l_k G_k(E^T X)) / (W_m^T W_m A + l_k G_k(E^T E S(A))))^eta_k
    E <- E * ((X S(A)^T + m_k R^T Y A^T) / (E S(A) S(A)^T + m_k R^T R E A A^T))^xi_k

with learned positive ``l_k`` (weight of the LR-HSI term, relative to ``(b + 1) / B``),
``m_k`` (weight of the MSI term in the endmember update, relative to ``h w / (H W)``), step
exponents ``eta_k, xi_k`` (1 = classical MU) and ``delta``'s multiplier. Every factor is a
ratio of sums of non-negative terms raised to a positive power, so ``A, E >= 0`` by
construction.

Final layer (guided residual, :func:`_guided_residual`): what ``p`` endmembers cannot express
but the LR-HSI still holds is brought back through the local linear structure of the MSI,
``Z = [alpha E A + G(beta X - gamma E S(A))]_+``, where ``G`` (:class:`LocalLinearGuide`) is a
second input-adaptive matrix: per LR cell, a ridge regression of its input on the MSI seen
at LR (the guided filter of He et al., TPAMI 2013), applied to the HR-MSI. Learned: the ridge
``eps`` and ``alpha, beta, gamma``. Then the MSI-consistency step (:func:`msi_consistency`)
moves ``Z`` towards the HR-MSI along the linear MMSE gain of the LR-HSI's spectral statistics,
``Z <- [Z + kappa K (Y - R Z)]_+`` (learned gain ``kappa`` and ridge). ``E`` and ``A`` stay the
non-negative factors of the layers; ``Z`` is clipped at 0.

Every learned quantity is a scalar: the weights do not depend on the band counts ``B``,
``b``, the endmember count ``p``, the ratio or the image size.

Convention: torch float32, ``(bands, H, W)`` images; ``H = r h``, ``W = r w`` (LR cell ``i``
covers HR rows ``[r i, r i + r)``; its sample sits at ``phase + r i``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from mossfuse.methods._linalg import vca

_EPS = 1e-9
FORMAT = "scalmu-v3"
# network shape used when neither the caller nor a checkpoint says otherwise (one place for
# run_scalmu, the training config and the method)
DEFAULT_SHAPE = {"n_endmembers": 12, "n_sub": 5, "n_init": 100}


def _softplus_inv(y: float) -> float:
    return math.log(math.expm1(y))


class ScalmuNet(nn.Module):
    """The learned parameters of SCALMU (all scalars, see module docstring).

    Args:
        n_layers: ``K``, unrolled layers.

    Parameters (shapes): ``log_lam``, ``eta_raw``, ``log_mu``, ``xi_raw`` ``(K,)``;
    ``log_tau_c``, ``log_tau_i``, ``log_sigma`` ``(K + 1,)`` (index 0: the initial upsampling
    ``G_0``); ``log_delta`` ``()`` (multiplier of CNMF's ``delta``); ``log_eps_g``,
    ``alpha_raw``, ``beta_raw``, ``gamma_raw`` ``()`` (the guided residual layer: ridge
    ``eps``, weights ``alpha``, ``beta``, ``gamma``); ``kappa_raw``, ``log_eps_w`` ``()`` (the
    MSI-consistency step: gain ``kappa`` and relative ridge ``eps_w``).
    """

    def __init__(self, n_layers: int = 8):
        super().__init__()
        k = int(n_layers)
        self.n_layers = k
        self.log_lam = nn.Parameter(torch.zeros(k))
        self.eta_raw = nn.Parameter(torch.full((k,), _softplus_inv(1.0)))
        self.log_mu = nn.Parameter(torch.zeros(k))
        self.xi_raw = nn.Parameter(torch.full((k,), _softplus_inv(1.0)))
        self.log_tau_c = nn.Parameter(torch.full((k + 1,), math.log(0.05)))
        self.log_tau_i = nn.Parameter(torch.full((k + 1,), math.log(0.3)))
        self.log_sigma = nn.Parameter(torch.full((k + 1,), math.log(1.0)))
        self.log_delta = nn.Parameter(torch.zeros(()))
        # final guided residual layer (see run_scalmu): ridge of the local linear models and
        # the weights of E A and of its LR prediction in the residual
        self.log_eps_g = nn.Parameter(torch.tensor(math.log(1e-4)))
        self.alpha_raw = nn.Parameter(torch.tensor(_softplus_inv(1.0)))
        self.beta_raw = nn.Parameter(torch.tensor(_softplus_inv(1.0)))
        self.gamma_raw = nn.Parameter(torch.tensor(_softplus_inv(1.0)))
        # MSI-consistency step (see msi_consistency): gain and relative ridge
        self.kappa_raw = nn.Parameter(torch.tensor(_softplus_inv(1.0)))
        self.log_eps_w = nn.Parameter(torch.tensor(math.log(1e-4)))

    def layer_values(self) -> dict[str, list[float]]:
        """The positive per-layer quantities actually used (for logs and figures)."""
        with torch.no_grad():
            return {
                "lam": self.log_lam.exp().tolist(),
                "eta": F.softplus(self.eta_raw).tolist(),
                "mu": self.log_mu.exp().tolist(),
                "xi": F.softplus(self.xi_raw).tolist(),
                "tau_c": self.log_tau_c.exp().tolist(),
                "tau_i": self.log_tau_i.exp().tolist(),
                "sigma": self.log_sigma.exp().tolist(),
                "delta_mult": [float(self.log_delta.exp())],
                "eps_g": [float(self.log_eps_g.exp())],
                "alpha": [float(F.softplus(self.alpha_raw))],
                "beta": [float(F.softplus(self.beta_raw))],
                "gamma": [float(F.softplus(self.gamma_raw))],
                "kappa": [float(F.softplus(self.kappa_raw))],
                "eps_w": [float(self.log_eps_w.exp())],
            }


@dataclass
class Problem:
    """One fusion problem, as torch tensors (built by :func:`make_problem`).

    Attributes:
        x: LR-HSI ``(B, h, w)``; y: HR-MSI ``(b, H, W)``; srf: ``(b, B)``;
        spatial: the operator ``S`` (a :class:`~mossfuse.physics.spatial.SpatialDegradation`);
        ratio, phase: geometry (``phase`` of the rows and columns).
    """

    x: torch.Tensor
    y: torch.Tensor
    srf: torch.Tensor
    spatial: torch.nn.Module
    ratio: int
    phase: tuple[int, int]


def make_problem(lr_hsi: np.ndarray, hr_msi: np.ndarray, srf: np.ndarray,
                 spatial: torch.nn.Module) -> Problem:
    """Wrap arrays ``(B, h, w)``, ``(b, H, W)``, ``(b, B)`` and an ``S`` operator."""
    ph = spatial.phase
    phase = (int(ph), int(ph)) if isinstance(ph, (int, np.integer)) else (int(ph[0]), int(ph[1]))
    return Problem(
        torch.from_numpy(np.clip(lr_hsi, 0, None).astype(np.float32)),
        torch.from_numpy(np.clip(hr_msi, 0, None).astype(np.float32)),
        torch.from_numpy(np.clip(srf, 0, None).astype(np.float32)),
        spatial, int(spatial.ratio), phase,
    )


# ----------------------------------------------------------------------------------------------
# initialisation (CNMF step 1, no gradient)


def lr_unmix(x: torch.Tensor, p: int, n_iter: int, seed: int = 0
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """VCA endmembers of the LR-HSI, then ``n_iter`` alternating Lee-Seung updates of
    ``X ~= E A_lr`` (abundances first, as CNMF). ``x`` ``(B, n)``; returns ``E (B, p)``,
    ``A_lr (p, n)``, both positive."""
    _, idx = vca(x.double().numpy(), p, seed=seed)
    e = x[:, torch.from_numpy(np.asarray(idx))].clamp_min(1e-4).clone()
    a = torch.full((p, x.shape[1]), 1.0 / p)
    for _ in range(n_iter):
        a = a * (e.T @ x) / (e.T @ e @ a + _EPS)
    for _ in range(n_iter):
        a = a * (e.T @ x) / (e.T @ e @ a + _EPS)
        e = e * (x @ a.T) / (e @ (a @ a.T) + _EPS)
    return e, a.clamp_min(1e-6)


# ----------------------------------------------------------------------------------------------
# the adaptive matrix G_k


class GuidedUpsampler:
    """Squared feature/space distances between every HR pixel and its 3 x 3 LR cells,
    computed once per problem; :meth:`weights` turns them into the ``G_k`` of a layer.

    Shapes: distances ``(9, h, r, w, r)`` (a view of ``(9, H, W)``).
    """

    OFFSETS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]

    def __init__(self, pb: Problem):
        b, big_h, big_w = pb.y.shape
        r = pb.ratio
        h, w = big_h // r, big_w // r
        self.shape = (h, r, w, r)
        lr_msi = torch.einsum("jb,bhw->jhw", pb.srf, pb.x)  # R X, (b, h, w)
        scale = pb.y.mean().clamp_min(1e-6)
        feat_hr = self._features(pb.y / scale).reshape(b + 1, h, r, w, r)
        feat_lr = self._features(lr_msi / scale)  # (b + 1, h, w)
        pad = F.pad(feat_lr[None], (1, 1, 1, 1), mode="replicate")[0]
        dc, di, ds = [], [], []
        ty = (torch.arange(big_h, dtype=torch.float32) - pb.phase[0]) / r  # LR coordinates
        tx = (torch.arange(big_w, dtype=torch.float32) - pb.phase[1]) / r
        ty, tx = ty.reshape(h, r), tx.reshape(w, r)
        iy, ix = torch.arange(h, dtype=torch.float32)[:, None], torch.arange(w)[:, None].float()
        for dy, dx in self.OFFSETS:
            nb = pad[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w][:, :, None, :, None]
            diff = feat_hr - nb
            dc.append((diff[:b] ** 2).sum(0))
            di.append(diff[b] ** 2)
            sy = (ty - (iy + dy)) ** 2  # (h, r)
            sx = (tx - (ix + dx)) ** 2  # (w, r)
            d = sy[:, :, None, None] + sx[None, None]
            valid_y = ((iy + dy >= 0) & (iy + dy < h)).float()[:, :, None, None]
            valid_x = ((ix + dx >= 0) & (ix + dx < w)).float()[None, None]
            ds.append(d + 1e4 * (2.0 - valid_y - valid_x))  # outside cells: ~zero weight
        # stored cell-major, (h, w, 9, r, r), which the inference path multiplies directly;
        # dc/di/ds are (9, h, r, w, r) views of the same memory
        self._batched = [torch.stack(t).permute(1, 3, 0, 2, 4).contiguous()
                         for t in (dc, di, ds)]
        self.dc, self.di, self.ds = (t.permute(2, 0, 3, 1, 4) for t in self._batched)

    @staticmethod
    def _features(img: torch.Tensor) -> torch.Tensor:
        """``(b + 1, ...)``: chromaticity (bands / their mean) and log mean intensity."""
        inten = img.mean(0, keepdim=True)
        chroma = img / (inten + 1e-3) / img.shape[0]
        return torch.cat([chroma, torch.log(inten + 1e-3)], 0)

    def weights(self, tau_c: torch.Tensor, tau_i: torch.Tensor, sigma: torch.Tensor
                ) -> torch.Tensor:
        """``(9, h, r, w, r)`` non-negative weights summing to 1 over the 9 cells."""
        logits = -(self.dc / tau_c**2 + self.di / tau_i**2 + self.ds / sigma**2)
        return torch.softmax(logits, dim=0)

    @staticmethod
    def apply(z: torch.Tensor, wts: torch.Tensor) -> torch.Tensor:
        """``G z``: LR maps ``(c, h, w)`` -> HR ``(c, H, W)``."""
        c, h, w = z.shape
        nb = F.unfold(z[:, None], 3, padding=1).reshape(c, 9, h, w)
        out = torch.einsum("ckhw,khawb->chawb", nb, wts)
        _, _, r, _, r2 = wts.shape
        return out.reshape(c, h * r, w * r2)

    def weights_into(self, tau_c: float, tau_i: float, sigma: float, out: torch.Tensor
                     ) -> torch.Tensor:
        """:meth:`weights` (no autograd) written cell-major into ``out`` ``(h w, 9, r r)``."""
        dc, di, ds = self._batched
        o = out.view(dc.shape)
        torch.mul(dc, -1.0 / tau_c**2, out=o)
        o.add_(di, alpha=-1.0 / tau_i**2).add_(ds, alpha=-1.0 / sigma**2)
        o.sub_(o.amax(dim=2, keepdim=True)).exp_()  # softmax over the 9 cells, in place
        return o.div_(o.sum(dim=2, keepdim=True)).view(out.shape)

    @staticmethod
    def apply_into(z: torch.Tensor, wts: torch.Tensor, out: torch.Tensor,
                   work: torch.Tensor) -> torch.Tensor:
        """:meth:`apply` with cell-major weights ``(h w, 9, r r)`` (:meth:`weights_into`),
        writing into ``out`` ``(c, H W)`` with ``work`` ``(h w, c, r r)`` as scratch
        (inference: no new large tensors per layer)."""
        c, h, w = z.shape
        r = math.isqrt(wts.shape[2])
        nb = F.unfold(z[:, None], 3, padding=1).reshape(c, 9, h * w)
        nb = nb.permute(2, 0, 1).contiguous()
        torch.bmm(nb, wts, out=work)
        out.view(c, h, r, w, r).copy_(work.view(h, w, c, r, r).permute(2, 0, 3, 1, 4))
        return out


class LocalLinearGuide:
    """The adaptive matrix of SCALMU's final layer: MSI-guided upsampling by local linear
    models (the guided filter of He, Sun & Tang, "Guided image filtering", IEEE TPAMI 35(6),
    2013, fitted across scales).

    For an LR map ``u`` ``(c, h, w)``, every LR cell gets the ridge regression of ``u`` on the
    MSI seen at LR, ``S(Y)`` ``(b, h, w)``, over a ``window x window`` block of cells:
    ``u ~= M^T S(Y) + c0`` (``M`` ``(b, c)``, ridge ``eps * mean(S(Y))^2``). The models are
    averaged over ``smooth x smooth`` cells, interpolated bilinearly between LR sample
    positions and applied to the HR-MSI: ``G(u) = M^T Y + c0`` ``(c, H, W)``. ``G`` is linear in
    ``u`` and depends on the inputs through ``Y``; if ``u = M^T S(Y) + c0`` with constant
    ``M, c0`` (an image locally linear in the MSI) then ``G(u) = M^T Y + c0`` exactly up to the
    ridge: ``G`` inverts ``S`` on such images, which is what the LR residual needs.

    Args:
        pb: the problem (its ``y``, ``spatial``, ``ratio``, ``phase``).
        window, smooth: odd block sides in LR cells.
    """

    def __init__(self, pb: Problem, window: int = 5, smooth: int = 3):
        if window % 2 == 0 or smooth % 2 == 0:
            raise ValueError(f"window ({window}) and smooth ({smooth}) must be odd")
        self.window, self.smooth = int(window), int(smooth)
        self.y = pb.y
        b, big_h, big_w = pb.y.shape
        r = pb.ratio
        with torch.no_grad():
            self.ys = pb.spatial(pb.y)  # S(Y), (b, h, w)
        self.my = self._box(self.ys, self.window)  # (b, h, w)
        cyy = self._box(self.ys[:, None] * self.ys[None], self.window) \
            - self.my[:, None] * self.my[None]
        self.cyy = cyy.permute(2, 3, 0, 1).contiguous()  # (h, w, b, b)
        self.ridge_scale = (self.my.mean(0) ** 2).clamp_min(1e-8)[..., None, None]
        h, w = self.ys.shape[1:]
        self.rows = self._interp(big_h, h, r, pb.phase[0])
        self.cols = self._interp(big_w, w, r, pb.phase[1])

    @staticmethod
    def _box(t: torch.Tensor, k: int) -> torch.Tensor:
        """Mean over ``k x k`` LR cells (replicated borders) of ``(..., h, w)``."""
        shape = t.shape
        t2 = F.pad(t.reshape(-1, 1, *shape[-2:]), (k // 2,) * 4, mode="replicate")
        return F.avg_pool2d(t2, k, stride=1).reshape(shape)

    @staticmethod
    def _interp(n_hr: int, n_lr: int, r: int, phase: int) -> torch.Tensor:
        """``(n_hr, n_lr)`` linear interpolation between LR samples (sample ``i`` at HR
        coordinate ``phase + r i``; constant beyond the outer ones)."""
        t = ((torch.arange(n_hr, dtype=torch.float32) - phase) / r).clamp(0, n_lr - 1)
        i0 = t.floor().long().clamp(max=max(n_lr - 2, 0))
        f = t - i0
        mat = torch.zeros(n_hr, n_lr)
        mat[torch.arange(n_hr), i0] = 1 - f
        mat[torch.arange(n_hr), (i0 + 1).clamp(max=n_lr - 1)] += f
        return mat

    def _upsample(self, m: torch.Tensor) -> torch.Tensor:
        """``(c, h, w)`` -> ``(c, H, W)`` bilinearly, as two small matrix products (faster on
        the CPU than gathers over the HR grid, e.g. the ``grid_sample`` of
        :func:`~mossfuse.methods._linalg.upsample_cube`, which uses the same sample convention,
        and than a two-tap broadcast over the columns)."""
        return self.rows @ m @ self.cols.T

    def apply(self, u: torch.Tensor, eps: torch.Tensor | float) -> torch.Tensor:
        """``G(u)``: LR maps ``(c, h, w)`` -> HR ``(c, H, W)`` (may be negative)."""
        k = self.window
        mu = self._box(u, k)
        cyu = self._box(self.ys[:, None] * u[None], k) - self.my[:, None] * mu[None]
        b = self.ys.shape[0]
        lhs = self.cyy + eps * self.ridge_scale * torch.eye(b)
        m = torch.linalg.solve(lhs, cyu.permute(2, 3, 0, 1))  # (h, w, b, c)
        m = m.permute(2, 3, 0, 1)  # (b, c, h, w)
        c0 = mu - (m * self.my[:, None]).sum(0)
        m, c0 = self._box(m, self.smooth), self._box(c0, self.smooth)
        out = self._upsample(c0)
        for j in range(b):
            out = torch.addcmul(out, self._upsample(m[j]), self.y[j])
        return out


# ----------------------------------------------------------------------------------------------
# the unrolled network


@dataclass
class ScalmuOutput:
    """``z`` ``(B, H, W)``; ``endmembers`` ``(B, p)``; ``abundances`` ``(p, H, W)``;
    ``init`` the HR cube of the initialisation (``E_0 G_0(A_lr)``), for diagnostics."""

    z: torch.Tensor
    endmembers: torch.Tensor
    abundances: torch.Tensor
    init: torch.Tensor | None = None


def run_scalmu(net: ScalmuNet, pb: Problem, n_endmembers: int = DEFAULT_SHAPE["n_endmembers"],
               n_init: int = DEFAULT_SHAPE["n_init"], n_sub: int = DEFAULT_SHAPE["n_sub"],
               seed: int = 0, keep_init: bool = False,
               guide_window: int = 5, guide_smooth: int = 3) -> ScalmuOutput:
    """Fuse one problem with the unrolled updates (differentiable in ``net``'s parameters).

    Args:
        net: learned parameters; pb: the problem (:func:`make_problem`).
        n_endmembers: ``p`` (clamped to ``min(B, h w)``).
        n_init: Lee-Seung iterations of the LR unmixing (initialisation, no gradient).
        n_sub: abundance sub-steps per layer (they share the layer's LR-HSI term, computed
            once per layer, and its exponent ``eta_k``).
        seed: VCA seed.
        keep_init: also return the initial HR cube.
        guide_window, guide_smooth: block sides (LR cells) of the final layer's
            :class:`LocalLinearGuide`.
    """
    n_b, h, w = pb.x.shape
    n_m, big_h, big_w = pb.y.shape
    if big_h != pb.ratio * h or big_w != pb.ratio * w:
        raise ValueError(f"HR size {(big_h, big_w)} must be ratio {pb.ratio} x LR {(h, w)}")
    p = int(min(n_endmembers, n_b, h * w))
    xm = pb.x.reshape(n_b, -1)
    ym = pb.y.reshape(n_m, -1)
    with torch.no_grad():
        e0, a_lr = lr_unmix(xm, p, n_init, seed)
        gu = GuidedUpsampler(pb)
        xt = xm.T.contiguous()
    delta0 = 2.0 * math.sqrt(float(ym.mean()) / 0.7455) / n_m**3  # CNMF's choice
    delta = delta0 * net.log_delta.exp()
    ones = torch.ones(1, ym.shape[1])
    y_aug = torch.cat([ym, delta * ones], 0)
    lam_scale = (n_m + 1) / n_b
    mu_scale = (h * w) / (big_h * big_w)
    vals_c, vals_i, vals_s = net.log_tau_c.exp(), net.log_tau_i.exp(), net.log_sigma.exp()

    e = e0
    a = gu.apply(a_lr.reshape(p, h, w), gu.weights(vals_c[0], vals_i[0], vals_s[0]))
    a = a.reshape(p, -1)
    init = (e0 @ a).reshape(n_b, big_h, big_w).detach() if keep_init else None
    if not torch.is_grad_enabled():
        e, a = _layers_inference(net, pb, gu, e, a, xm, ym, y_aug, delta, lam_scale, mu_scale,
                                 n_sub)
        z = _guided_residual(net, pb, e, a, guide_window, guide_smooth)
        return ScalmuOutput(z, e, a.reshape(p, big_h, big_w), init)
    for k in range(net.n_layers):
        lam = net.log_lam[k].exp() * lam_scale
        eta = F.softplus(net.eta_raw[k])
        mu = net.log_mu[k].exp() * mu_scale
        xi = F.softplus(net.xi_raw[k])
        # abundance update (HR-MSI term + LR-HSI term through G_k)
        wm = torch.cat([pb.srf @ e, delta * torch.ones(1, p)], 0)  # (b + 1, p)
        num = wm.T @ y_aug
        a_s = pb.spatial(a.reshape(p, big_h, big_w)).reshape(p, -1)  # S(A), (p, h w)
        gtg = e.T @ e
        lr_num = (e.T @ xm).reshape(p, h, w)
        lr_den = (gtg @ a_s).reshape(p, h, w)
        wts = gu.weights(vals_c[k + 1], vals_i[k + 1], vals_s[k + 1])
        up = gu.apply(torch.cat([lr_num, lr_den], 0), wts).reshape(2 * p, -1)
        gram = wm.T @ wm
        num_tot = num + lam * up[:p]  # > 0 everywhere (the delta row)
        den_lr = lam * up[p:] + _EPS
        for _ in range(n_sub):
            a = a * (num_tot / torch.addmm(den_lr, gram, a)).pow(eta)
        e = _endmember_update(pb, e, a, xt, ym, mu, xi)
    z = _guided_residual(net, pb, e, a, guide_window, guide_smooth)
    return ScalmuOutput(z, e, a.reshape(p, big_h, big_w), init)


def _guided_residual(net: ScalmuNet, pb: Problem, e: torch.Tensor, a: torch.Tensor,
                     window: int = 5, smooth: int = 3) -> torch.Tensor:
    """SCALMU's final layer: ``Z = [alpha E A + G(beta X - gamma E S(A))]_+`` with the local
    linear guide ``G`` (:class:`LocalLinearGuide`, learned ridge ``eps``) and learned
    ``alpha, beta, gamma`` (all 1: back-project the LR residual of ``E A``; ``gamma = 0``:
    blend ``E A`` with the guided upsampling of the LR-HSI). What the
    ``p`` endmembers cannot express and the LR-HSI still holds comes back through the MSI's
    local linear structure. Then :func:`msi_consistency` with the learned ``kappa`` and
    ridge. ``(B, H, W)``, >= 0."""
    p = a.shape[0]
    n_b, h, w = pb.x.shape
    big_h, big_w = pb.y.shape[1:]
    guide = LocalLinearGuide(pb, window, smooth)
    a_s = pb.spatial(a.reshape(p, big_h, big_w)).reshape(p, -1)
    res = F.softplus(net.beta_raw) * pb.x - F.softplus(net.gamma_raw) * (e @ a_s).reshape(
        n_b, h, w)
    fast = not torch.is_grad_enabled()  # inference: update one fresh cube in place
    z = (e @ a).reshape(n_b, big_h, big_w)
    if fast:
        z.mul_(F.softplus(net.alpha_raw)).add_(guide.apply(res, net.log_eps_g.exp()))
    else:
        z = F.softplus(net.alpha_raw) * z + guide.apply(res, net.log_eps_g.exp())
    z = msi_consistency(z, pb, F.softplus(net.kappa_raw), net.log_eps_w.exp(), inplace=fast)
    return z.clamp_min_(0) if fast else z.clamp_min(0)


def msi_consistency(z: torch.Tensor, pb: Problem, kappa: torch.Tensor | float = 1.0,
                    eps: torch.Tensor | float = 1e-4, inplace: bool = False) -> torch.Tensor:
    """SCALMU's last step: move ``z`` ``(B, H, W)`` towards the HR-MSI along the linear MMSE
    gain ``K = C R^T (R C R^T + eps t I)^-1`` ``(B, b)``: ``z + kappa K (Y - R z)``.

    ``C = X X^T / n`` is the spectral second moment of the LR-HSI (the prior on a pixel's
    spectrum, from the input itself), ``t = tr(R C R^T) / b`` scales the ridge. With
    ``kappa = 1`` and ``eps -> 0``, ``R z`` equals ``Y`` exactly; the correction lies where the
    LR-HSI's spectra vary, which is how the linear MMSE estimate of the HSI from the MSI of
    Hardie, Eismann & Wilson ("MAP estimation for hyperspectral image resolution enhancement
    using an auxiliary sensor", IEEE TIP 13(9), 2004) distributes an MSI difference over the
    bands. The gain is ``B x b``: it costs two ``(B, b)``-sized products over the HR grid.
    ``inplace=True`` (no autograd) updates ``z`` itself and returns it."""
    n_b = z.shape[0]
    x = pb.x.reshape(n_b, -1)
    c = x @ x.T / x.shape[1]
    rc = pb.srf @ c  # (b, B)
    m = rc @ pb.srf.T
    m = m + eps * (torch.diagonal(m).mean() + _EPS) * torch.eye(m.shape[0])
    gain = kappa * torch.linalg.solve(m, rc).T  # (B, b)
    zf = z.reshape(n_b, -1)
    res = torch.addmm(pb.y.reshape(pb.y.shape[0], -1), pb.srf, zf, alpha=-1.0)  # Y - R z
    if inplace:  # inference: no new HR cube
        return zf.addmm_(gain, res).reshape(z.shape)
    return torch.addmm(zf, gain, res).reshape(z.shape)


def _endmember_update(pb: Problem, e: torch.Tensor, a: torch.Tensor, xt: torch.Tensor,
                      ym: torch.Tensor, mu: torch.Tensor | float, xi: torch.Tensor
                      ) -> torch.Tensor:
    """One endmember MU (LR-HSI term + HR-MSI term through ``R^T``), shared by both paths:
    ``E (B, p)``, ``A (p, H W)``, ``xt = X^T (h w, B)``, ``ym (b, H W)`` -> new ``E``."""
    p = a.shape[0]
    big_h, big_w = pb.y.shape[1:]
    a_s = pb.spatial(a.reshape(p, big_h, big_w)).reshape(p, -1)
    yat = ym @ a.T  # (b, p)
    aat = a @ a.T
    num_e = (a_s @ xt).T + mu * (pb.srf.T @ yat)
    den_e = e @ (a_s @ a_s.T) + mu * (pb.srf.T @ (pb.srf @ e @ aat))
    return e * (num_e / (den_e + _EPS)).clamp_min(_EPS) ** xi


def _layers_inference(net: ScalmuNet, pb: Problem, gu: GuidedUpsampler, e: torch.Tensor,
                      a: torch.Tensor, xm: torch.Tensor, ym: torch.Tensor, y_aug: torch.Tensor,
                      delta: torch.Tensor, lam_scale: float, mu_scale: float, n_sub: int = 3
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The layers of :func:`run_scalmu` without autograd: the same arithmetic, but every
    ``(p, H W)``-sized intermediate lives in a buffer allocated once per call. Allocating a
    fresh 16-64 MB tensor per operation made the allocator hand each one back to the kernel
    and page-fault it in again; that cost ~25 % of the fusion time at 512 x 512."""
    p, n_hr = a.shape
    n_b, h, w = pb.x.shape
    big_h, big_w = pb.y.shape[1:]
    r = pb.ratio
    xt = xm.T.contiguous()
    num = torch.empty(p, n_hr)
    up = torch.empty(2 * p, n_hr)
    ratio = torch.empty(p, n_hr)
    work = torch.empty(h * w, 2 * p, r * r)
    wts = torch.empty(h * w, 9, r * r)
    vals_c, vals_i, vals_s = (v.exp().tolist() for v in (net.log_tau_c, net.log_tau_i,
                                                         net.log_sigma))
    for k in range(net.n_layers):
        lam = float(net.log_lam[k].exp()) * lam_scale
        eta = float(F.softplus(net.eta_raw[k]))
        mu = float(net.log_mu[k].exp()) * mu_scale
        xi = F.softplus(net.xi_raw[k])
        wm = torch.cat([pb.srf @ e, delta * torch.ones(1, p)], 0)
        torch.mm(wm.T, y_aug, out=num)
        a_s = pb.spatial(a.reshape(p, big_h, big_w)).reshape(p, -1)
        gtg = e.T @ e
        lr_both = torch.cat([(e.T @ xm).reshape(p, h, w), (gtg @ a_s).reshape(p, h, w)], 0)
        gu.weights_into(vals_c[k + 1], vals_i[k + 1], vals_s[k + 1], wts)
        gu.apply_into(lr_both, wts, up, work)
        gram = wm.T @ wm
        num_tot = num.add_(up[:p], alpha=lam)  # num + lam G(E^T X)
        den_lr = up[p:].mul_(lam).add_(_EPS)  # lam G(E^T E S(A)) + eps
        for _ in range(n_sub):
            torch.addmm(den_lr, gram, a, out=ratio)
            torch.div(num_tot, ratio, out=ratio)
            # ratio ** eta as exp(eta log ratio): ~30 % faster than pow_ with a float
            # exponent on this CPU (both vectorised transcendental passes)
            a.mul_(ratio.log_().mul_(eta).exp_())
        e = _endmember_update(pb, e, a, xt, ym, mu, xi)
    return e, a
