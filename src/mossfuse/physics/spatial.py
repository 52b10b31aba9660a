"""Spatial degradation: blur by a PSF, then keep every r-th pixel at an explicit phase.

Convention
----------
Arrays are ``(..., bands, H, W)``. LR sample ``i`` (rows; likewise columns) sits on HR pixel
``phase + r * i``; the kernel tap ``centre`` lands on that pixel, so the sample reads the HR
window ``[phase + r*i - centre, phase + r*i - centre + size)``. The kernel is applied as a
*correlation* (``torch.nn.functional.conv2d``, ``scipy.ndimage.correlate``); for point-symmetric
kernels (every Gaussian) that equals convolution. The number of LR samples is
``h = (H - 1 - phase) // r + 1``, i.e. ``H / r`` when ``H`` is a multiple of ``r``.

``padding="valid"`` uses only pixels inside the image and raises when a window would leave it:
this is the ``mossfuse-x32`` geometry (31-tap kernel, centre 15, phase 15, r = 32: windows
``[32 i, 32 i + 31)``), with no border handling at all. ``"reflect"``, ``"replicate"`` and
``"circular"`` pad the HR image first (torch's padding modes) for kernels that do not fit.

The adjoint maps an LR cube back to the HR grid (``conv_transpose2d`` for ``valid``, a
vector-Jacobian product for padded modes); ``<A x, y> == <x, A^T y>`` is tested.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from mossfuse.errors import MossfuseInputError
from mossfuse.physics._tensor import as_float_array, as_tensor, back, is_tensor
from mossfuse.physics.psf import default_centre

if TYPE_CHECKING:
    import torch


Padding = Literal["valid", "reflect", "replicate", "circular"]


def lr_size(hr: int, ratio: int, phase: int) -> int:
    """Number of LR samples along an HR axis of ``hr`` pixels."""
    return (hr - 1 - phase) // ratio + 1


def _geometry(hr: int, size: int, centre: int, ratio: int, phase: int) -> tuple[int, int, int]:
    """(n_lr, pad_before, pad_after) along one axis."""
    if not 0 <= phase < ratio:
        raise MossfuseInputError(f"sampling phase must be in [0, {ratio}); got {phase}")
    n = lr_size(hr, ratio, phase)
    first = phase - centre
    last_end = phase + ratio * (n - 1) - centre + size
    return n, max(0, -first), max(0, last_end - hr)


def _flatten(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, tuple[int, ...]]:
    if x.ndim < 2:
        raise MossfuseInputError(f"expected (..., H, W); got shape {tuple(x.shape)}")
    lead = tuple(x.shape[:-2])
    return x.reshape(-1, 1, *x.shape[-2:]), lead


def _kernel_tensor(kernel, like: torch.Tensor) -> torch.Tensor:
    import torch

    k = torch.as_tensor(kernel, device=like.device)
    if k.ndim != 2:
        raise MossfuseInputError(f"kernel must be 2-D; got shape {tuple(k.shape)}")
    return k.to(like.dtype)[None, None]


def _centre(kernel_shape, centre) -> tuple[int, int]:
    if centre is None:
        return default_centre(kernel_shape[-2]), default_centre(kernel_shape[-1])
    return (centre, centre) if isinstance(centre, int) else tuple(centre)


def spatial_degrade(
    x,
    kernel,
    ratio: int,
    phase: int | tuple[int, int],
    *,
    centre: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
):
    """Blur ``x`` with ``kernel`` and sample every ``ratio``-th pixel from ``phase``.

    Args:
        x: ``(..., H, W)`` numpy array or tensor (differentiable w.r.t. ``x`` and ``kernel``).
        kernel: ``(k_y, k_x)`` PSF (numpy or tensor; a tensor keeps its gradient).
        ratio: decimation factor r (>= 1).
        phase: HR index of the first LR sample (per axis or one for both), in ``[0, r)``.
        centre: centre tap of the kernel; default :func:`~mossfuse.physics.psf.default_centre`.
        padding: ``"valid"`` (no border handling; error if a window leaves the image) or a
            torch padding mode.

    Returns:
        ``(..., h, w)``, same type as ``x``.

    >>> import numpy as np
    >>> from mossfuse.physics.psf import gaussian_kernel
    >>> spatial_degrade(np.ones((31, 512, 512), np.float32), gaussian_kernel(31, 2.0), 32, 15).shape
    (31, 16, 16)
    """
    if not (is_tensor(x) or is_tensor(kernel)):
        return _spatial_degrade_numpy(x, kernel, ratio, phase, centre, padding)
    import torch.nn.functional as F  # noqa: N812

    xt, was_np = as_tensor(x)
    flat, lead = _flatten(xt)
    k = _kernel_tensor(kernel, flat)
    cy, cx = _centre(k.shape, centre)
    py, px = (phase, phase) if isinstance(phase, int) else phase
    H, W = flat.shape[-2:]
    hy, by, ay = _geometry(H, k.shape[-2], cy, ratio, py)
    hx, bx, ax = _geometry(W, k.shape[-1], cx, ratio, px)
    if padding == "valid":
        _check_valid((by, ay, bx, ax), tuple(k.shape[-2:]), (cy, cx), (py, px), ratio, (H, W))
    else:
        flat = F.pad(flat, (bx, ax, by, ay), mode=padding)
    oy, ox = py - cy + by, px - cx + bx
    out = F.conv2d(flat[..., oy:, ox:], k, stride=ratio)[..., :hy, :hx]
    return back(out.reshape(*lead, hy, hx), was_np)


def _check_valid(pads, kshape, centre, phase, ratio, hw) -> None:
    if any(pads):
        raise MossfuseInputError(
            f"a {tuple(kshape)} kernel with centre {tuple(centre)} at phase {tuple(phase)} and "
            f"ratio {ratio} reads outside a {hw[0]} x {hw[1]} image; crop the image, or use a "
            "padded mode (padding='reflect')"
        )


#: numpy names of torch's padding modes
_NP_PAD = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def hr_windows(
    x: np.ndarray,
    kernel_shape: tuple[int, int],
    ratio: int,
    phase: int | tuple[int, int],
    *,
    centre: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
) -> np.ndarray:
    """The HR windows every LR sample reads, as a strided view (no copy for ``valid``).

    Returns ``(..., h, w, k_y, k_x)``: ``spatial_degrade(x, k, ...)[..., i, j] ==
    (hr_windows(x, k.shape, ...)[..., i, j] * k).sum()`` (the correlation of the module
    Convention). Callers that apply many kernels to the same image gather the windows once.
    """
    xa = as_float_array(x)
    if xa.ndim < 2:
        raise MossfuseInputError(f"expected (..., H, W); got shape {tuple(xa.shape)}")
    ky, kx = (int(n) for n in kernel_shape)
    cy, cx = _centre((ky, kx), centre)
    py, px = (phase, phase) if isinstance(phase, int) else phase
    H, W = xa.shape[-2:]
    hy, by, ay = _geometry(H, ky, cy, ratio, py)
    hx, bx, ax = _geometry(W, kx, cx, ratio, px)
    if padding == "valid":
        _check_valid((by, ay, bx, ax), (ky, kx), (cy, cx), (py, px), ratio, (H, W))
    else:
        pad = [(0, 0)] * (xa.ndim - 2) + [(by, ay), (bx, ax)]
        xa = np.pad(xa, pad, mode=_NP_PAD[padding])
    oy, ox = py - cy + by, px - cx + bx
    view = np.lib.stride_tricks.sliding_window_view(xa[..., oy:, ox:], (ky, kx), axis=(-2, -1))
    return view[..., ::ratio, ::ratio, :, :][..., :hy, :hx, :, :]


def _spatial_degrade_numpy(x, kernel, ratio, phase, centre, padding) -> np.ndarray:
    """numpy path of :func:`spatial_degrade` (numpy in, numpy out; no torch import)."""
    xa = as_float_array(x)
    k = np.asarray(kernel)
    if k.ndim != 2:
        raise MossfuseInputError(f"kernel must be 2-D; got shape {tuple(k.shape)}")
    win = hr_windows(xa, k.shape, ratio, phase, centre=centre, padding=padding)
    return np.einsum("...ijab,ab->...ij", win, k.astype(xa.dtype, copy=False))


def spatial_degrade_adjoint(
    y,
    kernel,
    ratio: int,
    phase: int | tuple[int, int],
    hr_shape: tuple[int, int],
    *,
    centre: int | tuple[int, int] | None = None,
    padding: Padding = "valid",
):
    """Adjoint of :func:`spatial_degrade`: ``(..., h, w)`` -> ``(..., H, W)`` (computed by torch,
    for numpy input too)."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    yt, was_np = as_tensor(y)
    H, W = hr_shape
    if padding != "valid":
        lead = tuple(yt.shape[:-2])
        zero = torch.zeros(*lead, H, W, dtype=yt.dtype, device=yt.device)
        _, vjp = torch.func.vjp(
            lambda v: spatial_degrade(v, kernel, ratio, phase, centre=centre, padding=padding),
            zero,
        )
        return back(vjp(yt)[0], was_np)
    flat, lead = _flatten(yt)
    k = _kernel_tensor(kernel, flat)
    cy, cx = _centre(k.shape, centre)
    py, px = (phase, phase) if isinstance(phase, int) else phase
    hy, by, ay = _geometry(H, k.shape[-2], cy, ratio, py)
    hx, bx, ax = _geometry(W, k.shape[-1], cx, ratio, px)
    if (hy, hx) != tuple(flat.shape[-2:]) or by or ay or bx or ax:
        raise MossfuseInputError(
            f"LR shape {tuple(flat.shape[-2:])} does not match HR shape {hr_shape} at ratio "
            f"{ratio}, phase {(py, px)} with a {tuple(k.shape[-2:])} kernel (valid geometry)"
        )
    up = F.conv_transpose2d(flat, k, stride=ratio)
    out = flat.new_zeros(flat.shape[0], 1, H, W)
    oy, ox = py - cy, px - cx
    out[..., oy : oy + up.shape[-2], ox : ox + up.shape[-1]] = up
    return back(out.reshape(*lead, H, W), was_np)


def __getattr__(name: str) -> Any:
    """:class:`SpatialDegradation` (a ``torch.nn.Module``) lives in
    :mod:`mossfuse.physics._spatial_module` and is imported, with torch, on first use."""
    if name == "SpatialDegradation":
        from mossfuse.physics._spatial_module import SpatialDegradation

        return SpatialDegradation
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
