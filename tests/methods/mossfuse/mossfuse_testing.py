"""Shared helpers of the MossFuse tests (tiny configs, randomised eval-mode statistics).

Each test module imports :func:`single_threaded_torch` (an autouse fixture; not a conftest.py,
which would shadow ``tests/conftest.py`` for the modules that ``import conftest``).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mossfuse.methods.mossfuse import MossFuseConfig, MossFuseNet


@pytest.fixture(autouse=True)
def single_threaded_torch():
    """Run torch single-threaded: the tensors are tiny, and on the shared 2-core machine
    OpenMP's per-op barriers made these tests ~6x slower under load (60 s vs 9 s)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_config(**overrides) -> MossFuseConfig:
    """B=8, b=3, r=4, C=8 with 2 heads: fast enough for unit tests."""
    kw = dict(hsi_bands=8, msi_bands=3, ratio=4, channels=8, heads=2)
    kw.update(overrides)
    return MossFuseConfig(**kw)


@torch.no_grad()
def randomise_eval_state(module: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics/affine, layer scales and GRN parameters (their
    initial values 1e-6 / 0 would hide errors in the folding)."""
    g = torch.Generator().manual_seed(seed)

    def u(t: torch.Tensor, lo: float, hi: float) -> None:
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            u(m.running_mean, -0.5, 0.5)
            u(m.running_var, 0.5, 2.0)
            u(m.weight, 0.5, 1.5)
            u(m.bias, -0.5, 0.5)
    for name, p in module.named_parameters():
        if name.endswith("gamma") or name.endswith("beta") or name.endswith("temperature"):
            u(p, -0.5, 1.0)
    return module.eval()


def tiny_net(seed: int = 0, **overrides) -> MossFuseNet:
    torch.manual_seed(seed)
    return randomise_eval_state(MossFuseNet(tiny_config(**overrides)), seed)


def tiny_batch(n: int = 1, height: int = 16, width: int = 16, ratio: int = 4, bands: int = 8,
               msi_bands: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(hr_msi (n, b, H, W), lr_hsi (n, B, H/r, W/r))`` in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, msi_bands, height, width, generator=g),
            torch.rand(n, bands, height // ratio, width // ratio, generator=g))
