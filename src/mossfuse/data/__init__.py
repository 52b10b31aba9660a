"""Data: cube types, file I/O, the CAVE dataset and real remote-sensing crops.

Library arrays are ``(bands, H, W)`` float32 in [0, 1]; files store ``H x W x bands``
(see :mod:`mossfuse.data.io`).
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "DEV_SPLIT": "mossfuse.data.cave",
    "OFFICIAL_TEST_SPLIT": "mossfuse.data.cave",
    "OFFICIAL_TRAIN_SPLIT": "mossfuse.data.cave",
    "CaveDataset": "mossfuse.data.cave",
    "SplitSelection": "mossfuse.data.cave",
    "read_cave_scene": "mossfuse.data.cave",
    "verify_checksums": "mossfuse.data.cave",
    "DeadLeavesConfig": "mossfuse.data.dead_leaves",
    "dead_leaves_stream": "mossfuse.data.dead_leaves",
    "generate_dead_leaves": "mossfuse.data.dead_leaves",
    "load_mat_variables": "mossfuse.data.io",
    "normalize_cube": "mossfuse.data.io",
    "read_cube": "mossfuse.data.io",
    "write_cube": "mossfuse.data.io",
    "load_abu": "mossfuse.data.remote_sensing",
    "load_houston2018": "mossfuse.data.remote_sensing",
    "load_paris": "mossfuse.data.remote_sensing",
    "load_paris_pan": "mossfuse.data.remote_sensing",
    "FusionInputs": "mossfuse.data.scene",
    "Scene": "mossfuse.data.scene",
    "SpectralLibrary": "mossfuse.data.spectral_library",
    "reflectance_library": "mossfuse.data.spectral_library",
    "spectra_from_cube": "mossfuse.data.spectral_library",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "CaveDataset",
    "DEV_SPLIT",
    "DeadLeavesConfig",
    "FusionInputs",
    "OFFICIAL_TEST_SPLIT",
    "OFFICIAL_TRAIN_SPLIT",
    "Scene",
    "SpectralLibrary",
    "SplitSelection",
    "dead_leaves_stream",
    "generate_dead_leaves",
    "load_abu",
    "load_houston2018",
    "load_mat_variables",
    "load_paris",
    "load_paris_pan",
    "normalize_cube",
    "read_cave_scene",
    "read_cube",
    "reflectance_library",
    "spectra_from_cube",
    "verify_checksums",
    "write_cube",
]
