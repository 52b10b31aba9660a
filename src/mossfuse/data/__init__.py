"""Data: cube types, file I/O, the CAVE dataset and real remote-sensing crops.

Library arrays are ``(bands, H, W)`` float32 in [0, 1]; files store ``H x W x bands``
(see :mod:`mossfuse.data.io`).
"""

from mossfuse.data.cave import (
    DEV_SPLIT,
    OFFICIAL_TEST_SPLIT,
    OFFICIAL_TRAIN_SPLIT,
    CaveDataset,
    SplitSelection,
    read_cave_scene,
    verify_checksums,
)
from mossfuse.data.dead_leaves import DeadLeavesConfig, dead_leaves_stream, generate_dead_leaves
from mossfuse.data.io import load_mat_variables, normalize_cube, read_cube, write_cube
from mossfuse.data.remote_sensing import load_abu, load_houston2018, load_paris, load_paris_pan
from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.data.spectral_library import SpectralLibrary, reflectance_library, spectra_from_cube

__all__ = [
    "DEV_SPLIT",
    "OFFICIAL_TEST_SPLIT",
    "OFFICIAL_TRAIN_SPLIT",
    "CaveDataset",
    "DeadLeavesConfig",
    "SpectralLibrary",
    "dead_leaves_stream",
    "generate_dead_leaves",
    "reflectance_library",
    "spectra_from_cube",
    "FusionInputs",
    "Scene",
    "SplitSelection",
    "load_abu",
    "load_houston2018",
    "load_mat_variables",
    "load_paris",
    "load_paris_pan",
    "normalize_cube",
    "read_cave_scene",
    "read_cube",
    "verify_checksums",
    "write_cube",
]
