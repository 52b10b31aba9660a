"""mossfuse: hyperspectral + multispectral image fusion.

Arrays inside the library are ``(bands, H, W)`` float32 in [0, 1] unless stated. Files on disk
store cubes as ``H x W x bands`` (the field's ``.mat`` habit); the readers and writers in
:mod:`mossfuse.data` convert.
"""

from mossfuse.errors import MossfuseError, MossfuseInputError

__version__ = "0.1.0"

__all__ = ["MossfuseError", "MossfuseInputError", "__version__"]
