"""Figures shared by the demo, the benchmark, the fuse report and the analyses.

:mod:`.colour` (sRGB renderings of cubes and camera images), :mod:`.images` (error maps and
comparison panels), :mod:`.spectra` (spectra at pixels), :mod:`.degradation` (SRF/PSF
estimated vs true), :mod:`.curves` (learning curves), :mod:`.canvas` (the Agg figure and its
atomic save). matplotlib and colour-science are imported only when a figure is drawn.
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "new_figure": "mossfuse.viz.canvas",
    "save_figure": "mossfuse.viz.canvas",
    "hsi_rgb_gain": "mossfuse.viz.colour",
    "hsi_to_linear_rgb": "mossfuse.viz.colour",
    "hsi_to_rgb": "mossfuse.viz.colour",
    "msi_to_rgb": "mossfuse.viz.colour",
    "rgb_gain": "mossfuse.viz.colour",
    "srgb_encode": "mossfuse.viz.colour",
    "save_learning_curves": "mossfuse.viz.curves",
    "save_srf_psf_figure": "mossfuse.viz.degradation",
    "nearest_upsample": "mossfuse.viz.images",
    "rmse_map": "mossfuse.viz.images",
    "sam_map": "mossfuse.viz.images",
    "save_comparison_figure": "mossfuse.viz.images",
    "save_spectra_figure": "mossfuse.viz.spectra",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
