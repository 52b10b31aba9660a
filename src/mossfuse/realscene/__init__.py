"""Fusing a user's own real scene: co-registration check and correction, blind degradation
estimation with plausibility warnings, no-reference and reduced-resolution quality, and an
offline HTML report (:func:`fuse_with_report`); input consistency checks (:mod:`.checks`)."""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "check_pair_geometry": "mossfuse.realscene.checks",
    "check_pair_sizes": "mossfuse.realscene.checks",
    "check_srf_metadata": "mossfuse.realscene.checks",
    "ShiftEstimate": "mossfuse.realscene.coregistration",
    "estimate_shift": "mossfuse.realscene.coregistration",
    "register_pair": "mossfuse.realscene.coregistration",
    "shift_between": "mossfuse.realscene.coregistration",
    "fuse_with_report": "mossfuse.realscene.report",
    "largest_valid_rectangle": "mossfuse.realscene.report",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ShiftEstimate",
    "check_pair_geometry",
    "check_pair_sizes",
    "check_srf_metadata",
    "estimate_shift",
    "fuse_with_report",
    "largest_valid_rectangle",
    "register_pair",
    "shift_between",
]
