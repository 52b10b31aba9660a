"""The ``daem-k0`` ... ``daem-k5`` protocols: the six real blur kernels of the DAEM degradation
family (Guo et al., CVPR 2023), used by the MossFuse paper's robustness test (appendix C).

Each kernel is 32 x 32 (``data``, sums to 1; ``param`` = [lambda1, lambda2, theta]: covariance
eigenvalues in px^2 and the rotation, with random multiplicative tap noise of about +-20 %),
centre at index 16, applied as a valid convolution at stride 32: sample centres ``32 k + 16``,
windows ``[32 k, 32 k + 32)``; SRF ``nikon_d700_nssr``; no noise.

The kernels are data, not code: they are read from ``psf/daem_kernels/{k}.mat`` under
``$MOSSFUSE_DAEM_KERNELS``, else ``$MOSSFUSE_SHARED_DATA/psf/daem_kernels``, else
``../shared/data/psf/daem_kernels`` relative to the working directory. The protocol records the
file it used.

This module only locates the kernel files; the protocols themselves are built by
:func:`mossfuse.physics.protocols.daem_protocol` (and found by name by
:func:`~mossfuse.physics.protocols.get_protocol`): importing it registers nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from mossfuse.errors import MossfuseInputError

DAEM_KERNEL_PARAMS = {  # [lambda1 px^2, lambda2 px^2, theta rad], from the data README
    0: (2.34, 7.49, 1.911), 1: (2.36, 12.34, 0.228), 2: (6.31, 3.34, 3.082),
    3: (7.95, 2.73, 2.237), 4: (11.17, 10.43, 2.469), 5: (28.0, 1.0, 3.521),
}


def daem_kernel_dir() -> Path:
    """Folder of the DAEM kernels (see module docstring for the search order)."""
    if os.environ.get("MOSSFUSE_DAEM_KERNELS"):
        return Path(os.environ["MOSSFUSE_DAEM_KERNELS"])
    shared = os.environ.get("MOSSFUSE_SHARED_DATA")
    base = Path(shared) if shared else Path("..") / "shared" / "data"
    return base / "psf" / "daem_kernels"


def daem_kernel_file(k: int, kernel_dir: str | Path | None = None) -> Path:
    """The resolved path of kernel ``{kernel_dir}/{k}.mat`` (default :func:`daem_kernel_dir`);
    raises :class:`MossfuseInputError` for an unknown ``k`` or a missing file."""
    if k not in DAEM_KERNEL_PARAMS:
        raise MossfuseInputError(f"DAEM kernels are numbered 0-5; got {k}")
    path = Path(kernel_dir) if kernel_dir is not None else daem_kernel_dir()
    file = (path / f"{k}.mat").resolve()
    if not file.exists():
        raise MossfuseInputError(
            "DAEM kernel not found; set MOSSFUSE_DAEM_KERNELS or MOSSFUSE_SHARED_DATA", file
        )
    return file
