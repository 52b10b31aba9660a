"""The fusion forward model: one HR-HSI ``X`` seen by two sensors.

``lr_hsi = S(X)`` (spatial operator: PSF + decimation, :mod:`mossfuse.physics.spatial`) and
``hr_msi = R(X)`` (spectral operator, :mod:`mossfuse.physics.spectral`); both LR-MSI routes,
``S(Y)`` and ``R(x)``, meet in the same space (MossFuse paper, eq. 2). Every method, the
simulator, the losses and the blind estimators use this object; nobody re-writes a degradation.
"""

from __future__ import annotations

import numpy as np
import torch

from mossfuse.physics.spatial import SpatialDegradation
from mossfuse.physics.spectral import spectral_degrade, spectral_degrade_adjoint


class FusionForwardModel(torch.nn.Module):
    """Stack of a spatial and a spectral operator.

    Args:
        spatial: the LR-HSI sensor's :class:`SpatialDegradation`.
        srf: ``(b, B)`` SRF matrix of the HR-MSI sensor.

    >>> import numpy as np
    >>> from mossfuse.physics.psf import gaussian_kernel
    >>> fm = FusionForwardModel(SpatialDegradation(gaussian_kernel(7, 2.0), 8, 3),
    ...                         np.full((3, 31), 1 / 31, np.float32))
    >>> [a.shape for a in fm(np.zeros((31, 64, 64), np.float32))]
    [(31, 8, 8), (3, 64, 64)]
    """

    def __init__(self, spatial: SpatialDegradation, srf):
        super().__init__()
        self.spatial = spatial
        self.register_buffer("srf", torch.as_tensor(np.asarray(srf, dtype=np.float32)).clone())

    @property
    def ratio(self) -> int:
        return self.spatial.ratio

    def lr_hsi(self, x):
        return self.spatial(x)

    def hr_msi(self, x):
        return spectral_degrade(x, self.srf)

    def forward(self, x):
        return self.lr_hsi(x), self.hr_msi(x)

    def lr_msi_from_msi(self, hr_msi):
        return self.spatial(hr_msi)

    def lr_msi_from_hsi(self, lr_hsi):
        return spectral_degrade(lr_hsi, self.srf)

    def lr_hsi_adjoint(self, y, hr_shape: tuple[int, int]):
        return self.spatial.adjoint(y, hr_shape)

    def hr_msi_adjoint(self, y):
        return spectral_degrade_adjoint(y, self.srf)
