"""Keys' cubic interpolation onto an integer-ratio HR grid, in numpy (no torch import).

Keys, "Cubic convolution interpolation for digital image processing", IEEE TASSP 29(6), 1981,
with ``a = -0.75`` (the value of OpenCV's ``INTER_CUBIC`` and of torch's ``bicubic`` modes):

    ``W(x) = (a + 2)|x|^3 - (a + 3)|x|^2 + 1``            for ``|x| <= 1``
    ``W(x) = a|x|^3 - 5a|x|^2 + 8a|x| - 4a``              for ``1 < |x| < 2``

HR pixel ``o`` reads the LR coordinate ``u = (o - shift) / r``: its four taps are
``floor(u) - 1 .. floor(u) + 2``, clamped to the LR border (edge replication). The separable
2-D interpolation runs along the columns first, then the rows, each tap sum in the order
``w0 x0 + w1 x1 + w2 x2 + w3 x3`` in float32 - the order of torch's CPU kernels, so results
agree with them to float32 rounding.

- ``shift = (r - 1) / 2``: half-pixel centres,
  ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`` = OpenCV
  (:func:`mossfuse.methods.bicubic.bicubic_upsample`);
- ``shift = phase``: LR sample ``i`` on HR pixel ``phase + r i``, the
  :mod:`mossfuse.physics.spatial` convention (``grid_sample(mode="bicubic",
  align_corners=True, padding_mode="border")`` on that grid,
  :func:`mossfuse.methods._linalg.upsample_cube`).
"""

from __future__ import annotations

import numpy as np

_A = -0.75


def cubic_taps(n_lr: int, n_hr: int, ratio: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """Tap indices ``(n_hr, 4)`` (clamped to ``[0, n_lr)``) and float32 weights ``(n_hr, 4)``
    of the HR pixels ``0 .. n_hr - 1`` (see module docstring)."""
    u = (np.arange(n_hr, dtype=np.float64) - shift) / ratio
    base = np.floor(u)
    t = (u - base)[:, None]
    d = np.abs(np.array([-1.0, 0.0, 1.0, 2.0])[None, :] - t)  # distances to the 4 taps
    near = ((_A + 2) * d - (_A + 3)) * d * d + 1
    far = ((_A * d - 5 * _A) * d + 8 * _A) * d - 4 * _A
    w = np.where(d <= 1, near, far).astype(np.float32)
    idx = np.clip(base[:, None].astype(np.int64) + np.arange(-1, 3)[None, :], 0, n_lr - 1)
    return idx, w


def _along(x: np.ndarray, idx: np.ndarray, w: np.ndarray, axis: int) -> np.ndarray:
    shape = [1] * x.ndim
    shape[axis] = -1
    out = np.take(x, idx[:, 0], axis=axis) * w[:, 0].reshape(shape)
    for k in (1, 2, 3):
        out += np.take(x, idx[:, k], axis=axis) * w[:, k].reshape(shape)
    return out


def cubic_upsample(cube: np.ndarray, ratio: int, shift: float) -> np.ndarray:
    """``(..., h, w)`` -> ``(..., r h, r w)`` float32 by Keys' cubic (see module docstring).

    >>> import numpy as np
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)
    >>> y = cubic_upsample(x, 2, 0.0)        # LR samples on the even HR pixels
    >>> bool(np.allclose(y[0, ::2, ::2], x[0])), y.shape
    (True, (1, 6, 8))
    """
    x = np.asarray(cube, dtype=np.float32)
    h, w = x.shape[-2:]
    r = int(ratio)
    cols = _along(x, *cubic_taps(w, r * w, r, shift), axis=x.ndim - 1)
    return _along(cols, *cubic_taps(h, r * h, r, shift), axis=x.ndim - 2)
