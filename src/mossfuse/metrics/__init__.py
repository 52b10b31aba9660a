"""Quality metrics: full-reference functions, named profiles, no-reference QNR.

Use :func:`evaluate` with a profile name; the functions of :mod:`.full_reference` are the
building blocks, with every convention explicit in their arguments::

    from mossfuse.metrics import evaluate
    report = evaluate(fused, case.reference.cube, profile="mossfuse-paper", ratio=32)
    report.values      # {"psnr": ..., "ssim": ..., "sam": ..., "ergas": ...}
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "cc": "mossfuse.metrics.full_reference",
    "cc_per_band": "mossfuse.metrics.full_reference",
    "ergas": "mossfuse.metrics.full_reference",
    "hypercomplex_product": "mossfuse.metrics.full_reference",
    "psnr": "mossfuse.metrics.full_reference",
    "psnr_per_band": "mossfuse.metrics.full_reference",
    "q2n": "mossfuse.metrics.full_reference",
    "q2n_map": "mossfuse.metrics.full_reference",
    "q_index": "mossfuse.metrics.full_reference",
    "rmse": "mossfuse.metrics.full_reference",
    "sam": "mossfuse.metrics.full_reference",
    "sam_map": "mossfuse.metrics.full_reference",
    "ssim": "mossfuse.metrics.full_reference",
    "uiqi": "mossfuse.metrics.full_reference",
    "d_lambda": "mossfuse.metrics.no_reference",
    "d_s": "mossfuse.metrics.no_reference",
    "degrade_msi": "mossfuse.metrics.no_reference",
    "qnr": "mossfuse.metrics.no_reference",
    "qnr_for_inputs": "mossfuse.metrics.no_reference",
    "PROFILES": "mossfuse.metrics.profiles",
    "MetricProfile": "mossfuse.metrics.profiles",
    "MetricReport": "mossfuse.metrics.profiles",
    "evaluate": "mossfuse.metrics.profiles",
    "get_profile": "mossfuse.metrics.profiles",
    "register_profile": "mossfuse.metrics.profiles",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "MetricProfile",
    "MetricReport",
    "PROFILES",
    "cc",
    "cc_per_band",
    "d_lambda",
    "d_s",
    "degrade_msi",
    "ergas",
    "evaluate",
    "get_profile",
    "hypercomplex_product",
    "psnr",
    "psnr_per_band",
    "q2n",
    "q2n_map",
    "q_index",
    "qnr",
    "qnr_for_inputs",
    "register_profile",
    "rmse",
    "sam",
    "sam_map",
    "ssim",
    "uiqi",
]
