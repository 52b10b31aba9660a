"""Tiled fusion: any method, any scene size, tile by tile, with smooth blending of overlaps.

The HR grid is cut into overlapping tiles whose sides and overlaps are multiples of the ratio
``r`` and that start on LR sample boundaries, so each tile is an exact sub-problem: the same
method on the same kind of :class:`~mossfuse.data.scene.FusionInputs`, only smaller. Tiles are
fused independently (in this process, or on a Dask cluster: :mod:`mossfuse.engine.distributed`),
weighted by a separable raised-cosine window over the overlaps and normalised by the summed
weights. Output regions are written (:mod:`mossfuse.engine.streaming`) as soon as every tile
covering them has arrived, so the memory held is one tile per worker plus the overlap strips
still waiting for their second tile, never the scene.

The degradation (PSF, SRF, phase) is settled **once per scene** before any tile runs: known
values are passed on; for a blind method it is estimated on a central crop
(:func:`resolve_tile_degradation`) and that one
:class:`~mossfuse.physics.degradation.Degradation` goes into every tile's ``FusionInputs``, so
no tile re-estimates it (and all tiles use the same one).

Convention
----------
- Axes ``(bands, H, W)``; windows are half-open ``[start, stop)``.
- A tile covers LR samples ``[a0, a1) x [b0, b1)`` and HR pixels ``[r a0, r a1) x [r b0, r b1)``.
  With the sampling geometry of :mod:`mossfuse.physics.spatial` (LR sample ``i`` on HR pixel
  ``phase + r i``, kernel centre on it) sample ``a0`` sits on local HR pixel ``phase`` of the
  tile: the tile has the scene's ``phase`` and ``psf_centre``, and for a ``valid`` kernel that
  fits one cell (``mossfuse-x32``: windows ``[32 i, 32 i + 31)``) the tile's LR samples are
  exactly the degradation of the tile's HR pixels. Tile sides and overlaps are therefore given
  in HR pixels and must be multiples of ``r``.
- Tiles along an axis: ``n = ceil((N - T) / (T - O)) + 1`` tiles of ``T`` pixels whose starts
  are spread evenly over ``[0, N - T]`` on the LR grid, so neighbours overlap by ``O`` or more
  (at most ``T - 1`` px); a scene smaller than ``T`` is one tile.
- Blending weight of a tile: ``w(y, x) = w_y(y) w_x(x)``; along an axis ``w = 1`` except over
  an overlap of ``n`` pixels with a neighbour, where it ramps
  ``sin^2(pi/2 * clip((x + 0.5 - m) / (n - 2 m), 0, 1))`` (raised cosine) from the tile edge
  inwards, floored at ``1e-6`` so it is strictly positive. ``m`` (``margin``) pixels at each
  overlapping edge get (almost) no weight: use it for methods whose output is wrong near an
  image border (bicubic clamps 1.5 LR samples, ``1.5 r`` HR px). Two neighbours' ramps sum to
  exactly 1 (``sin^2 + cos^2``); the sum of weights is divided out anyway. Pixels covered by a
  single tile take its values unchanged, and the scene's own borders are never tapered.
- Why tiles are exact: a ``valid`` geometry that fits the whole scene has every PSF window
  inside its own ``r``-cell (first window start ``phase - centre >= 0``, last end
  ``<= r h``), so cutting on cell boundaries cuts no window. With a padded mode (``reflect``
  ...) a tile's border cells are modelled with padding the scene does not have there.

Known limitations
-----------------
- Methods with image-wide statistics fit them per tile (GSA's regressions and gains, the
  CNMF/HySure subspaces): the tiled result is a locally adapted estimate, not the whole-image
  one. On a 512 x 384 dead-leaves scene at ``wald-x8`` with 256 px tiles, tiled GSA differs
  from whole-image GSA by at most 0.08 (mean 1.7e-3) at equal PSNR (30.31 vs 30.30 dB); with
  128 px tiles (16 x 16 LR samples per regression) by up to 0.25.
- A blind degradation is estimated on one central crop (``crop_lr`` LR samples a side).

>>> import numpy as np
>>> from mossfuse.data.scene import FusionInputs
>>> from mossfuse.methods import get_method
>>> rng = np.random.default_rng(0)
>>> inputs = FusionInputs(rng.random((31, 16, 16), dtype=np.float32),
...                       rng.random((3, 128, 128), dtype=np.float32), ratio=8)
>>> plan = plan_tiles((128, 128), ratio=8, tile=64, overlap=16)
>>> len(plan), plan[1].hr_cols
(9, (32, 96))
>>> fuse_tiled(get_method("bicubic"), inputs, tile=64, overlap=16).shape
(31, 128, 128)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, overload

import numpy as np

from mossfuse.data.scene import FusionInputs
from mossfuse.engine.streaming import ArrayWriter, CubeWriter, StreamedInputs, Window
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.base import FusionMethod
from mossfuse.physics.degradation import Degradation

__all__ = [
    "SerialExecutor",
    "Tile",
    "TileBlender",
    "TileExecutor",
    "TilePlan",
    "TiledFusion",
    "TiledReport",
    "blend_weights",
    "default_margin",
    "default_overlap",
    "default_tile",
    "fuse_tile",
    "fuse_tiled",
    "method_uses_degradation",
    "plan_tiles",
    "estimate_scene_degradation",
    "resolve_tile_degradation",
]

_WEIGHT_FLOOR = 1e-6


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tile:
    """One tile: LR samples ``[lr_rows) x [lr_cols)``, HR pixels ``r`` times those.

    Attributes:
        index: position in the plan (row-major).
        grid: ``(row, col)`` of the tile in the tile grid.
        lr_rows, lr_cols: half-open LR sample windows.
        ratio: r.
    """

    index: int
    grid: tuple[int, int]
    lr_rows: Window
    lr_cols: Window
    ratio: int

    @property
    def hr_rows(self) -> Window:
        return self.ratio * self.lr_rows[0], self.ratio * self.lr_rows[1]

    @property
    def hr_cols(self) -> Window:
        return self.ratio * self.lr_cols[0], self.ratio * self.lr_cols[1]

    @property
    def hr_shape(self) -> tuple[int, int]:
        return self.hr_rows[1] - self.hr_rows[0], self.hr_cols[1] - self.hr_cols[0]


def _axis_starts(n: int, t: int, o: int) -> list[int]:
    """Starts (LR samples) of tiles of ``t`` samples overlapping by >= ``o`` on ``[0, n)``."""
    if t >= n:
        return [0]
    s = t - o
    count = math.ceil((n - t) / s) + 1
    span = n - t
    return [(k * span + (count - 1) // 2) // (count - 1) for k in range(count)]


def _ramp(n: int, margin: int) -> np.ndarray:
    """Rising raised-cosine over ``n`` px, ~0 over the first ``margin`` (module Convention)."""
    x = np.arange(n, dtype=np.float64) + 0.5
    u = np.clip((x - margin) / max(n - 2 * margin, 1), 0.0, 1.0)
    return np.maximum(np.sin(0.5 * np.pi * u) ** 2, _WEIGHT_FLOOR)


def blend_weights(length: int, before: int, after: int, margin: int = 0) -> np.ndarray:
    """1-D blending weight ``(length,)`` float64 of a tile overlapping its neighbours by
    ``before`` and ``after`` pixels (0: no neighbour on that side)."""
    w = np.ones(length, dtype=np.float64)
    if before > 0:
        w[:before] *= _ramp(before, margin)
    if after > 0:
        w[length - after :] *= _ramp(after, margin)[::-1]
    return w


@dataclass(frozen=True)
class TilePlan(Sequence[Tile]):
    """The tiles of a scene (a sequence of :class:`Tile`, row-major) and their weights.

    Attributes:
        hr_shape: ``(H, W)`` of the scene in HR pixels.
        ratio: r.
        tile, overlap: requested tile side and minimum overlap (HR px, multiples of r).
        margin: blending margin (HR px; module Convention).
        row_windows, col_windows: LR windows of the tile rows / columns.
    """

    hr_shape: tuple[int, int]
    ratio: int
    tile: int
    overlap: int
    margin: int
    row_windows: tuple[Window, ...]
    col_windows: tuple[Window, ...]
    tiles: tuple[Tile, ...] = field(repr=False)

    @overload
    def __getitem__(self, i: int) -> Tile: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Tile]: ...

    def __getitem__(self, i: int | slice) -> Tile | Sequence[Tile]:
        return self.tiles[i]

    def __len__(self) -> int:
        return len(self.tiles)

    @property
    def grid_shape(self) -> tuple[int, int]:
        return len(self.row_windows), len(self.col_windows)

    def _axis_weight(self, windows: Sequence[Window], k: int) -> np.ndarray:
        r = self.ratio
        a0, a1 = windows[k]
        before = r * max(0, windows[k - 1][1] - a0) if k > 0 else 0
        after = r * max(0, a1 - windows[k + 1][0]) if k + 1 < len(windows) else 0
        return blend_weights(r * (a1 - a0), before, after, self.margin)

    def weights(self, tile: Tile) -> tuple[np.ndarray, np.ndarray]:
        """Separable blending weights ``(w_y (th,), w_x (tw,))`` float64 of ``tile``."""
        return (self._axis_weight(self.row_windows, tile.grid[0]),
                self._axis_weight(self.col_windows, tile.grid[1]))

    def describe(self) -> dict[str, Any]:
        """JSON-able summary (used in checkpoint manifests and reports)."""
        return {
            "hr_shape": list(self.hr_shape), "ratio": self.ratio, "tile": self.tile,
            "overlap": self.overlap, "margin": self.margin, "grid": list(self.grid_shape),
            "rows": [list(w) for w in self.row_windows],
            "cols": [list(w) for w in self.col_windows],
        }


#: Default tile side per method in HR px (``benchmarks/tile_quality/results_2048.md``: the tile
#: size with the best tiled PSNR on the 2048 x 2048 mosaic of the 16 CAVE scenes at x32, where
#: 512 px (16 LR samples a side, the smallest allowed) beat 1024 px for all four methods:
#: gsa 35.21 vs 34.95 dB, scalmu 39.96 vs 39.70, cnmf 37.93 vs 37.32, hysure 36.58 vs 36.54;
#: the whole mosaic scored 34.84 / 39.20 / 36.49 / 36.32). Tiles never go below ``16 r``
#: (:func:`default_tile`), so at larger ratios these are raised. Other methods (bicubic, whose
#: output does not depend on the tile, and the learned ones) get ``max(512, 32 r)``.
METHOD_TILE_PX: dict[str, int] = {"gsa": 512, "scalmu": 512, "cnmf": 512, "hysure": 512}


def default_tile(ratio: int, method: str | None = None) -> int:
    """Default tile side (HR px) of ``method``, the same for serial and Dask runs.

    ``METHOD_TILE_PX[method]`` (``max(512, 32 r)`` for a method without an entry, or none
    given), at least ``16 r`` HR px (16 LR samples a side), rounded up to a multiple of ``r``.
    1024 px at x32 is about 130 MB of float32 output per tile at 31 bands.
    """
    px = METHOD_TILE_PX.get(method or "", max(512, 32 * ratio))
    return ratio * math.ceil(max(px, 16 * ratio) / ratio)


def default_overlap(tile: int, ratio: int) -> int:
    """Default overlap: ``max(4 r, tile / 8)`` rounded up to a multiple of ``r``, at most half
    the tile (rounded down to a multiple of ``r``). 128 px for 1024 px tiles at x32: 9 x 9
    tiles cover 8192 x 8192, 1.27 times the scene's area."""
    o = max(4 * ratio, ratio * math.ceil(tile / 8 / ratio))
    return min(o, ratio * (tile // (2 * ratio)))


def default_margin(overlap: int, ratio: int) -> int:
    """Default blending margin: ``min(2 r, (overlap - r) / 2)``, leaving a ramp of at least
    ``r`` px. ``1.5 r`` covers the border effect of bicubic interpolation with half-pixel
    centres (``2 r - phase`` for the phase-aware one), so local methods blend to within float
    error of the untiled result once the overlap is ``4 r`` or more."""
    return max(0, min(2 * ratio, (overlap - ratio) // 2))


def plan_tiles(hr_shape: Sequence[int], ratio: int, tile: int | None = None,
               overlap: int | None = None, *, margin: int | None = None,
               method: str | None = None) -> TilePlan:
    """Cut an ``H x W`` HR grid into tiles aligned to the LR grid (module Convention).

    Args:
        hr_shape: ``(H, W)``, multiples of ``ratio``.
        ratio: r.
        tile: tile side in HR px, a multiple of r (default :func:`default_tile` of
            ``method``).
        overlap: minimum overlap in HR px, a multiple of r, ``< tile``
            (default :func:`default_overlap`).
        margin: blending margin in HR px, ``2 margin < overlap`` (default
            :func:`default_margin`).
        method: name of the method, for its default tile size.

    Returns:
        :class:`TilePlan` (a sequence of :class:`Tile`).

    Raises:
        MossfuseInputError: sizes that are not multiples of r, or overlap / margin too large.
    """
    r = int(ratio)
    if r < 1:
        raise MossfuseInputError(f"ratio must be a positive integer; got {ratio}")
    big_h, big_w = (int(v) for v in hr_shape)
    if big_h % r or big_w % r or big_h < r or big_w < r:
        raise MossfuseInputError(
            f"HR size {big_h} x {big_w} is not a positive multiple of the ratio {r}"
        )
    tile = default_tile(r, method) if tile is None else int(tile)
    if tile < r or tile % r:
        raise MossfuseInputError(
            f"tile size {tile} px must be a positive multiple of the ratio {r} (tiles start on "
            f"LR samples); e.g. {r * max(1, round(tile / r))}"
        )
    overlap = default_overlap(tile, r) if overlap is None else int(overlap)
    if overlap < 0 or overlap % r or overlap >= tile:
        raise MossfuseInputError(
            f"overlap {overlap} px must be a multiple of the ratio {r} in [0, tile size {tile})"
        )
    margin = default_margin(overlap, r) if margin is None else int(margin)
    if margin < 0 or (margin and 2 * margin >= overlap):
        raise MossfuseInputError(
            f"blending margin {margin} px must be >= 0 and less than half the overlap {overlap}"
        )
    t_lr, o_lr = tile // r, overlap // r
    rows = _axis_starts(big_h // r, t_lr, o_lr)
    cols = _axis_starts(big_w // r, t_lr, o_lr)
    row_w = tuple((a, min(a + t_lr, big_h // r)) for a in rows)
    col_w = tuple((b, min(b + t_lr, big_w // r)) for b in cols)
    tiles = tuple(
        Tile(i * len(col_w) + j, (i, j), rw, cw, r)
        for i, rw in enumerate(row_w) for j, cw in enumerate(col_w)
    )
    return TilePlan((big_h, big_w), r, tile, overlap, margin, row_w, col_w, tiles)


# --------------------------------------------------------------------------------------------
# Blending
# --------------------------------------------------------------------------------------------
Sink = Callable[[Window, Window, np.ndarray], None]


def _segments(windows: Sequence[Window], r: int) -> tuple[list[int], list[int], list[range]]:
    """Cut an axis at every tile start/stop: (bounds HR px, tiles covering each segment,
    segment indices of each tile)."""
    bounds = sorted({r * a for w in windows for a in w})
    cover = [sum(1 for a0, a1 in windows if r * a0 <= lo and hi <= r * a1)
             for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    spans = [range(bounds.index(r * a0), bounds.index(r * a1)) for a0, a1 in windows]
    return bounds, cover, spans


class TileBlender:
    """Accumulates fused tiles in any order and hands finished regions to ``sink``.

    The scene is cut at every tile edge into cells; a cell covered by one tile is passed on
    as soon as that tile arrives (unchanged), a cell covered by ``k`` tiles once all ``k`` have
    arrived, as ``sum(w_i x_i) / sum(w_i)`` summed in float64 in tile order, so the result does
    not depend on the order the tiles arrive in (serial and Dask runs agree bit for bit). Only
    the parts of cells still waiting are held (:attr:`pending_bytes`).

    Args:
        plan: the tiling.
        bands: B of the output.
        sink: ``sink(rows, cols, block)`` with HR windows and ``(B, h, w)`` float32.
    """

    def __init__(self, plan: TilePlan, bands: int, sink: Sink):
        self.plan, self.bands, self.sink = plan, int(bands), sink
        r = plan.ratio
        self._ybounds, self._ycover, self._yspans = _segments(plan.row_windows, r)
        self._xbounds, self._xcover, self._xspans = _segments(plan.col_windows, r)
        # cell -> {tile index: (part (B, h, w) float32, w_y (h,), w_x (w,))}
        self._pending: dict[tuple[int, int], dict[int, tuple[np.ndarray, ...]]] = {}
        self._added: set[int] = set()

    @property
    def pending_bytes(self) -> int:
        return sum(p[0].nbytes for parts in self._pending.values() for p in parts.values())

    @property
    def complete(self) -> bool:
        return len(self._added) == len(self.plan) and not self._pending

    def add(self, tile: Tile, block: np.ndarray) -> None:
        """Add the fused ``tile``: ``block`` ``(B, th, tw)``."""
        if tile.index in self._added:
            raise ValueError(f"tile {tile.index} was added twice")
        expected = (self.bands, *tile.hr_shape)
        if tuple(block.shape) != expected:
            raise ValueError(f"tile {tile.index}: block shape {block.shape}, expected {expected}")
        self._added.add(tile.index)
        wy, wx = self.plan.weights(tile)
        y0, x0 = tile.hr_rows[0], tile.hr_cols[0]
        gy, gx = tile.grid
        for sy in self._yspans[gy]:
            ylo, yhi = self._ybounds[sy], self._ybounds[sy + 1]
            ly = slice(ylo - y0, yhi - y0)
            for sx in self._xspans[gx]:
                xlo, xhi = self._xbounds[sx], self._xbounds[sx + 1]
                lx = slice(xlo - x0, xhi - x0)
                count = self._ycover[sy] * self._xcover[sx]
                if count == 1:  # weight is exactly 1 here: pass the values on untouched
                    self.sink((ylo, yhi), (xlo, xhi), block[:, ly, lx])
                    continue
                parts = self._pending.setdefault((sy, sx), {})
                # a copy, so the whole tile is not kept alive by a view of it
                parts[tile.index] = (np.array(block[:, ly, lx], np.float32), wy[ly], wx[lx])
                if len(parts) == count:
                    del self._pending[(sy, sx)]
                    self.sink((ylo, yhi), (xlo, xhi), self._blend(parts))

    @staticmethod
    def _blend(parts: dict[int, tuple[np.ndarray, ...]]) -> np.ndarray:
        """``sum_i x_i (w_i / sum_j w_j)`` in float64, in tile order (deterministic)."""
        order = sorted(parts)
        ws = {i: parts[i][1][:, None] * parts[i][2][None, :] for i in order}
        den = sum(ws[i] for i in order)
        out: np.ndarray | None = None
        for i in order:
            term = np.multiply(parts[i][0], ws[i] / den)  # float64
            out = term if out is None else np.add(out, term, out=out)
        assert out is not None
        return out.astype(np.float32)

    def check_complete(self) -> None:
        if not self.complete:
            missing = sorted(set(range(len(self.plan))) - self._added)
            raise RuntimeError(f"tiled fusion incomplete: tiles {missing[:10]} never arrived "
                               f"({len(self._pending)} regions pending)")


# --------------------------------------------------------------------------------------------
# The degradation, settled once per scene
# --------------------------------------------------------------------------------------------
def method_uses_degradation(method: FusionMethod) -> bool:
    """Whether ``method`` reads the PSF/SRF/phase (then a blind scene is estimated once).

    Read from the class attribute :attr:`FusionMethod.uses_degradation` (False for bicubic
    and mossfuse, whose network learns its own PSF/SRF); objects without it are assumed to use
    the degradation.
    """
    return bool(getattr(method, "uses_degradation", True))


DegradationMode = Literal["auto", "estimate", "none"]


def _central_window(n: int, size: int) -> Window:
    size = min(n, size)
    a0 = (n - size) // 2
    return a0, a0 + size


def resolve_tile_degradation(
    method: FusionMethod,
    source: StreamedInputs,
    degradation: DegradationMode | Degradation = "auto",
    *,
    crop_lr: int = 64,
    estimation_kwargs: dict[str, Any] | None = None,
) -> tuple[Degradation | None, dict[str, Any]]:
    """The degradation every tile receives, settled once for the scene.

    Args:
        method: the fusion method.
        source: the scene.
        degradation: ``"auto"`` (known values as they are; when the PSF or SRF is missing and
            the method uses them, estimate once), ``"estimate"`` (estimate the missing parts
            whatever the method), ``"none"`` (pass the scene's fields as they are: a blind
            method then estimates per tile), or a
            :class:`~mossfuse.physics.degradation.Degradation` (e.g. an estimate), given to
            every tile as it is.
        crop_lr: side (LR samples) of the central crop the estimate is made on
            (``64`` at x32: a 2048 x 2048 HR crop).
        estimation_kwargs: keyword arguments of
            :func:`~mossfuse.physics.estimation.estimate_degradation`; default the method
            config's ``estimation`` field when it has one.

    Returns:
        ``(degradation, info)``: the degradation every tile's ``FusionInputs`` carries (None:
        the scene's own, as it is), and a JSON-able description of what was done.
    """
    if isinstance(degradation, Degradation):
        return degradation, {"source": "given", "phase": degradation.phase,
                             "centre": degradation.centre}
    if degradation not in ("auto", "estimate", "none"):
        raise MossfuseInputError(
            f"degradation must be 'auto', 'estimate', 'none' or an estimated degradation; got "
            f"{degradation!r}"
        )
    known = source.srf is not None and source.psf is not None
    if degradation == "none" or known:
        return None, {"source": "known" if known else "none"}
    if degradation == "auto" and not method_uses_degradation(method):
        return None, {"source": "unused", "method": method.name}
    return estimate_scene_degradation(method, source, crop_lr=crop_lr,
                                      estimation_kwargs=estimation_kwargs)


def estimate_scene_degradation(
    method: FusionMethod,
    source: StreamedInputs,
    *,
    crop_lr: int = 64,
    estimation_kwargs: dict[str, Any] | None = None,
) -> tuple[Degradation, dict[str, Any]]:
    """The one estimate of a scene's missing PSF/SRF: the classical estimator
    (:func:`~mossfuse.physics.estimation.resolve_degradation`) on the central ``crop_lr`` x
    ``crop_lr`` LR samples (the whole LR-HSI when smaller).

    Args:
        estimation_kwargs: as :func:`resolve_tile_degradation` (default: the method config's
            ``estimation`` field).

    Returns:
        ``(degradation, info)``: the estimate and a JSON-able description (``source``
        ``"estimated"``, ``crop_lr`` windows, ``sigma`` px, ``phase``, ``centre``,
        ``seconds``, ``estimated`` flags).
    """
    from mossfuse.physics.estimation import resolve_degradation

    if estimation_kwargs is None:
        estimation_kwargs = dict(getattr(method.config, "estimation", None) or {})
    (_, h, w) = source.lr.shape
    rows, cols = _central_window(h, crop_lr), _central_window(w, crop_lr)
    t0 = time.perf_counter()
    deg = resolve_degradation(source.window(rows, cols), **estimation_kwargs)
    info = {
        "source": "estimated", "crop_lr": [list(rows), list(cols)], "sigma": float(deg.sigma),
        "phase": int(deg.phase), "centre": int(deg.centre),
        "seconds": time.perf_counter() - t0,
        "estimated": dict(deg.info.get("estimated", {})),
    }
    return deg, info


# --------------------------------------------------------------------------------------------
# Execution
# --------------------------------------------------------------------------------------------
def fuse_tile(method: FusionMethod, source: StreamedInputs, tile: Tile,
              degradation: Degradation | None = None) -> np.ndarray:
    """Fuse one tile: read its windows, build its ``FusionInputs`` (carrying ``degradation``,
    default the scene's), call ``method.fuse``.

    The unit of work of every executor (it runs in Dask workers too). Returns ``(B, th, tw)``
    float32.
    """
    inputs = source.window(tile.lr_rows, tile.lr_cols, degradation=degradation)
    return method.fuse(inputs).hr_hsi


class TileExecutor(Protocol):
    """Runs tiles and yields ``(tile, block)`` as they finish, in any order."""

    def map_tiles(self, method: FusionMethod, source: StreamedInputs, tiles: Sequence[Tile],
                  degradation: Degradation | None) -> Iterator[tuple[Tile, np.ndarray]]: ...


class SerialExecutor:
    """Runs the tiles one after the other in this process (row-major)."""

    def map_tiles(self, method: FusionMethod, source: StreamedInputs, tiles: Sequence[Tile],
                  degradation: Degradation | None) -> Iterator[tuple[Tile, np.ndarray]]:
        for tile in tiles:
            yield tile, fuse_tile(method, source, tile, degradation)


@dataclass
class TiledReport:
    """What a tiled run did.

    Attributes:
        hr_hsi: ``(B, H, W)`` float32 when the output was collected in memory, else None.
        plan: the tiling.
        tiles_fused: tiles computed in this run.
        tiles_resumed: tiles taken from the checkpoint folder.
        seconds: wall time of the run.
        degradation: how the degradation was settled (:func:`resolve_tile_degradation`).
        peak_pending_bytes: most memory held by partially blended regions.
    """

    hr_hsi: np.ndarray | None
    plan: TilePlan
    tiles_fused: int = 0
    tiles_resumed: int = 0
    seconds: float = 0.0
    degradation: dict[str, Any] = field(default_factory=dict)
    peak_pending_bytes: int = 0

    @property
    def megapixels_per_s(self) -> float:
        h, w = self.plan.hr_shape
        return h * w / 1e6 / max(self.seconds, 1e-12)


class TiledFusion:
    """A method run tile by tile (module form of :func:`fuse_tiled`).

    Args:
        method: any :class:`~mossfuse.methods.base.FusionMethod`.
        tile, overlap, margin: see :func:`plan_tiles` (HR px).
        executor: where tiles run (default :class:`SerialExecutor`; see
            :class:`mossfuse.engine.distributed.DaskExecutor`).
        degradation, crop_lr, estimation_kwargs: see :func:`resolve_tile_degradation`.
        progress: show a tqdm bar.
    """

    def __init__(self, method: FusionMethod, *, tile: int | None = None,
                 overlap: int | None = None, margin: int | None = None,
                 executor: TileExecutor | None = None,
                 degradation: DegradationMode | Degradation = "auto", crop_lr: int = 64,
                 estimation_kwargs: dict[str, Any] | None = None, progress: bool = False):
        if not isinstance(method, FusionMethod):
            raise TypeError(f"method must be a FusionMethod; got {type(method).__name__}")
        self.method, self.tile, self.overlap, self.margin = method, tile, overlap, margin
        self.executor: TileExecutor = executor or SerialExecutor()
        self.degradation, self.crop_lr = degradation, crop_lr
        self.estimation_kwargs, self.progress = estimation_kwargs, progress

    def plan(self, source: StreamedInputs) -> TilePlan:
        return plan_tiles(source.hr_shape, source.ratio, self.tile, self.overlap,
                          margin=self.margin, method=self.method.name)

    def run(self, source: FusionInputs | StreamedInputs, writer: CubeWriter | None = None, *,
            checkpoint: str | Path | None = None, resume: bool = False) -> TiledReport:
        """Fuse ``source`` tile by tile into ``writer`` (default: an in-memory array).

        Args:
            source: in-memory ``FusionInputs`` or on-disk :class:`StreamedInputs`.
            writer: a :class:`~mossfuse.engine.streaming.CubeWriter` of shape ``(B, H, W)``
                (not yet entered); its file is complete when this returns, absent if it raises.
            checkpoint: work folder for finished tiles (:mod:`mossfuse.engine.checkpoint`);
                removed after a successful run, kept after a failure.
            resume: reuse the tiles already in ``checkpoint`` (it must have been made for the
                same inputs, method config, tiling and degradation, else an error).

        Returns:
            :class:`TiledReport` (``hr_hsi`` set only when ``writer`` is None).
        """
        t0 = time.perf_counter()
        if isinstance(source, FusionInputs):
            source = StreamedInputs.from_inputs(source)
        plan = self.plan(source)
        bands = source.lr.shape[0]
        own_writer = writer is None
        out = ArrayWriter(source.out_shape) if writer is None else writer
        if tuple(out.shape) != tuple(source.out_shape):
            raise MossfuseInputError(
                f"writer shape {out.shape} differs from the fused shape {source.out_shape}"
            )
        tile_deg, deg_info = resolve_tile_degradation(
            self.method, source, self.degradation, crop_lr=self.crop_lr,
            estimation_kwargs=self.estimation_kwargs,
        )
        store = None
        if checkpoint is not None:
            from mossfuse.engine.checkpoint import TileCheckpoint, run_fingerprint

            store = TileCheckpoint(
                checkpoint, run_fingerprint(source, self.method, plan, tile_deg), resume=resume
            )
        report = TiledReport(None, plan, degradation=deg_info)
        with out:
            blender = TileBlender(plan, bands, out.write)
            done = store.open() if store is not None else set()
            todo: list[Tile] = []
            for tile in plan:
                block = store.load(tile) if store is not None and tile.index in done else None
                if block is None:
                    todo.append(tile)
                else:
                    blender.add(tile, block)
                    report.tiles_resumed += 1
            results: Iterable[tuple[Tile, np.ndarray]] = self.executor.map_tiles(
                self.method, source, todo, tile_deg
            )
            if self.progress:
                from tqdm.auto import tqdm

                results = tqdm(results, total=len(todo), desc=f"{self.method.name} tiles",
                               unit="tile")
            for tile, block in results:
                if store is not None:
                    store.save(tile, block)
                blender.add(tile, block)
                report.tiles_fused += 1
                report.peak_pending_bytes = max(report.peak_pending_bytes, blender.pending_bytes)
            blender.check_complete()
        if store is not None:
            store.remove()
        if own_writer:
            report.hr_hsi = out.array  # type: ignore[attr-defined]
        report.seconds = time.perf_counter() - t0
        return report


def fuse_tiled(
    method: FusionMethod,
    inputs: FusionInputs | StreamedInputs,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    writer: CubeWriter | None = None,
    executor: TileExecutor | None = None,
    degradation: DegradationMode | Degradation = "auto",
    checkpoint: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
) -> np.ndarray | None:
    """Fuse ``inputs`` tile by tile with ``method`` (see module docstring and Convention).

    Args:
        method: any registered method instance.
        inputs: ``FusionInputs`` (in memory) or :class:`StreamedInputs` (on disk).
        tile, overlap, margin: HR px (:func:`plan_tiles`).
        writer: where the output goes (streamed); None collects it in memory.
        executor: where tiles run (default in this process).
        degradation: :func:`resolve_tile_degradation`.
        checkpoint, resume: :meth:`TiledFusion.run`.
        progress: tqdm bar.

    Returns:
        ``(B, H, W)`` float32 when ``writer`` is None, else None (the file is complete).
    """
    runner = TiledFusion(method, tile=tile, overlap=overlap, margin=margin, executor=executor,
                         degradation=degradation, progress=progress)
    return runner.run(inputs, writer, checkpoint=checkpoint, resume=resume).hr_hsi
