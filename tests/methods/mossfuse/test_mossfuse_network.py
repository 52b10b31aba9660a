"""Network: shapes at any ratio/band counts, parameter counts, the fused inference path."""

from __future__ import annotations

import pytest
import torch
from mossfuse_testing import single_threaded_torch, tiny_batch, tiny_config, tiny_net  # noqa: F401

from mossfuse.methods.mossfuse import (
    MossFuseConfig,
    MossFuseNet,
    count_parameters,
    make_degradation,
    print_parameter_count,
)
from mossfuse.methods.mossfuse.blocks import SWT, AggregationBlock
from mossfuse.methods.mossfuse.inference import FusedMossFuse


@pytest.mark.parametrize("ratio,bands,msi_bands", [(4, 8, 3), (8, 5, 4), (3, 6, 1)])
def test_forward_shapes_any_ratio_and_bands(ratio, bands, msi_bands):
    net = MossFuseNet(tiny_config(ratio=ratio, hsi_bands=bands, msi_bands=msi_bands))
    hr, lr = tiny_batch(2, 2 * ratio, ratio, ratio, bands, msi_bands)
    out = net(hr, lr)
    size = (2, 2 * ratio, ratio)
    assert out.fused.shape == (2, bands, *size[1:])
    assert out.msi_hat.shape == out.lr_msi_hat.shape == (2, msi_bands, *size[1:])
    assert out.hsi_hat.shape == out.hsi_up.shape == (2, bands, *size[1:])
    for f in (out.shared_msi, out.comp_msi, out.shared_hsi, out.comp_hsi):
        assert f.shape == (2, 8, *size[1:])


def test_lr_hsi_is_upsampled_bilinearly_half_pixel():
    net = MossFuseNet(tiny_config())
    hr, lr = tiny_batch(1, 8, 8)
    ref = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bilinear", align_corners=False)
    torch.testing.assert_close(net.encode(hr, lr)[-1], ref)


def test_release_parameter_counts(capsys):
    cfg = MossFuseConfig()  # B = 31, b = 3, C = 48, release options
    net = MossFuseNet(cfg)
    count = print_parameter_count(net, make_degradation(cfg))
    assert "inference path" in capsys.readouterr().out
    # pinned: any architecture change shows up here
    assert count.inference == 449_056
    assert count.total == 576_269
    assert count.degradation == 93 + 4
    # the release: ~0.45 M on the inference path, ~0.59 M in total (its net.py also builds two
    # unused 1x1 reduce convs, 2 * 2C * C = 9,216 parameters, in D_Y and D_x)
    assert abs(count.inference / 0.45e6 - 1) < 0.01
    assert abs((count.total + 2 * 96 * 48) / 0.59e6 - 1) < 0.01
    assert abs(count.total / 0.59e6 - 1) < 0.03


def test_parallel_topology_has_the_same_inference_parameters():
    a = count_parameters(MossFuseNet(MossFuseConfig()))
    b = count_parameters(MossFuseNet(MossFuseConfig(fusion_topology="parallel")))
    assert a.inference == b.inference and b.total < a.total


def test_structure_as_specified():
    net = MossFuseNet(MossFuseConfig())
    names = lambda seq: [type(m).__name__ + (str(m.kernel) if hasattr(m, "kernel") else "")  # noqa: E731
                         for m in seq]
    assert names(net.encoder_msi.shared) == ["LKBlock7", "LKBlock0", "LKBlock0", "SWT"]
    assert names(net.encoder_msi.complementary) == ["LKBlock7", "LKBlock0", "LKBlock0"]
    assert names(net.encoder_hsi.shared) == ["SWT", "LKBlock7", "LKBlock0", "LKBlock0"]
    assert names(net.encoder_hsi.complementary) == ["SWT"]
    assert len(net.encoder_msi.base) == len(net.encoder_hsi.base) == 1
    dec = net.decoder_fused
    assert dec.spatial.attn.kind == "spatial" and dec.spectral.attn.kind == "spectral"
    assert len(dec.blocks) == 1 and isinstance(dec.blocks[0], SWT)
    assert dec.combine.reduce is not None and dec.combine.reduce.weight.shape == (48, 96, 1, 1)
    assert len(net.decoder_msi.blocks) == len(net.decoder_hsi.blocks) == 0
    assert len(net.decoder_lr_msi.blocks) == 1
    paper = MossFuseNet(MossFuseConfig(shared_combination="sum", num_blocks=2, channels=16,
                                       heads=2, lr_msi_decoder_swt=False))
    assert paper.decoder_fused.combine.reduce is None and len(paper.decoder_lr_msi.blocks) == 0
    assert len(paper.encoder_msi.base) == 2 and len(paper.decoder_msi.blocks) == 1


def test_inference_runs_only_encoders_and_fused_decoder():
    net = tiny_net()
    called = []
    for name in ("decoder_msi", "decoder_hsi", "decoder_lr_msi"):
        getattr(net, name).register_forward_hook(lambda *a, n=name: called.append(n))
    for m in net.decoder_msi.modules():
        if isinstance(m, AggregationBlock):
            m.register_forward_hook(lambda *a: called.append("aggregate"))
    hr, lr = tiny_batch(1, 8, 8)
    with torch.no_grad():
        net.fuse_forward(hr, lr)
    assert called == []
    fused = net.inference_path()
    assert not any("decoder" in n for n, _ in fused.named_modules())


@pytest.mark.parametrize("topology,combination", [("cascade", "concat"), ("parallel", "sum")])
def test_fused_inference_path_equals_fuse_forward(topology, combination):
    net = tiny_net(fusion_topology=topology, shared_combination=combination, num_blocks=2)
    hr, lr = tiny_batch(2, 12, 8)  # chunk_bytes=1: 3 chunks of 4 rows
    with torch.no_grad():
        ref = net.fuse_forward(hr, lr)
        full = net(hr, lr).fused
    torch.testing.assert_close(full, ref)
    with torch.no_grad():
        lean = net(hr, lr, reconstructions=False)
    assert lean.msi_hat is None and lean.lr_msi_hat is None
    torch.testing.assert_close(lean.fused, ref)
    for kw in (dict(chunk_bytes=1, workers=2), dict(chunk_bytes=1 << 30, workers=1)):
        fused = FusedMossFuse.from_network(net, **kw)
        with torch.inference_mode():
            out = fused(hr, lr)
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_bfloat16_inference_path_is_close():
    net = tiny_net()
    hr, lr = tiny_batch(1, 16, 16)
    with torch.no_grad():
        ref = net.fuse_forward(hr, lr)
    fused = net.inference_path(torch.bfloat16, chunk_bytes=1)
    with torch.inference_mode():
        out = fused(hr, lr)
    assert out.dtype == torch.float32
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()


def test_fused_path_restores_thread_count():
    net = tiny_net()
    hr, lr = tiny_batch()
    torch.set_num_threads(2)  # the autouse fixture restores the original afterwards
    with torch.inference_mode():
        FusedMossFuse.from_network(net, workers=2)(hr, lr)
    assert torch.get_num_threads() == 2


def test_bad_band_counts_raise():
    net = MossFuseNet(tiny_config())
    hr, lr = tiny_batch(bands=5)
    with pytest.raises(ValueError, match="B=8"):
        net(hr, lr)
