"""What a result file records about where it came from: library versions, the commit, and
values made JSON-friendly. One list of packages, so the benchmark, the report and the demo
record the same provenance.

>>> sorted(library_versions())[:3]
['dask', 'git_commit', 'matplotlib']
>>> jsonable({"a": np.float32(0.5), 2: (np.arange(2), None)})
{'a': 0.5, '2': [[0, 1], None]}
"""

from __future__ import annotations

import functools
import platform
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PACKAGES", "json_default", "jsonable", "library_versions"]

#: The distributions whose versions every result records.
PACKAGES = ("mossfuse", "numpy", "scipy", "torch", "scikit-image", "matplotlib", "rasterio",
            "dask", "safetensors")


@functools.lru_cache(maxsize=1)
def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
            cwd=Path(__file__).resolve().parent, timeout=5,
        ).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001 - provenance is informative only
        return "unknown"


def library_versions() -> dict[str, str]:
    """``{"python": ..., <package>: version | "not installed", "git_commit": ...}``; the
    packages are :data:`PACKAGES` (read from the installed metadata, nothing is imported)."""
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    out["git_commit"] = _git_commit()
    return out


def json_default(o: Any) -> Any:
    """``json.dumps(default=...)`` for NumPy arrays and scalars."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(type(o).__name__)


def jsonable(x: Any) -> Any:
    """``x`` with mappings, sequences, arrays and NumPy scalars converted for JSON (keys as
    strings; anything else as its ``str``)."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer, np.bool_)):
        return x.item()
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)
