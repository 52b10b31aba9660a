"""SCALMU: unrolled coupled NMF with learned adaptive multiplicative updates, trained on
synthetic dead-leaves pairs only (see ``docs/scalmu.md``)."""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "Scalmu": "mossfuse.methods.scalmu.method",
    "ScalmuConfig": "mossfuse.methods.scalmu.method",
    "shipped_weights": "mossfuse.methods.scalmu.method",
    "ScalmuNet": "mossfuse.methods.scalmu.network",
    "ScalmuOutput": "mossfuse.methods.scalmu.network",
    "make_problem": "mossfuse.methods.scalmu.network",
    "run_scalmu": "mossfuse.methods.scalmu.network",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "Scalmu",
    "ScalmuConfig",
    "ScalmuNet",
    "ScalmuOutput",
    "make_problem",
    "run_scalmu",
    "shipped_weights",
]
