"""The MossFuse network: two encoders with shared/complementary branches and four decoders.

Paper: Du et al., "Unsupervised Hyperspectral and Multispectral Image Fusion via
Self-Supervised Modality Decoupling" (MossFuse), Sec. 3.3-3.6; the widths and the branch
contents follow the authors' release (``shared/specs/mossfuse_architecture.md``).

Data flow (``Y`` HR-MSI ``(N, b, H, W)``, ``x`` LR-HSI ``(N, B, h, w)``, ``C`` = 48)::

    x_up = bilinear(x, (H, W), align_corners=False)
    E_Y: conv3x3 b->C, SWT x n  -> S_Y = [LK7, LK0, LK0, SWT],  C_Y = [LK7, LK0, LK0]
    E_x: conv3x3 B->C, SWT x n  -> S_x = [SWT, LK7, LK0, LK0],  C_x = [SWT]
    D_Y  = head_b(SWT^(n-1)(Phi_spa(S_Y, C_Y)))                 HR-MSI reconstruction
    D_x  = head_B(SWT^(n-1)(Phi_spe(S_x, C_x)))                 (upsampled) LR-HSI reconstruction
    D_y  = head_b(SWT^n(combine(S_Y, S_x)))                     LR-MSI (on the HR grid)
    D_X  = head_B(SWT^n(Phi_spe'(Phi_spa'(combine(S_Y, S_x), C_Y), C_x)))   fused HR-HSI

``combine`` is ``conv1x1(concat)`` (release) or a sum (paper eq. 7). Only E_Y, E_x and D_X run
at inference (:meth:`MossFuseNet.fuse_forward`, and the fused fast path
:meth:`MossFuseNet.inference_path`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from mossfuse.methods.mossfuse.blocks import SWT, AggregationBlock, LKBlock, OutputHead
from mossfuse.methods.mossfuse.config import MossFuseConfig


def upsample_lr_hsi(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of ``(N, B, h, w)`` to ``(N, B, H, W)`` (``align_corners=False``,
    half-pixel centres, as the release's ``F.interpolate(..., mode="bilinear")``)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Encoder(nn.Module):
    """Embedding conv3x3 (no bias), ``num_blocks`` SWT, then a shared and a complementary branch.

    ``(N, in, H, W) -> (shared (N, C, H, W), complementary (N, C, H, W))``.
    """

    def __init__(self, in_channels: int, cfg: MossFuseConfig, shared: list[str], comp: list[str]):
        super().__init__()
        c = cfg.channels
        self.embed = nn.Conv2d(in_channels, c, 3, padding=1, bias=False)
        self.base = nn.Sequential(
            *[SWT(c, cfg.heads, cfg.ffn_expansion) for _ in range(cfg.num_blocks)]
        )
        self.shared = nn.Sequential(*[_make_block(name, cfg) for name in shared])
        self.complementary = nn.Sequential(*[_make_block(name, cfg) for name in comp])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        base = self.base(self.embed(x))
        return self.shared(base), self.complementary(base)


def _make_block(name: str, cfg: MossFuseConfig) -> nn.Module:
    c = cfg.channels
    if name == "SWT":
        return SWT(c, cfg.heads, cfg.ffn_expansion)
    if name == "LK7":
        return LKBlock(c, cfg.lk_kernel, cfg.lk_ffn_factor, cfg.layer_scale_init)
    if name == "LK0":
        return LKBlock(c, 0, cfg.lk_ffn_factor, cfg.layer_scale_init)
    raise ValueError(f"unknown block {name!r}")


MSI_SHARED = ["LK7", "LK0", "LK0", "SWT"]
MSI_COMPLEMENTARY = ["LK7", "LK0", "LK0"]
HSI_SHARED = ["SWT", "LK7", "LK0", "LK0"]
HSI_COMPLEMENTARY = ["SWT"]


class SharedCombination(nn.Module):
    """``concat`` + 1x1 conv 2C -> C (release) or ``sum`` (paper eq. 7).

    ``(N, C, H, W) x2 -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, mode: str):
        super().__init__()
        self.mode = mode
        self.reduce = nn.Conv2d(2 * channels, channels, 1, bias=False) if mode == "concat" else None

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.reduce is None:
            return a + b
        return self.reduce(torch.cat((a, b), dim=1))


