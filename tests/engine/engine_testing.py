"""Fusion methods used by the engine tests (importable by Dask worker processes too).

Not registered: the tests pass instances. Each is deterministic so tiled results can be
compared exactly.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from mossfuse.data.scene import FusionInputs
from mossfuse.methods.base import FusionMethod, FusionResult, MethodConfig


def nearest_up(cube: np.ndarray, r: int) -> np.ndarray:
    """``(B, h, w)`` -> ``(B, r h, r w)`` by repeating each LR sample over its cell."""
    return np.repeat(np.repeat(cube, r, axis=1), r, axis=2)


def tile_key(inputs: FusionInputs) -> str:
    """A fingerprint of a tile's content (identifies a tile without knowing its position)."""
    return hashlib.sha1(np.ascontiguousarray(inputs.lr_hsi).tobytes()).hexdigest()[:16]


class PixelLocalConfig(MethodConfig):
    gain: float = 1.0


class PixelLocal(FusionMethod):
    """Each HR pixel from its own LR cell and its own MSI pixel: ``X = up(Y_h) * (m + 1) / 2``
    with ``m`` the MSI mean at the pixel (no neighbourhood at all)."""

    name = "pixel-local"
    Config = PixelLocalConfig
    uses_degradation = False

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        up = nearest_up(inputs.lr_hsi, inputs.ratio)
        m = inputs.hr_msi.mean(axis=0, keepdims=True)
        return FusionResult(hr_hsi=self.config.gain * up * (m + 1.0) / 2.0)


class SpyConfig(MethodConfig):
    pass


class Spy(PixelLocal):
    """Records what every call received (in-process runs only)."""

    name = "spy"
    Config = SpyConfig  # type: ignore[assignment]
    uses_degradation = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen: list[object] = []

    def fuse(self, inputs):  # record before the base class checks the type
        self.seen.append(inputs)
        return super().fuse(inputs)

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        up = nearest_up(inputs.lr_hsi, inputs.ratio)
        return FusionResult(hr_hsi=up * (inputs.hr_msi.mean(axis=0, keepdims=True) + 1) / 2)


class FailingConfig(MethodConfig):
    fail_key: str | None = None  # the tile (tile_key) to fail on
    flag_dir: str | None = None  # fail on fail_key only while no flag file exists
    always: bool = False  # fail on fail_key every time
    kill: bool = False  # kill the worker process instead of raising


class Failing(PixelLocal):
    """:class:`PixelLocal` that fails on purpose (see :class:`FailingConfig`).

    ``interrupt_after=k`` (not part of the config, like a Ctrl-C is not part of a run's
    settings) raises on every call after the first ``k`` of this instance.
    """

    name = "failing"
    Config = FailingConfig  # type: ignore[assignment]

    def __init__(self, *args, interrupt_after: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.interrupt_after = interrupt_after

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        cfg = self.config
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise RuntimeError(f"simulated interruption after {self.interrupt_after} tiles")
        if cfg.fail_key is not None and tile_key(inputs) == cfg.fail_key:
            if cfg.always:
                raise RuntimeError("simulated unrecoverable tile failure")
            flag = Path(cfg.flag_dir or ".") / f"failed-{cfg.fail_key}"
            if not flag.exists():
                flag.write_text("1")
                if cfg.kill:
                    os._exit(1)
                raise RuntimeError("simulated transient tile failure")
        up = nearest_up(inputs.lr_hsi, inputs.ratio)
        return FusionResult(hr_hsi=up * (inputs.hr_msi.mean(axis=0, keepdims=True) + 1) / 2)


class SlowConfig(MethodConfig):
    seconds: float = 0.3  # sleep per tile


class Slow(PixelLocal):
    """:class:`PixelLocal` that takes ``seconds`` per call (a run long enough to kill a worker
    in the middle of it)."""

    name = "slow"
    Config = SlowConfig  # type: ignore[assignment]

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        import time

        time.sleep(self.config.seconds)
        up = nearest_up(inputs.lr_hsi, inputs.ratio)
        return FusionResult(hr_hsi=up * (inputs.hr_msi.mean(axis=0, keepdims=True) + 1) / 2)
