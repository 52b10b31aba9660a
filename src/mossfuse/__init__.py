"""mossfuse: hyperspectral + multispectral image fusion.

The Python API (arrays channel-last by default, ``channel_axis`` as in scikit-image):

- :func:`fuse` (LR-HSI, HR-MSI arrays -> :class:`~mossfuse.methods.FusionResult`),
  :func:`fuse_files` (files -> file: what ``mossfuse fuse`` runs),
- :func:`evaluate` (metrics under a named profile), :func:`list_methods`,
- :func:`read_cube` / :func:`write_cube` (every supported format; a
  :class:`~mossfuse.data.scene.Scene` holds a ``(bands, H, W)`` cube).

Arrays inside the library are ``(bands, H, W)`` float32 in [0, 1] unless stated. Files on disk
store cubes as ``H x W x bands`` (the field's ``.mat`` habit); the readers and writers convert.
The names below are imported on first use, so ``import mossfuse`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mossfuse.errors import MossfuseError, MossfuseInputError

__version__ = "0.1.0"

_LAZY = {
    "fuse": "mossfuse.api",
    "evaluate": "mossfuse.api",
    "list_methods": "mossfuse.api",
    "fuse_files": "mossfuse.pipeline.fuse",
    "Tiling": "mossfuse.pipeline.fuse",
    "read_cube": "mossfuse.data.io",
    "write_cube": "mossfuse.data.io",
    "FusionResult": "mossfuse.methods.base",
}

__all__ = [
    "FusionResult", "MossfuseError", "MossfuseInputError", "Tiling", "__version__", "evaluate",
    "fuse", "fuse_files", "list_methods", "read_cube", "write_cube",
]

if TYPE_CHECKING:  # pragma: no cover
    from mossfuse.api import evaluate, fuse, list_methods
    from mossfuse.data.io import read_cube, write_cube
    from mossfuse.methods.base import FusionResult
    from mossfuse.pipeline.fuse import Tiling, fuse_files


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mossfuse' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
