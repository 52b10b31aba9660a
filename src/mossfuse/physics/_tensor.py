"""numpy <-> torch plumbing for operators that accept either."""

from __future__ import annotations

import numpy as np
import torch


def as_tensor(x) -> tuple[torch.Tensor, bool]:
    """Return ``(tensor, was_numpy)``; numpy input becomes a float tensor sharing memory."""
    if isinstance(x, torch.Tensor):
        return x, False
    arr = np.asarray(x)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(arr)), True


def back(t: torch.Tensor, was_numpy: bool):
    """Inverse of :func:`as_tensor` for the result."""
    return t.detach().cpu().numpy() if was_numpy else t
