"""Large scenes: a memory budget that decides when to tile (:mod:`.budget`), tiled fusion
(:mod:`.tiling`), windowed I/O (:mod:`.streaming`), checkpoints
for resuming (:mod:`.checkpoint`) and Dask execution (:mod:`.distributed`).

>>> from mossfuse.engine import plan_tiles
>>> plan_tiles((1024, 1024), ratio=32, tile=512, overlap=128).grid_shape
(3, 3)
"""

from mossfuse.engine.budget import (
    TilePlanChoice,
    choose_tiling,
    default_memory_limit,
    estimate_whole_image_peak,
    parse_memory,
)
from mossfuse.engine.streaming import (
    ArrayReader,
    CubeReader,
    CubeWriter,
    StreamedInputs,
    hr_output_meta,
    open_reader,
    open_writer,
)
from mossfuse.engine.tiling import (
    SerialExecutor,
    Tile,
    TileBlender,
    TiledFusion,
    TiledReport,
    TilePlan,
    fuse_tiled,
    plan_tiles,
    resolve_tile_degradation,
)

__all__ = [
    "ArrayReader", "CubeReader", "CubeWriter", "SerialExecutor", "StreamedInputs", "Tile",
    "TileBlender", "TilePlan", "TilePlanChoice", "choose_tiling", "default_memory_limit",
    "estimate_whole_image_peak", "parse_memory", "TiledFusion", "TiledReport", "fuse_tiled",
    "hr_output_meta",
    "open_reader", "open_writer", "plan_tiles", "resolve_tile_degradation",
]
