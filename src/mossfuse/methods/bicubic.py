"""Bicubic upsampling of the LR-HSI: the reference point every method must beat.

Convention
----------
``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``: Keys' cubic with
a = -0.75 on half-pixel centres, indices clamped at the border, the same as OpenCV's
``cv2.resize(..., interpolation=cv2.INTER_CUBIC)`` (the spec's bicubic anchor). It ignores the
HR-MSI, the PSF and the sampling phase. Computed in numpy (:mod:`mossfuse.methods._cubic`;
equal to torch's kernel to float32 rounding, tested) so that the method imports no torch.
"""

from __future__ import annotations

import numpy as np

from mossfuse.data.scene import FusionInputs
from mossfuse.methods._cubic import cubic_upsample
from mossfuse.methods.base import (
    BUILTIN_METHODS,
    FusionMethod,
    FusionResult,
    MethodConfig,
    register_method,
)


class BicubicConfig(MethodConfig):
    pass


def bicubic_upsample(cube: np.ndarray, ratio: int) -> np.ndarray:
    """``(B, h, w)`` -> ``(B, r h, r w)`` float32 (see module Convention)."""
    return cubic_upsample(np.asarray(cube, dtype=np.float32), ratio, (ratio - 1) / 2)


@register_method
class Bicubic(FusionMethod):
    """Bicubic interpolation of the LR-HSI (OpenCV-equivalent)."""

    name = "bicubic"
    description = BUILTIN_METHODS["bicubic"].description
    Config = BicubicConfig
    uses_degradation = False

    def _fuse(self, inputs: FusionInputs) -> FusionResult:
        return FusionResult(hr_hsi=bicubic_upsample(inputs.lr_hsi, inputs.ratio))
