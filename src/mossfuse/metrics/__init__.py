"""Quality metrics: full-reference functions, named profiles, no-reference QNR.

Use :func:`evaluate` with a profile name; the functions of :mod:`.full_reference` are the
building blocks, with every convention explicit in their arguments::

    from mossfuse.metrics import evaluate
    report = evaluate(fused, case.reference.cube, profile="mossfuse-paper", ratio=32)
    report.values      # {"psnr": ..., "ssim": ..., "sam": ..., "ergas": ...}
"""

from mossfuse.metrics.full_reference import (
    cc,
    cc_per_band,
    ergas,
    hypercomplex_product,
    psnr,
    psnr_per_band,
    q2n,
    q2n_map,
    q_index,
    rmse,
    sam,
    sam_map,
    ssim,
    uiqi,
)
from mossfuse.metrics.no_reference import d_lambda, d_s, degrade_msi, qnr, qnr_for_inputs
from mossfuse.metrics.profiles import (
    PROFILES,
    MetricProfile,
    MetricReport,
    evaluate,
    get_profile,
    register_profile,
)

__all__ = [
    "PROFILES", "MetricProfile", "MetricReport", "cc", "cc_per_band", "d_lambda", "d_s",
    "degrade_msi", "ergas", "evaluate", "get_profile", "hypercomplex_product", "psnr",
    "psnr_per_band", "q2n", "q2n_map", "q_index", "qnr", "qnr_for_inputs", "register_profile",
    "rmse", "sam", "sam_map", "ssim", "uiqi",
]