class ReconstructionDecoder(nn.Module):
    """D_Y (``kind="spatial"``) or D_x (``kind="spectral"``).

    ``(shared, complementary) (N, C, H, W) -> (aggregated feature (N, C, H, W),
    image (N, out, H, W))``.
    """

    def __init__(self, cfg: MossFuseConfig, kind: str, out_channels: int):
        super().__init__()
        c = cfg.channels
        self.aggregate = AggregationBlock(c, cfg.heads, kind, cfg.ffn_expansion, cfg.gate_width)
        self.blocks = nn.Sequential(
            *[SWT(c, cfg.heads, cfg.ffn_expansion) for _ in range(cfg.num_blocks - 1)]
        )
        self.head = OutputHead(c, out_channels)

    def forward(
        self, shared: torch.Tensor, comp: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.aggregate(shared, comp)
        return feat, self.head(self.blocks(feat))


class LRMSIDecoder(nn.Module):
    """D_y: ``head_b(SWT^n(combine(S_Y, S_x)))``: ``(N, C, H, W) x2 -> (N, b, H, W)``."""

    def __init__(self, cfg: MossFuseConfig, out_channels: int):
        super().__init__()
        c = cfg.channels
        self.combine = SharedCombination(c, cfg.shared_combination)
        n = cfg.num_blocks if cfg.lr_msi_decoder_swt else 0
        self.blocks = nn.Sequential(*[SWT(c, cfg.heads, cfg.ffn_expansion) for _ in range(n)])
        self.head = OutputHead(c, out_channels)

    def forward(self, shared_msi: torch.Tensor, shared_hsi: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.combine(shared_msi, shared_hsi)))


class FusionDecoder(nn.Module):
    """D_X, the fused HR-HSI ``(N, B, H, W)``.

    ``cascade`` (spec / paper eq. 7): ``Phi_spe(Phi_spa(combine(S_Y, S_x), C_Y), C_x)`` with
    its own aggregation blocks. ``parallel`` (public ``net.py``):
    ``combine(Phi_spa_Y(S_Y, C_Y), Phi_spe_x(S_x, C_x))``, the two aggregated features being
    those computed by D_Y and D_x. Then ``num_blocks`` SWT and the head.
    """

    def __init__(self, cfg: MossFuseConfig, out_channels: int):
        super().__init__()
        c = cfg.channels
        self.topology = cfg.fusion_topology
        self.combine = SharedCombination(c, cfg.shared_combination)
        if self.topology == "cascade":
            g = cfg.gate_width
            self.spatial = AggregationBlock(c, cfg.heads, "spatial", cfg.ffn_expansion, g)
            self.spectral = AggregationBlock(c, cfg.heads, "spectral", cfg.ffn_expansion, g)
        self.blocks = nn.Sequential(
            *[SWT(c, cfg.heads, cfg.ffn_expansion) for _ in range(cfg.num_blocks)]
        )
        self.head = OutputHead(c, out_channels)

    def forward(self, a: torch.Tensor, b: torch.Tensor, comp_msi: torch.Tensor | None = None,
                comp_hsi: torch.Tensor | None = None) -> torch.Tensor:
        """``cascade``: ``a, b`` = S_Y, S_x and the complementary features are required;
        ``parallel``: ``a, b`` = the aggregated features of D_Y and D_x."""
        z = self.combine(a, b)
        if self.topology == "cascade":
            if comp_msi is None or comp_hsi is None:
                raise ValueError("the cascade D_X needs the complementary features C_Y, C_x")
            z = self.spectral(self.spatial(z, comp_msi), comp_hsi)
        return self.head(self.blocks(z))


