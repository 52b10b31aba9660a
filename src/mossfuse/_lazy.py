"""Lazy package exports (PEP 562): a package names what it exports and from which submodule,
and the submodule is imported on first access, so ``import mossfuse.<pkg>`` costs nothing
until a name is used (start-up of the CLI: ``mossfuse --help`` imports no torch, dask,
matplotlib, rasterio or scipy).

Usage in a package ``__init__``::

    from mossfuse._lazy import lazy_exports
    _EXPORTS = {"read_cube": "mossfuse.data.io", ...}
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
    __all__ = ["read_cube", ...]

Submodules of the package are also reachable as attributes (``mossfuse.physics.protocols``)
without an explicit import, as they were when the ``__init__`` imported them eagerly.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``.

    Args:
        package: the package's ``__name__``.
        exports: exported name -> absolute name of the module holding it.
    """
    table = dict(exports)

    def __getattr__(name: str) -> Any:  # noqa: N807
        mod_name = table.get(name)
        namespace = sys.modules[package].__dict__
        if mod_name is not None:
            value = getattr(importlib.import_module(mod_name, package), name)
            namespace[name] = value  # later look-ups are plain attribute reads
            return value
        if not name.startswith("__"):
            full = f"{package}.{name}"
            try:
                found = importlib.util.find_spec(full) is not None
            except (ImportError, ValueError):
                found = False
            if found:
                return importlib.import_module(full)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(sys.modules[package].__dict__) | set(table))

    return __getattr__, __dir__
