"""The module form of the spatial operator (:class:`SpatialDegradation`, a
``torch.nn.Module``), kept apart from :mod:`mossfuse.physics.spatial` so that the functional
operators import no torch; import it from :mod:`mossfuse.physics.spatial` as before."""

from __future__ import annotations

import torch

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.spatial import (
    Padding,
    lr_size,
    spatial_degrade,
    spatial_degrade_adjoint,
)


class SpatialDegradation(torch.nn.Module):
    """Module form of :func:`spatial_degrade` with a fixed kernel (a buffer).

    >>> import numpy as np
    >>> from mossfuse.physics.psf import gaussian_kernel
    >>> op = SpatialDegradation(gaussian_kernel(7, 2.0), ratio=8, phase=3)
    >>> op(np.zeros((31, 64, 64), np.float32)).shape
    (31, 8, 8)
    """

    def __init__(
        self,
        kernel,
        ratio: int,
        phase: int | tuple[int, int],
        *,
        centre: int | tuple[int, int] | None = None,
        padding: Padding = "valid",
    ):
        super().__init__()
        if ratio < 1:
            raise MossfuseInputError(f"ratio must be >= 1; got {ratio}")
        self.register_buffer("kernel", torch.as_tensor(kernel, dtype=torch.float32).clone())
        self.ratio, self.phase, self.centre, self.padding = ratio, phase, centre, padding

    def forward(self, x):
        return spatial_degrade(
            x, self.kernel, self.ratio, self.phase, centre=self.centre, padding=self.padding
        )

    def adjoint(self, y, hr_shape: tuple[int, int]):
        return spatial_degrade_adjoint(
            y, self.kernel, self.ratio, self.phase, hr_shape,
            centre=self.centre, padding=self.padding,
        )

    def lr_shape(self, hr_shape: tuple[int, int]) -> tuple[int, int]:
        py, px = (self.phase,) * 2 if isinstance(self.phase, int) else self.phase
        return lr_size(hr_shape[0], self.ratio, py), lr_size(hr_shape[1], self.ratio, px)