@dataclass
class MossFuseOutputs:
    """Everything one training forward pass produces (all ``(N, ., H, W)`` at HR size).

    Attributes:
        shared_msi, comp_msi, shared_hsi, comp_hsi: ``F_Y^S, F_Y^C, F_x^S, F_x^C`` ``(N, C, H, W)``.
        msi_hat: D_Y output ``(N, b, H, W)``; hsi_hat: D_x output ``(N, B, H, W)`` (reconstructs
            the upsampled LR-HSI); lr_msi_hat: D_y output ``(N, b, H, W)`` (these three are
            None when the forward pass ran with ``reconstructions=False``);
            fused: D_X output ``(N, B, H, W)``, not clipped.
        hsi_up: the bilinearly upsampled LR-HSI ``(N, B, H, W)`` the encoder saw.
    """

    shared_msi: torch.Tensor
    comp_msi: torch.Tensor
    shared_hsi: torch.Tensor
    comp_hsi: torch.Tensor
    msi_hat: torch.Tensor | None
    hsi_hat: torch.Tensor | None
    lr_msi_hat: torch.Tensor | None
    fused: torch.Tensor
    hsi_up: torch.Tensor


class MossFuseNet(nn.Module):
    """The full network (training form).

    Args:
        cfg: :class:`MossFuseConfig` (``hsi_bands`` B, ``msi_bands`` b, widths, options).

    ``forward(hr_msi (N, b, H, W), lr_hsi (N, B, h, w)) -> MossFuseOutputs``, any integer
    ratio ``H / h``. ``fuse_forward`` runs only E_Y, E_x and D_X.

    >>> net = MossFuseNet(MossFuseConfig(hsi_bands=8, channels=16, heads=2))
    >>> net.fuse_forward(torch.rand(1, 3, 16, 16), torch.rand(1, 8, 4, 4)).shape
    torch.Size([1, 8, 16, 16])
    """

    #: keep every BatchNorm in eval mode (running statistics used, not updated) even in
    #: ``train()``: fine-tuning on a batch of 2 crops of one scene (per-scene adaptation)
    #: would otherwise replace the statistics learned on a dataset
    frozen_batchnorm: bool = False

    def __init__(self, cfg: MossFuseConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder_msi = Encoder(cfg.msi_bands, cfg, MSI_SHARED, MSI_COMPLEMENTARY)
        self.encoder_hsi = Encoder(cfg.hsi_bands, cfg, HSI_SHARED, HSI_COMPLEMENTARY)
        self.decoder_msi = ReconstructionDecoder(cfg, "spatial", cfg.msi_bands)
        self.decoder_hsi = ReconstructionDecoder(cfg, "spectral", cfg.hsi_bands)
        self.decoder_lr_msi = LRMSIDecoder(cfg, cfg.msi_bands)
        self.decoder_fused = FusionDecoder(cfg, cfg.hsi_bands)

    def train(self, mode: bool = True) -> MossFuseNet:
        """``nn.Module.train``, except that :attr:`frozen_batchnorm` keeps BatchNorm in eval
        mode."""
        super().train(mode)
        if mode and self.frozen_batchnorm:
            for m in self.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def _check(self, hr_msi: torch.Tensor, lr_hsi: torch.Tensor) -> None:
        if hr_msi.ndim != 4 or lr_hsi.ndim != 4:
            raise ValueError(
                f"expected hr_msi (N, b, H, W) and lr_hsi (N, B, h, w); got "
                f"{tuple(hr_msi.shape)} and {tuple(lr_hsi.shape)}"
            )
        if hr_msi.shape[1] != self.cfg.msi_bands or lr_hsi.shape[1] != self.cfg.hsi_bands:
            raise ValueError(
                f"network built for b={self.cfg.msi_bands}, B={self.cfg.hsi_bands}; got "
                f"b={hr_msi.shape[1]}, B={lr_hsi.shape[1]}"
            )

    def encode(self, hr_msi: torch.Tensor, lr_hsi: torch.Tensor):
        """``(S_Y, C_Y, S_x, C_x, x_up)``, features ``(N, C, H, W)``."""
        self._check(hr_msi, lr_hsi)
        hsi_up = upsample_lr_hsi(lr_hsi, tuple(hr_msi.shape[-2:]))
        s_y, c_y = self.encoder_msi(hr_msi)
        s_x, c_x = self.encoder_hsi(hsi_up)
        return s_y, c_y, s_x, c_x, hsi_up

    def forward(
        self, hr_msi: torch.Tensor, lr_hsi: torch.Tensor, reconstructions: bool = True
    ) -> MossFuseOutputs:
        """All outputs; ``reconstructions=False`` skips D_Y, D_x, D_y (only L_SCT uses them; in
        the ``parallel`` topology the aggregation blocks of D_Y/D_x still run for D_X)."""
        s_y, c_y, s_x, c_x, hsi_up = self.encode(hr_msi, lr_hsi)
        msi_hat = hsi_hat = lr_msi_hat = None
        if reconstructions:
            f_y, msi_hat = self.decoder_msi(s_y, c_y)
            f_x, hsi_hat = self.decoder_hsi(s_x, c_x)
            lr_msi_hat = self.decoder_lr_msi(s_y, s_x)
        elif self.cfg.fusion_topology == "parallel":
            f_y = self.decoder_msi.aggregate(s_y, c_y)
            f_x = self.decoder_hsi.aggregate(s_x, c_x)
        if self.cfg.fusion_topology == "cascade":
            fused = self.decoder_fused(s_y, s_x, c_y, c_x)
        else:
            fused = self.decoder_fused(f_y, f_x)
        return MossFuseOutputs(s_y, c_y, s_x, c_x, msi_hat, hsi_hat, lr_msi_hat, fused, hsi_up)

    def fuse_forward(self, hr_msi: torch.Tensor, lr_hsi: torch.Tensor) -> torch.Tensor:
        """Inference path in training form: E_Y, E_x and D_X only -> ``(N, B, H, W)``
        (not clipped). The fast equivalent is :meth:`inference_path`."""
        s_y, c_y, s_x, c_x, _ = self.encode(hr_msi, lr_hsi)
        if self.cfg.fusion_topology == "cascade":
            return self.decoder_fused(s_y, s_x, c_y, c_x)
        f_y = self.decoder_msi.aggregate(s_y, c_y)
        f_x = self.decoder_hsi.aggregate(s_x, c_x)
        return self.decoder_fused(f_y, f_x)

    def inference_modules(self) -> list[nn.Module]:
        """The sub-modules the inference path runs (for parameter counts)."""
        mods: list[nn.Module] = [self.encoder_msi, self.encoder_hsi, self.decoder_fused]
        if self.cfg.fusion_topology == "parallel":
            mods += [self.decoder_msi.aggregate, self.decoder_hsi.aggregate]
        return mods

    def inference_path(self, dtype: torch.dtype = torch.float32, **kwargs):
        """Fused, streamed, channels-last inference module (eval-mode BN folded, DRB merged);
        see :class:`mossfuse.methods.mossfuse.inference.FusedMossFuse` (``kwargs``:
        ``chunk_bytes``, ``workers``). A snapshot: rebuild it after the weights change."""
        from mossfuse.methods.mossfuse.inference import FusedMossFuse

        return FusedMossFuse.from_network(self, dtype=dtype, **kwargs)


@dataclass(frozen=True)
class ParameterCount:
    """Parameter counts: ``total`` (network + degradation module), ``network``, ``inference``
    (E_Y, E_x, D_X), ``degradation`` and ``by_module`` (top-level children)."""

    total: int
    network: int
    inference: int
    degradation: int
    by_module: dict[str, int]

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v:,}" for k, v in self.by_module.items())
        return (
            f"MossFuse parameters: total {self.total:,} ({self.total / 1e6:.3f} M), inference "
            f"path {self.inference:,} ({self.inference / 1e6:.3f} M), degradation "
            f"{self.degradation:,}; {parts}"
        )


def _n(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def count_parameters(net: MossFuseNet, degradation: nn.Module | None = None) -> ParameterCount:
    """Count parameters (BatchNorm running statistics are buffers, not counted).

    The PSF factor ``M`` counts as 4 entries (3 free, the upper one masked), as the release's
    2 x 2 parameter does.
    """
    by_module = {name: _n(m) for name, m in net.named_children()}
    deg = _n(degradation) if degradation is not None else 0
    if degradation is not None:
        by_module["degradation"] = deg
    seen: set[int] = set()
    inference = 0
    for m in net.inference_modules():
        for p in m.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                inference += p.numel()
    network = _n(net)
    return ParameterCount(network + deg, network, inference, deg, by_module)


def print_parameter_count(net: MossFuseNet, degradation: nn.Module | None = None) -> ParameterCount:
    """Print :meth:`ParameterCount.summary` and return the count."""
    count = count_parameters(net, degradation)
    print(count.summary())
    return count
