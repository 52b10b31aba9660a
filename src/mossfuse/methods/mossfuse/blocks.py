"""Building blocks of MossFuse (training form, ``(N, C, H, W)`` tensors).

References
----------
- SWT / SWSA, spectral-wise (channel) self-attention with L2-normalised queries and keys and a
  learnable temperature per head, and the gated depthwise FFN: Zamir et al., "Restormer",
  CVPR 2022; Cai et al., "MST++: Multi-stage Spectral-wise Transformer", CVPRW 2022.
- LK-CNN: Ding / Zhang et al., "UniRepLKNet: A Universal Perception Large-Kernel ConvNet",
  CVPR 2024 (dilated re-parameterisable block, DRB), with the Squeeze-and-Excitation block of
  Hu et al., CVPR 2018, and the Global Response Normalisation of Woo et al., "ConvNeXt V2",
  CVPR 2023.
- Spatial-/spectral-aware aggregation: MossFuse paper, Sec. 3.4 and appendix B.3-B.4.

Every block here has an exact fused counterpart in :mod:`.inference` (BatchNorm folded, DRB
merged into one 7 x 7 depthwise kernel, channels-last); :mod:`.inference` reads the parameters of
these modules, so they stay the single source of truth.

Convention
----------
Features are ``(N, C, H, W)``; "LayerNorm over channels" normalises each pixel's C-vector
(biased variance, eps 1e-5, affine weight and bias), as Restormer's ``WithBias_LayerNorm``.
Convolutions have no bias unless stated (the release's ``bias=False``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

NORMALIZE_EPS = 1e-12  # eps of torch.nn.functional.normalize, used by the attention
LN_EPS = 1e-5
GRN_EPS = 1e-6


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of ``(N, C, H, W)`` (per pixel), with weight and bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, LN_EPS)
        return y.permute(0, 3, 1, 2)


class GatedFFN(nn.Module):
    """Gated depthwise feed-forward network (Restormer's GDFN).

    ``(N, C, H, W) -> (N, C, H, W)``: 1x1 C -> 2h, depthwise 3x3, split ``a, b``,
    ``GELU(a) * b``, 1x1 h -> C, with ``h = int(C * expansion)`` (96 at C = 48).
    """

    def __init__(self, channels: int, expansion: float = 2.0):
        super().__init__()
        hidden = int(channels * expansion)
        self.project_in = nn.Conv2d(channels, 2 * hidden, 1, bias=False)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=False)
        self.project_out = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(a) * b)


def channel_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, temperature: torch.Tensor, heads: int
) -> torch.Tensor:
    """Spectral-wise (transposed) attention: tokens are channels, the pixel axis is contracted.

    Args:
        q, k, v: ``(N, C, H, W)``.
        temperature: ``(heads, 1, 1)`` learnable scale of the logits.
        heads: number of heads; each attends over its ``C / heads`` channels.

    Returns:
        ``(N, C, H, W)``: per head ``softmax(norm(q) norm(k)^T * t) v``, ``norm`` the L2
        normalisation of each channel over the ``H W`` pixels (eps 1e-12, as
        ``F.normalize``). The attention map is only ``(C/heads) x (C/heads)`` per head.
    """
    n, c, h, w = q.shape
    shape = (n, heads, c // heads, h * w)
    q = F.normalize(q.reshape(shape), dim=-1, eps=NORMALIZE_EPS)
    k = F.normalize(k.reshape(shape), dim=-1, eps=NORMALIZE_EPS)
    attn = (q @ k.transpose(-2, -1) * temperature).softmax(dim=-1)
    return (attn @ v.reshape(shape)).reshape(n, c, h, w)


class QKV(nn.Module):
    """1x1 conv C -> 3C then depthwise 3x3 (no bias): ``(N, C, H, W) -> 3 x (N, C, H, W)``."""

    def __init__(self, channels: int):
        super().__init__()
        self.qkv = nn.Conv2d(channels, 3 * channels, 1, bias=False)
        self.qkv_dwconv = nn.Conv2d(
            3 * channels, 3 * channels, 3, padding=1, groups=3 * channels, bias=False
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        return q, k, v


class SpectralWiseAttention(nn.Module):
    """SWSA (MST++ / Restormer MDTA): ``(N, C, H, W) -> (N, C, H, W)``.

    ``proj(channel_attention(q, k, v))`` with ``q, k, v`` from :class:`QKV` and a temperature
    per head initialised to 1.
    """

    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = QKV(channels)
        self.project_out = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        return self.project_out(channel_attention(q, k, v, self.temperature, self.heads))


class SWT(nn.Module):
    """Spectral-wise transformer block: ``x + SWSA(LN(x))`` then ``x + FFN(LN(x))``.

    ``(N, C, H, W) -> (N, C, H, W)``. (The paper's eq. 15 omits the second residual; the
    release, like Restormer, has it.)
    """

    def __init__(self, channels: int, heads: int, ffn_expansion: float = 2.0):
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels)
        self.attn = SpectralWiseAttention(channels, heads)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn = GatedFFN(channels, ffn_expansion)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


# ----------------------------------------------------------------------------------------------
# LK-CNN (UniRepLKNet block)

DRB_BRANCHES: dict[int, tuple[tuple[int, int], ...]] = {7: ((5, 1), (3, 2), (3, 3))}
"""(kernel, dilation) of the small branches of a DRB, by large-kernel size (UniRepLKNet)."""


def fuse_bn(weight: torch.Tensor, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Fold an eval-mode BatchNorm into the preceding bias-free conv.

    ``BN(conv(x; w)) == conv(x; w * t) + (beta - mean * t)``, ``t = gamma / sqrt(var + eps)``.
    Returns ``(weight', bias')`` with ``weight'`` shaped like ``weight``.
    """
    t = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return weight * t.reshape(-1, *([1] * (weight.ndim - 1))), bn.bias - bn.running_mean * t


def dilate_kernel(weight: torch.Tensor, dilation: int) -> torch.Tensor:
    """Equivalent dense kernel of a dilated conv: ``(..., k, k) -> (..., d(k-1)+1, d(k-1)+1)``
    with zeros between the taps."""
    if dilation == 1:
        return weight
    k = weight.shape[-1]
    size = dilation * (k - 1) + 1
    out = weight.new_zeros(*weight.shape[:-2], size, size)
    out[..., ::dilation, ::dilation] = weight
    return out


class DilatedReparamBlock(nn.Module):
    """DRB (UniRepLKNet): ``BN(dw7x7(x)) + sum_(k,d) BN(dw_k,dilation d(x))``.

    ``(N, C, H, W) -> (N, C, H, W)``; branches ``(5,1), (3,2), (3,3)`` for kernel 7. In eval
    mode the whole block equals one 7 x 7 depthwise conv with bias (:meth:`merged`), which the
    inference path uses.
    """

    def __init__(self, channels: int, kernel: int = 7):
        super().__init__()
        if kernel not in DRB_BRANCHES:
            raise ValueError(f"DRB kernel {kernel} not supported; choose {sorted(DRB_BRANCHES)}")
        self.kernel = kernel
        self.lk_origin = nn.Conv2d(
            channels, channels, kernel, padding=kernel // 2, groups=channels, bias=False
        )
        self.origin_bn = nn.BatchNorm2d(channels)
        self.branches = nn.ModuleList()
        self.branch_bns = nn.ModuleList()
        self.dilations: list[int] = []
        for k, d in DRB_BRANCHES[kernel]:
            self.branches.append(
                nn.Conv2d(
                    channels, channels, k, padding=d * (k - 1) // 2, dilation=d,
                    groups=channels, bias=False,
                )
            )
            self.branch_bns.append(nn.BatchNorm2d(channels))
            self.dilations.append(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.origin_bn(self.lk_origin(x))
        for conv, bn in zip(self.branches, self.branch_bns, strict=True):
            out = out + bn(conv(x))
        return out

    @torch.no_grad()
    def merged(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact eval-mode merge: ``(weight (C, 1, K, K), bias (C,))`` of one depthwise conv.

        Each BN is folded into its conv, the dilated kernels are expanded with zeros and
        zero-padded to K x K around the centre, then kernels and biases are summed.
        """
        weight, bias = fuse_bn(self.lk_origin.weight, self.origin_bn)
        for conv, bn, d in zip(self.branches, self.branch_bns, self.dilations, strict=True):
            w, b = fuse_bn(conv.weight, bn)
            w = dilate_kernel(w, d)
            pad = (self.kernel - w.shape[-1]) // 2
            weight = weight + F.pad(w, (pad, pad, pad, pad))
            bias = bias + b
        return weight, bias


class SqueezeExcite(nn.Module):
    """SE block (Hu et al. 2018; UniRepLKNet's form): ``x * sigmoid(up(relu(down(avg(x)))))``.

    ``(N, C, H, W) -> (N, C, H, W)``; 1x1 convs C -> C/4 -> C with bias.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        self.down = nn.Conv2d(channels, channels // reduction, 1, bias=True)
        self.up = nn.Conv2d(channels // reduction, channels, 1, bias=True)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Channel weights ``(N, C, 1, 1)``."""
        s = x.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.up(F.relu(self.down(s))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale(x)


class GRN(nn.Module):
    """Global Response Normalisation (ConvNeXt V2) on channels-last ``(N, H, W, D)``.

    ``N_c = ||x_c||_2 (over H, W) / (mean_c ||x_c||_2 + 1e-6)``;
    ``out = (gamma * N + 1) * x + beta``; gamma, beta initialised to 0.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(dim))
        self.beta = nn.Parameter(torch.zeros(dim))

    def response(self, x: torch.Tensor) -> torch.Tensor:
        """Per-image per-channel scale ``gamma * N + 1``: ``(N, 1, 1, D)``."""
        g = torch.linalg.vector_norm(x, dim=(1, 2), keepdim=True)
        return self.gamma * (g / (g.mean(dim=-1, keepdim=True) + GRN_EPS)) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.response(x) * x + self.beta


class LKBlock(nn.Module):
    """LK-CNN block (UniRepLKNet): ``x + gamma * BN(W2 GRN(GELU(W1 SE(BN(DRB(x))))))``.

    ``(N, C, H, W) -> (N, C, H, W)``. ``kernel=7`` is "LK7"; ``kernel=0`` is "LK0" (no DRB and
    no BN after it). ``W1``: Linear C -> 4C with bias; ``W2``: Linear 4C -> C without bias;
    layer scale ``gamma`` initialised to ``layer_scale_init`` (1e-6).
    """

    def __init__(
        self, channels: int, kernel: int = 7, ffn_factor: int = 4, layer_scale_init: float = 1e-6
    ):
        super().__init__()
        self.kernel = kernel
        if kernel:
            self.dwconv: nn.Module = DilatedReparamBlock(channels, kernel)
            self.norm: nn.Module = nn.BatchNorm2d(channels)
        else:
            self.dwconv = nn.Identity()
            self.norm = nn.Identity()
        self.se = SqueezeExcite(channels)
        hidden = ffn_factor * channels
        self.pwconv1 = nn.Linear(channels, hidden)
        self.grn = GRN(hidden)
        self.pwconv2 = nn.Linear(hidden, channels, bias=False)
        self.out_bn = nn.BatchNorm2d(channels)
        self.gamma = nn.Parameter(torch.full((channels,), float(layer_scale_init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.norm(self.dwconv(x))).permute(0, 2, 3, 1)
        y = self.pwconv2(self.grn(F.gelu(self.pwconv1(y)))).permute(0, 3, 1, 2)
        return x + self.gamma.reshape(1, -1, 1, 1) * self.out_bn(y)


# ----------------------------------------------------------------------------------------------
# Spatial-/spectral-aware aggregation (MossFuse Sec. 3.4, appendix B.3-B.4)


class SpatialGate(nn.Module):
    """SA: 1x1 C -> h, ReLU, 1x1 h -> h, ReLU, 1x1 h -> 1, sigmoid (no bias).

    ``(N, C, H, W) -> (N, 1, H, W)`` in (0, 1).
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.conv2 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.conv3 = nn.Conv2d(hidden, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.conv3(F.relu(self.conv2(F.relu(self.conv1(x))))))


class ChannelGate(nn.Module):
    """CA: global average pool, Linear C -> h, GELU, h -> h, GELU, h -> C, sigmoid (no bias).

    ``(N, C, H, W) -> (N, C, 1, 1)`` in (0, 1).
    """

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, hidden, bias=False)
        self.fc3 = nn.Linear(hidden, channels, bias=False)

    def from_pooled(self, pooled: torch.Tensor) -> torch.Tensor:
        """Weights from the already pooled ``(N, C)`` features: ``(N, C)``."""
        return torch.sigmoid(self.fc3(F.gelu(self.fc2(F.gelu(self.fc1(pooled))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_pooled(x.mean(dim=(2, 3)))[..., None, None]


class AggregationAttention(nn.Module):
    """Cross attention ``A(x, y)`` of an aggregation block; ``x`` shared, ``y`` complementary.

    ``spatial`` (Phi_spa): ``q <- q * SA(y)``; ``out = channel_attention(q, k, v)``;
    ``y' = dw3x3(y) * CA(out)``. ``spectral`` (Phi_spe): ``q <- q * CA(y)``;
    ``y' = conv1x1_dense(y) * SA(out)``. Both return ``proj(out + y')``. The gate multiplies
    ``q`` *before* its L2 normalisation (as released): in the spectral block a positive
    per-channel factor cancels in that normalisation, so CA(y) has no effect there (kept for
    parameter-compatibility with the release; see the report).

    ``(N, C, H, W), (N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(self, channels: int, heads: int, kind: Literal["spatial", "spectral"], gate: int):
        super().__init__()
        self.kind = kind
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = QKV(channels)
        self.project_out = nn.Conv2d(channels, channels, 1, bias=False)
        self.spatial_gate = SpatialGate(channels, gate)
        self.channel_gate = ChannelGate(channels, gate)
        if kind == "spatial":
            self.y_conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        else:
            self.y_conv = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x)
        if self.kind == "spatial":
            q = q * self.spatial_gate(y)
            out = channel_attention(q, k, v, self.temperature, self.heads)
            y = self.y_conv(y) * self.channel_gate(out)
        else:
            q = q * self.channel_gate(y)
            out = channel_attention(q, k, v, self.temperature, self.heads)
            y = self.y_conv(y) * self.spatial_gate(out)
        return self.project_out(out + y)


class AggregationBlock(nn.Module):
    """Phi_spa / Phi_spe: ``x + A(LN(x), y)`` then ``x + FFN(LN(x))``.

    ``(N, C, H, W) x2 -> (N, C, H, W)``; ``x`` is the shared (base) feature, ``y`` the
    complementary one (not normalised).
    """

    def __init__(
        self,
        channels: int,
        heads: int,
        kind: Literal["spatial", "spectral"],
        ffn_expansion: float = 2.0,
        gate: int = 6,
    ):
        super().__init__()
        self.norm1 = ChannelLayerNorm(channels)
        self.attn = AggregationAttention(channels, heads, kind, gate)
        self.norm2 = ChannelLayerNorm(channels)
        self.ffn = GatedFFN(channels, ffn_expansion)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), y)
        return x + self.ffn(self.norm2(x))


class OutputHead(nn.Module):
    """Decoder head: conv3x3 C -> C/2, LeakyReLU(0.01), conv3x3 C/2 -> out (no bias, no output
    activation). ``(N, C, H, W) -> (N, out, H, W)``."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False)
        self.conv2 = nn.Conv2d(channels // 2, out_channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.leaky_relu(self.conv1(x), 0.01))
