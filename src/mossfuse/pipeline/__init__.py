"""The fuse pipeline: file pair -> checks -> degradation -> fusion (whole, tiled or with a
report) -> atomic write. :func:`fuse_files` is what ``mossfuse fuse`` calls."""

from mossfuse.pipeline.fuse import FuseOutcome, Tiling, fuse_files, load_fusion_method
from mossfuse.pipeline.outputs import check_output_path
from mossfuse.pipeline.pair import FilePair, read_pair

__all__ = [
    "FilePair", "FuseOutcome", "Tiling", "check_output_path", "fuse_files",
    "load_fusion_method", "read_pair",
]
