"""Degradation physics: PSF, SRF, the spatial and spectral operators with their adjoints, the
fusion forward model that stacks them, and the named simulation protocols."""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "FusionForwardModel": "mossfuse.physics.forward",
    "PROTOCOLS": "mossfuse.physics.protocols",
    "Degradation": "mossfuse.physics.degradation",
    "Protocol": "mossfuse.physics.protocols",
    "PSFSpec": "mossfuse.physics.protocols",
    "SimulatedCase": "mossfuse.physics.protocols",
    "get_protocol": "mossfuse.physics.protocols",
    "GaussianPSF": "mossfuse.physics.psf",
    "gaussian_kernel": "mossfuse.physics.psf",
    "gaussian_kernel_from_precision": "mossfuse.physics.psf",
    "SpatialDegradation": "mossfuse.physics.spatial",
    "spatial_degrade": "mossfuse.physics.spatial",
    "spatial_degrade_adjoint": "mossfuse.physics.spatial",
    "SensitivityCurves": "mossfuse.physics.spectral",
    "SpectralResponse": "mossfuse.physics.spectral",
    "normalize_rows": "mossfuse.physics.spectral",
    "spectral_degrade": "mossfuse.physics.spectral",
    "spectral_degrade_adjoint": "mossfuse.physics.spectral",
    "load_srf": "mossfuse.physics.srf_library",
    "nikon_d700_nssr": "mossfuse.physics.srf_library",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "Degradation",
    "FusionForwardModel",
    "GaussianPSF",
    "PROTOCOLS",
    "PSFSpec",
    "Protocol",
    "SensitivityCurves",
    "SimulatedCase",
    "SpatialDegradation",
    "SpectralResponse",
    "gaussian_kernel",
    "gaussian_kernel_from_precision",
    "get_protocol",
    "load_srf",
    "nikon_d700_nssr",
    "normalize_rows",
    "spatial_degrade",
    "spatial_degrade_adjoint",
    "spectral_degrade",
    "spectral_degrade_adjoint",
]
