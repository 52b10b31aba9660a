"""Degradation physics: PSF, SRF, the spatial and spectral operators with their adjoints, the
fusion forward model that stacks them, and the named simulation protocols."""

from mossfuse.physics.forward import FusionForwardModel
from mossfuse.physics.protocols import (
    PROTOCOLS,
    Degradation,
    Protocol,
    PSFSpec,
    SimulatedCase,
    get_protocol,
)
from mossfuse.physics.psf import GaussianPSF, gaussian_kernel, gaussian_kernel_from_precision
from mossfuse.physics.spatial import SpatialDegradation, spatial_degrade, spatial_degrade_adjoint
from mossfuse.physics.spectral import (
    SensitivityCurves,
    SpectralResponse,
    normalize_rows,
    spectral_degrade,
    spectral_degrade_adjoint,
)
from mossfuse.physics.srf_library import load_srf, nikon_d700_nssr

__all__ = [
    "PROTOCOLS", "Degradation", "FusionForwardModel", "GaussianPSF", "PSFSpec", "Protocol",
    "SensitivityCurves", "SimulatedCase", "SpatialDegradation", "SpectralResponse",
    "gaussian_kernel", "gaussian_kernel_from_precision", "get_protocol", "load_srf",
    "nikon_d700_nssr", "normalize_rows", "spatial_degrade", "spatial_degrade_adjoint",
    "spectral_degrade", "spectral_degrade_adjoint",
]
