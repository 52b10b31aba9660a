"""Bicubic upsampling of the LR-HSI: the reference point every method must beat.

Convention
----------
``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``: Keys' cubic with
a = -0.75 on half-pixel centres, indices clamped at the border, the same as OpenCV's
``cv2.resize(..., interpolation=cv2.INTER_CUBIC)`` (the spec's bicubic anchor). It ignores the
HR-MSI, the PSF and the sampling phase.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from mossfuse.data.scene import FusionInputs
from mossfuse.methods.base import FusionMethod, FusionResult, MethodConfig, register_method


class BicubicConfig(MethodConfig):
    pass


def bicubic_upsample(cube: np.ndarray, ratio: int) -> np.ndarray:
    """``(B, h, w)`` -> ``(B, r h, r w)`` float32 (see module Convention)."""
    t = torch.from_numpy(np.ascontiguousarray(cube, dtype=np.float32))[None]
    out = F.interpolate(t, scale_factor=ratio, mode="bicubic", align_corners=False)
    return out[0].numpy()


@register_method
class Bicubic(FusionMethod):
    """Bicubic interpolation of the LR-HSI (OpenCV-equivalent)."""

    name = "bicubic"
    Config = BicubicConfig
    uses_degradation = False

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        return FusionResult(hr_hsi=bicubic_upsample(inputs.lr_hsi, inputs.ratio))
