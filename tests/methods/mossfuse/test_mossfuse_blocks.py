"""Blocks: DRB merge, BN folding, attention, LayerNorm over channels, GRN, fused blocks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from mossfuse_testing import randomise_eval_state, single_threaded_torch  # noqa: F401

from mossfuse.methods.mossfuse.blocks import (
    GRN,
    SWT,
    AggregationBlock,
    ChannelLayerNorm,
    DilatedReparamBlock,
    LKBlock,
    channel_attention,
    dilate_kernel,
    fuse_bn,
)
from mossfuse.methods.mossfuse.inference import (
    FusedAggregation,
    FusedLK,
    FusedSWT,
    Streamer,
)


def test_dilated_kernel_equals_dilated_conv():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 15, 15)
    w = torch.randn(3, 1, 3, 3)
    ref = F.conv2d(x, w, padding=3, dilation=3, groups=3)
    dense = dilate_kernel(w, 3)
    assert dense.shape[-1] == 7
    torch.testing.assert_close(F.conv2d(x, dense, padding=3, groups=3), ref)


def test_fuse_bn_matches_eval_batchnorm():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False)
    bn = randomise_eval_state(torch.nn.BatchNorm2d(4))
    x = torch.randn(2, 4, 9, 9)
    w, b = fuse_bn(conv.weight, bn)
    torch.testing.assert_close(F.conv2d(x, w, b, padding=1, groups=4), bn(conv(x)))


def test_drb_merge_is_exact_in_eval_mode():
    torch.manual_seed(0)
    drb = randomise_eval_state(DilatedReparamBlock(6, 7))
    x = torch.randn(2, 6, 20, 17)
    w, b = drb.merged()
    assert w.shape == (6, 1, 7, 7) and b.shape == (6,)
    with torch.no_grad():
        ref = drb(x)
    torch.testing.assert_close(F.conv2d(x, w, b, padding=3, groups=6), ref, atol=1e-5, rtol=0)


def test_channel_layer_norm_is_per_pixel_layer_norm():
    torch.manual_seed(0)
    ln = ChannelLayerNorm(5)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-1, 1)
    x = torch.randn(2, 5, 4, 3)
    ref = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), (5,), ln.weight, ln.bias, 1e-5)
    torch.testing.assert_close(ln(x), ref.permute(0, 3, 1, 2))


def test_channel_attention_matches_per_head_loop():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 6, 5, 4) for _ in range(3))
    temp = torch.tensor([0.7, 1.3]).reshape(2, 1, 1)
    out = channel_attention(q, k, v, temp, heads=2)
    for n in range(2):
        for h in range(2):
            sl = slice(3 * h, 3 * h + 3)
            qh = q[n, sl].reshape(3, -1)
            kh = k[n, sl].reshape(3, -1)
            qh = qh / qh.norm(dim=1, keepdim=True)
            kh = kh / kh.norm(dim=1, keepdim=True)
            attn = torch.softmax(qh @ kh.T * temp[h], dim=-1)
            ref = attn @ v[n, sl].reshape(3, -1)
            torch.testing.assert_close(out[n, sl].reshape(3, -1), ref)


def test_grn_formula():
    grn = GRN(3)
    with torch.no_grad():
        grn.gamma.copy_(torch.tensor([0.5, -1.0, 2.0]))
        grn.beta.copy_(torch.tensor([0.1, 0.2, 0.3]))
    x = torch.randn(2, 4, 5, 3)
    g = torch.sqrt((x**2).sum(dim=(1, 2), keepdim=True))
    n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(grn(x), grn.gamma * (x * n) + grn.beta + x)


def test_lk0_has_no_drb_and_lk_layer_scale_init():
    lk0, lk7 = LKBlock(8, 0), LKBlock(8, 7)
    assert not any(isinstance(m, DilatedReparamBlock) for m in lk0.modules())
    assert isinstance(lk7.dwconv, DilatedReparamBlock)
    assert torch.all(lk7.gamma == 1e-6)
    assert sum(p.numel() for p in lk7.parameters()) - sum(p.numel() for p in lk0.parameters()) \
        == 8 * (49 + 25 + 9 + 9) + 4 * 2 * 8 + 2 * 8  # DRB convs + its 4 BNs + the BN after it


def _run_fused(block, x, *extra, chunk_bytes=1, workers=1):
    st = Streamer(chunk_bytes, workers)
    st.configure(x.shape[-1], 4 * x.shape[1], 4)
    xs = [x[0].permute(1, 2, 0).contiguous()] + [e[0].permute(1, 2, 0).contiguous() for e in extra]
    with torch.inference_mode():
        out = block(*xs, st)
    return out.permute(2, 0, 1)[None]


@pytest.mark.parametrize("kernel", [7, 0])
def test_fused_lk_block_equals_eval_block(kernel):
    torch.manual_seed(0)
    blk = randomise_eval_state(LKBlock(8, kernel))
    x = torch.randn(1, 8, 13, 11)
    with torch.no_grad():
        ref = blk(x)
    out = _run_fused(FusedLK(blk), x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_fused_swt_equals_swt():
    torch.manual_seed(0)
    blk = randomise_eval_state(SWT(8, 2))
    x = torch.randn(1, 8, 13, 11)
    with torch.no_grad():
        ref = blk(x)
    for workers in (1, 2):
        out = _run_fused(FusedSWT(blk), x, workers=workers)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["spatial", "spectral"])
def test_fused_aggregation_equals_block(kind):
    torch.manual_seed(0)
    blk = randomise_eval_state(AggregationBlock(8, 2, kind, gate=3))
    x, y = torch.randn(1, 8, 12, 10), torch.randn(1, 8, 12, 10)
    with torch.no_grad():
        ref = blk(x, y)
    out = _run_fused(FusedAggregation(blk), x, y)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_spectral_query_gate_cancels_in_the_normalisation():
    """Documented property of the released design: a positive per-channel factor on q before
    its L2 normalisation over pixels has no effect on the spectral-aware block."""
    torch.manual_seed(0)
    blk = AggregationBlock(8, 2, "spectral", gate=3).eval()
    x, y = torch.randn(1, 8, 6, 6), torch.randn(1, 8, 6, 6)
    with torch.no_grad():
        ref = blk(x, y)
        blk.attn.channel_gate.fc3.weight.mul_(-3.0)  # different gate values, still in (0, 1)
        out = blk(x, y)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-6)
