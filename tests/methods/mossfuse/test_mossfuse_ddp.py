"""Multi-process training (DistributedDataParallel, gloo on CPU) equals one process with the
same global batch: two local processes each take half of every batch; BatchNorm statistics
and ``L_SC`` are computed over the global batch, the degradation gradients are averaged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.distributed as dist
from mossfuse_testing import single_threaded_torch  # noqa: F401

from mossfuse.data.scene import FusionInputs
from mossfuse.methods.mossfuse import MossFuseConfig
from mossfuse.methods.mossfuse.train import (
    TrainConfig,
    Trainer,
    dist_info,
    run_local_processes,
    train,
)
from mossfuse.methods.mossfuse.train.step import compute_losses, wrap_distributed
from mossfuse.physics import gaussian_kernel, spatial_degrade, spectral_degrade
from mossfuse.physics.degradation import Degradation

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="needs torch.distributed gloo"
)

MODEL = dict(hsi_bands=8, msi_bands=3, ratio=4, channels=12, heads=2)
TRAIN = dict(crop=8, batch_size=4, steps=4, degradation_warmup_steps=1, lr=1e-3,
             lr_degradation=1e-2, shuffle=True, augment=True, seed=3, progress=False,
             checkpoint_every=0, threads=1, device="cpu")
#: Tolerances the two runs met (observed on the shared 2-core machine): loss curves within
#: 2.4e-7 (abs), first-step gradients within 2.6e-6 of the largest gradient, degradation
#: parameters within 1.2e-7. The remaining differences are float32 sums taken in another
#: order (per-rank partial sums, then the all-reduce).
LOSS_TOL = 1e-5
GRAD_TOL = 1e-5
DEG_TOL = 1e-6


def _pair(seed: int, size: int = 16) -> FusionInputs:
    rng = np.random.default_rng(seed)
    ref = rng.uniform(0.1, 0.9, (8, size, size))
    wl = np.linspace(0, 1, 8)
    srf = np.stack([np.exp(-0.5 * ((wl - c) / 0.2) ** 2) for c in (0.2, 0.5, 0.8)])
    srf /= srf.sum(axis=1, keepdims=True)
    lr = spatial_degrade(ref, gaussian_kernel(3, 1.0), 4, 1, centre=1)
    return FusionInputs(lr.astype(np.float32), spectral_degrade(ref, srf).astype(np.float32),
                        4, degradation=Degradation(None, None, 4, phase=1))


def _run() -> dict:
    """In one process, or as one rank of a group: the network gradient of the first joint
    step's global batch, then a short training's loss curve and final degradation."""
    torch.set_num_threads(1)
    model, tc, inputs = MossFuseConfig(**MODEL), TrainConfig(**TRAIN), [_pair(0), _pair(1)]
    probe = Trainer(model, tc, inputs)
    wrap_distributed(probe.state)
    info = dist_info()
    batch = probe.batcher.make(probe.sampler.batch(1, tc.batch_size, info.rank, info.world_size))
    compute_losses(probe.state, batch["hr_msi"], batch["lr_hsi"]).total.backward()
    grads = {k: p.grad.clone() for k, p in probe.state.net.named_parameters()
             if p.grad is not None}
    res = train(model, tc, inputs)
    return {
        "grads": grads,
        "curve": [{k: r[k] for k in ("total", "ma", "sc", "de") if k in r} for r in res.history],
        "degradation": {k: v.clone() for k, v in res.state.degradation.state_dict().items()},
        "net": {k: v.clone() for k, v in res.state.net.state_dict().items()},
    }


def test_two_processes_match_one_process_with_the_same_global_batch():
    single = _run()
    ranks = run_local_processes(2, _run, backend="gloo")
    assert len(single["curve"]) == 5 and "ma" not in single["curve"][0]  # warm-up, then joint
    gmax = max(float(g.abs().max()) for g in single["grads"].values())
    for r in ranks:
        assert r["grads"].keys() == single["grads"].keys()
        for k, g in single["grads"].items():
            assert float((r["grads"][k] - g).abs().max()) <= GRAD_TOL * gmax, k
        assert len(r["curve"]) == len(single["curve"])
        for got, want in zip(r["curve"], single["curve"], strict=True):
            assert got.keys() == want.keys()
            for k in want:
                assert got[k] == pytest.approx(want[k], abs=LOSS_TOL, rel=LOSS_TOL), k
        for k, v in single["degradation"].items():
            torch.testing.assert_close(r["degradation"][k], v, atol=DEG_TOL, rtol=DEG_TOL)
    # the ranks hold identical weights (DDP), and training moved them
    for k, v in ranks[0]["net"].items():
        assert torch.equal(v, ranks[1]["net"][k]), k
    assert single["curve"][-1]["total"] != single["curve"][1]["total"]
