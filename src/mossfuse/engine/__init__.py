"""Large scenes: a memory budget that decides when to tile (:mod:`.budget`), tiled fusion
(:mod:`.tiling`), windowed I/O (:mod:`.streaming`), checkpoints
for resuming (:mod:`.checkpoint`) and Dask execution (:mod:`.distributed`).

>>> from mossfuse.engine import plan_tiles
>>> plan_tiles((1024, 1024), ratio=32, tile=512, overlap=128).grid_shape
(3, 3)
"""

from __future__ import annotations

from mossfuse._lazy import lazy_exports

_EXPORTS = {
    "TilePlanChoice": "mossfuse.engine.budget",
    "choose_tiling": "mossfuse.engine.budget",
    "default_memory_limit": "mossfuse.engine.budget",
    "estimate_whole_image_peak": "mossfuse.engine.budget",
    "parse_memory": "mossfuse.engine.budget",
    "ArrayReader": "mossfuse.engine.streaming",
    "CubeReader": "mossfuse.engine.streaming",
    "CubeWriter": "mossfuse.engine.streaming",
    "StreamedInputs": "mossfuse.engine.streaming",
    "hr_output_meta": "mossfuse.engine.streaming",
    "open_reader": "mossfuse.engine.streaming",
    "open_writer": "mossfuse.engine.streaming",
    "SerialExecutor": "mossfuse.engine.tiling",
    "Tile": "mossfuse.engine.tiling",
    "TileBlender": "mossfuse.engine.tiling",
    "TiledFusion": "mossfuse.engine.tiling",
    "TiledReport": "mossfuse.engine.tiling",
    "TilePlan": "mossfuse.engine.tiling",
    "fuse_tiled": "mossfuse.engine.tiling",
    "plan_tiles": "mossfuse.engine.tiling",
    "resolve_tile_degradation": "mossfuse.engine.tiling",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "ArrayReader",
    "CubeReader",
    "CubeWriter",
    "SerialExecutor",
    "StreamedInputs",
    "Tile",
    "TileBlender",
    "TilePlan",
    "TiledFusion",
    "TiledReport",
    "fuse_tiled",
    "hr_output_meta",
    "open_reader",
    "open_writer",
    "plan_tiles",
    "resolve_tile_degradation",
    "TilePlanChoice",
    "choose_tiling",
    "default_memory_limit",
    "estimate_whole_image_peak",
    "parse_memory",
]
