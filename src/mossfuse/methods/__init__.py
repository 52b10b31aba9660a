"""Fusion methods: one interface (:class:`FusionMethod`), one registry by name."""

from mossfuse.methods.base import (
    FusionMethod,
    FusionResult,
    MethodConfig,
    TrainableMethod,
    available_methods,
    get_method,
    load_method,
    register_method,
)

__all__ = [
    "FusionMethod", "FusionResult", "MethodConfig", "TrainableMethod", "available_methods",
    "get_method", "load_method", "register_method",
]
