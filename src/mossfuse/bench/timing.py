"""Timing benchmark of MossFuse's fused inference path (:class:`~mossfuse.methods.mossfuse.
inference.FusedMossFuse`) on a random scene: a measurement, not part of the method."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def measure_inference(
    net: nn.Module | None = None,
    *,
    size: int = 512,
    ratio: int = 32,
    dtype: torch.dtype = torch.float32,
    threads: int = 2,
    workers: int | None = None,
    repeats: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Time the fused inference path on one random ``size x size`` scene (not a test).

    Args:
        net: a :class:`~mossfuse.methods.mossfuse.network.MossFuseNet` (None: the release
            architecture, B = 31, b = 3, with random weights; the speed does not depend on
            the weights).
        threads: torch intra-op threads during the measurement (restored after).
        workers: chunk workers (None: ``threads``).

    Returns:
        ``wall_s`` and ``cpu_s`` (process CPU time) per repeat (the first includes one-off
        oneDNN kernel generation and workspace allocation), ``peak_rss_gb`` of the process
        (``ru_maxrss``, includes everything loaded before), ``load_avg`` (1 min, before the
        first run: a busy shared machine slows everything down).
    """
    import os
    import resource
    import time

    from mossfuse.methods.mossfuse.config import MossFuseConfig
    from mossfuse.methods.mossfuse.inference import FusedMossFuse
    from mossfuse.methods.mossfuse.network import MossFuseNet

    if net is None:
        torch.manual_seed(seed)
        net = MossFuseNet(MossFuseConfig())
    net.eval()
    cfg = net.cfg
    fused = FusedMossFuse.from_network(net, dtype=dtype, workers=workers)
    g = torch.Generator().manual_seed(seed)
    hr = torch.rand(1, cfg.msi_bands, size, size, generator=g)
    lr = torch.rand(1, cfg.hsi_bands, size // ratio, size // ratio, generator=g)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    load = os.getloadavg()[0]
    walls, cpus = [], []
    try:
        with torch.inference_mode():
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                fused(hr, lr)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
    finally:
        torch.set_num_threads(old)
        fused.release_workspace()
    return {
        "wall_s": walls, "cpu_s": cpus, "dtype": str(dtype), "threads": threads,
        "workers": workers if workers is not None else threads, "size": size, "ratio": ratio,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "load_avg": load,
    }
