"""The fuse pipeline: file pair -> checks -> degradation -> fusion (whole, tiled or with a
report) -> atomic write. :func:`fuse_files` is what ``mossfuse fuse`` calls.

Also here: input consistency checks (:mod:`.checks`), co-registration check and correction
(:mod:`.coregistration`), and fusing a user's own real scene with no-data handling, blind
degradation estimation with plausibility warnings, no-reference and reduced-resolution quality
and an offline HTML report (:func:`fuse_with_report`, :mod:`.report`).
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "FuseOutcome": "mossfuse.pipeline.fuse",
    "Tiling": "mossfuse.pipeline.fuse",
    "fuse_files": "mossfuse.pipeline.fuse",
    "load_fusion_method": "mossfuse.pipeline.fuse",
    "check_output_path": "mossfuse.pipeline.outputs",
    "FilePair": "mossfuse.pipeline.pair",
    "read_pair": "mossfuse.pipeline.pair",
    "check_pair_geometry": "mossfuse.pipeline.checks",
    "check_pair_sizes": "mossfuse.pipeline.checks",
    "check_srf_metadata": "mossfuse.pipeline.checks",
    "ShiftEstimate": "mossfuse.pipeline.coregistration",
    "estimate_shift": "mossfuse.pipeline.coregistration",
    "register_pair": "mossfuse.pipeline.coregistration",
    "shift_between": "mossfuse.pipeline.coregistration",
    "fuse_with_report": "mossfuse.pipeline.report",
    "largest_valid_rectangle": "mossfuse.pipeline.report",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "FilePair",
    "FuseOutcome",
    "ShiftEstimate",
    "Tiling",
    "check_output_path",
    "check_pair_geometry",
    "check_pair_sizes",
    "check_srf_metadata",
    "estimate_shift",
    "fuse_files",
    "fuse_with_report",
    "largest_valid_rectangle",
    "load_fusion_method",
    "read_pair",
    "register_pair",
    "shift_between",
]
