"""Fusing a user's own real scene: co-registration check and correction, blind degradation
estimation with plausibility warnings, no-reference and reduced-resolution quality, and an
offline HTML report (:func:`fuse_with_report`); input consistency checks (:mod:`.checks`)."""

from mossfuse.realscene.checks import (
    check_pair_geometry,
    check_pair_sizes,
    check_srf_metadata,
)
from mossfuse.realscene.coregistration import (
    ShiftEstimate,
    estimate_shift,
    register_pair,
    shift_between,
)
from mossfuse.realscene.report import fuse_with_report, largest_valid_rectangle

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
