"""Fusion methods: one interface (:class:`FusionMethod`), one registry by name."""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "FusionMethod": "mossfuse.methods.base",
    "FusionResult": "mossfuse.methods.base",
    "MethodConfig": "mossfuse.methods.base",
    "TrainableMethod": "mossfuse.methods.base",
    "available_methods": "mossfuse.methods.base",
    "get_method": "mossfuse.methods.base",
    "load_method": "mossfuse.methods.base",
    "method_class": "mossfuse.methods.base",
    "method_summaries": "mossfuse.methods.base",
    "register_method": "mossfuse.methods.base",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "FusionMethod",
    "FusionResult",
    "MethodConfig",
    "TrainableMethod",
    "available_methods",
    "get_method",
    "load_method",
    "method_class",
    "method_summaries",
    "register_method",
]
