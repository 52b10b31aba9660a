"""Point spread functions (blur kernels).

Convention
----------
A kernel is a 2-D array ``(size_y, size_x)`` that sums to 1. Its *centre* is an explicit integer
index ``(cy, cx)``: the tap that sits on the sampled pixel. For an odd size the default centre is
the middle tap; for an even size there is no middle and the default is ``size // 2`` (the DAEM
kernels: 32 x 32, centre 16). Gaussian taps are evaluated at integer offsets from the centre,
``exp(-0.5 * d^T P d)`` with ``P`` the precision matrix, then normalised to sum 1 (no
integration over the pixel area). With ``P = I / sigma^2`` this is the separable isotropic
Gaussian of the ``mossfuse-x32`` protocol (1-D taps ``exp(-(i-15)^2 / (2 sigma^2))``).

The anisotropic form follows the MossFuse paper (Sec. 3.5): the covariance has eigenvalues
``lambda1, lambda2`` (px^2) and is rotated by ``theta`` (radians); equivalently the precision is
``M^T M`` for a lower-triangular 2 x 2 factor ``M`` (3 degrees of freedom). Offsets ``d`` are
``(dx, dy)`` = (column, row) offsets, as in the DAEM kernel family.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mossfuse.errors import MossfuseInputError

if TYPE_CHECKING:
    import torch


def default_centre(size: int) -> int:
    """Centre tap of a 1-D kernel of ``size`` taps: ``(size - 1) // 2`` when odd, ``size // 2``
    when even (the DAEM convention)."""
    return (size - 1) // 2 if size % 2 else size // 2


def _check_size(size: int | tuple[int, int]) -> tuple[int, int]:
    sy, sx = (size, size) if isinstance(size, int) else tuple(size)
    if sy < 1 or sx < 1:
        raise MossfuseInputError(f"kernel size must be >= 1; got {(sy, sx)}")
    return int(sy), int(sx)


def covariance_from_eigen(lambda1: float, lambda2: float, theta: float) -> np.ndarray:
    """2 x 2 covariance ``R(theta) diag(lambda1, lambda2) R(theta)^T`` in px^2 (x, y order)."""
    if lambda1 <= 0 or lambda2 <= 0:
        raise MossfuseInputError(f"covariance eigenvalues must be > 0; got {lambda1}, {lambda2}")
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    return rot @ np.diag([lambda1, lambda2]) @ rot.T


def gaussian_kernel_from_precision(
    precision: torch.Tensor | np.ndarray,
    size: int | tuple[int, int],
    centre: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Gaussian kernel with a given 2 x 2 precision matrix (x, y order), differentiable.

    Args:
        precision: ``(2, 2)`` symmetric positive definite, in 1/px^2.
        size: kernel size ``n`` or ``(n_y, n_x)``.
        centre: ``(cy, cx)`` tap index of the centre; default :func:`default_centre`.

    Returns:
        ``(n_y, n_x)`` tensor summing to 1 (float64 if ``precision`` is float64, else float32).
    """
    import torch

    sy, sx = _check_size(size)
    cy, cx = centre if centre is not None else (default_centre(sy), default_centre(sx))
    prec = torch.as_tensor(precision)
    if not prec.is_floating_point():
        prec = prec.double()
    dy = torch.arange(sy, dtype=prec.dtype, device=prec.device) - cy
    dx = torch.arange(sx, dtype=prec.dtype, device=prec.device) - cx
    gy, gx = torch.meshgrid(dy, dx, indexing="ij")
    quad = prec[0, 0] * gx * gx + 2 * prec[0, 1] * gx * gy + prec[1, 1] * gy * gy
    taps = torch.exp(-0.5 * quad)
    return taps / taps.sum()


def gaussian_kernel(
    size: int | tuple[int, int],
    sigma: float | None = None,
    *,
    lambdas: tuple[float, float] | None = None,
    theta: float = 0.0,
    centre: tuple[int, int] | None = None,
) -> np.ndarray:
    """Isotropic (``sigma``, px) or anisotropic (``lambdas`` px^2, ``theta`` rad) Gaussian kernel.

    >>> k = gaussian_kernel(31, sigma=2.0)
    >>> k.shape, round(float(k.sum()), 6)
    ((31, 31), 1.0)
    """
    if (sigma is None) == (lambdas is None):
        raise MossfuseInputError("give exactly one of sigma or lambdas")
    if sigma is not None:
        if sigma <= 0:
            raise MossfuseInputError(f"sigma must be > 0 px; got {sigma}")
        cov = np.eye(2) * sigma**2
    else:
        cov = covariance_from_eigen(lambdas[0], lambdas[1], theta)
    return _gaussian_taps(np.linalg.inv(cov), size, centre).astype(np.float32)


def _gaussian_taps(
    precision: np.ndarray, size: int | tuple[int, int], centre: tuple[int, int] | None
) -> np.ndarray:
    """numpy twin of :func:`gaussian_kernel_from_precision` (float64, no torch)."""
    sy, sx = _check_size(size)
    cy, cx = centre if centre is not None else (default_centre(sy), default_centre(sx))
    prec = np.asarray(precision, dtype=np.float64)
    gy, gx = np.meshgrid(np.arange(sy, dtype=np.float64) - cy,
                         np.arange(sx, dtype=np.float64) - cx, indexing="ij")
    quad = prec[0, 0] * gx * gx + 2 * prec[0, 1] * gx * gy + prec[1, 1] * gy * gy
    taps = np.exp(-0.5 * quad)
    return taps / taps.sum()


@dataclass(frozen=True)
class GaussianPSF:
    """Serialisable description of a Gaussian PSF.

    Attributes:
        size: kernel size (taps per side).
        sigma: isotropic standard deviation in px (used when ``lambdas`` is None).
        lambdas: covariance eigenvalues in px^2 for the anisotropic form.
        theta: rotation of the first eigenvector in radians.
        centre: centre tap index; None = :func:`default_centre`.
    """

    size: int
    sigma: float | None = None
    lambdas: tuple[float, float] | None = None
    theta: float = 0.0
    centre: int | None = None

    def kernel(self) -> np.ndarray:
        c = None if self.centre is None else (self.centre, self.centre)
        return gaussian_kernel(
            self.size, self.sigma, lambdas=self.lambdas, theta=self.theta, centre=c
        )

    @property
    def centre_index(self) -> int:
        return default_centre(self.size) if self.centre is None else self.centre


def kernel_moments(kernel: np.ndarray, centre: tuple[int, int] | None = None) -> dict:
    """Second moments of a kernel about ``centre``: covariance (px^2, x/y order), its
    eigenvalues, the equivalent isotropic sigma ``sqrt(mean eigenvalue)`` and the mean offset."""
    k = np.asarray(kernel, dtype=np.float64)
    k = k / k.sum()
    sy, sx = k.shape
    cy, cx = centre if centre is not None else (default_centre(sy), default_centre(sx))
    gy, gx = np.meshgrid(np.arange(sy) - cy, np.arange(sx) - cx, indexing="ij")
    mx, my = float((k * gx).sum()), float((k * gy).sum())
    cxx = float((k * (gx - mx) ** 2).sum())
    cyy = float((k * (gy - my) ** 2).sum())
    cxy = float((k * (gx - mx) * (gy - my)).sum())
    cov = np.array([[cxx, cxy], [cxy, cyy]])
    eig = np.linalg.eigvalsh(cov)
    return {
        "covariance": cov,
        "eigenvalues": eig,
        "sigma": float(np.sqrt(eig.mean())),
        "mean_offset": (mx, my),
    }
