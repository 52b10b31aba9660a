"""numpy <-> torch plumbing for operators that accept either.

torch is imported only when a tensor is involved: an operator given numpy arrays takes its numpy
path (:func:`is_tensor` is False for every object while torch was never imported).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch


def is_tensor(x: Any) -> bool:
    """True for a ``torch.Tensor``, without importing torch (none exists before it is)."""
    torch_mod = sys.modules.get("torch")
    return torch_mod is not None and isinstance(x, torch_mod.Tensor)


def as_tensor(x) -> tuple[torch.Tensor, bool]:
    """Return ``(tensor, was_numpy)``; numpy input becomes a float tensor sharing memory."""
    import torch

    if isinstance(x, torch.Tensor):
        return x, False
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr)), True


def as_float_array(x) -> np.ndarray:
    """``x`` as a numpy floating array (integers become float32), as :func:`as_tensor` would."""
    arr = np.asarray(x)
    return arr if np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float32)


def back(t: torch.Tensor, was_numpy: bool):
    """Inverse of :func:`as_tensor` for the result."""
    return t.detach().cpu().numpy() if was_numpy else t
