"""Learning-rate schedules (a function of the step only, so a resumed run continues exactly).
"""

from __future__ import annotations

import math

from mossfuse.methods.mossfuse.train.config import TrainConfig


def network_lr(tc: TrainConfig, base: float, net_step: int, net_steps: int) -> float:
    """Network lr at network step ``net_step`` (0-based) of ``net_steps``: linear warm-up
    ``base (i + 1) / warmup``, then constant or cosine from ``base`` to ``lr_min``."""
    if net_step < tc.warmup_steps:
        return base * (net_step + 1) / tc.warmup_steps
    if tc.lr_schedule == "constant":
        return base
    span = max(1, net_steps - tc.warmup_steps)
    t = min(1.0, (net_step - tc.warmup_steps) / span)
    return tc.lr_min + 0.5 * (base - tc.lr_min) * (1.0 + math.cos(math.pi * t))
