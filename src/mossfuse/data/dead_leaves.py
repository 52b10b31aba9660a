"""Seeded dead-leaves hyperspectral scenes: occluding random shapes painted with reflectances.

The dead-leaves model (Matheron 1968; Lee, Mumford & Huang, "Occlusion models for natural
images: a statistical study of a scale-invariant dead leaves model", IJCV 2001) stacks random
shapes ("leaves") with uniformly distributed centres and a power-law size density
``p(r) ~ r^-alpha`` on ``[r_min, r_max]``; ``alpha = 3`` gives approximately scale-invariant
images with natural-image statistics. Achddou, Gousseau & Ladjal ("Synthetic images as a
regularity prior for image restoration neural networks", SSVM 2021) train restoration networks
on such images alone; here each leaf carries a measured reflectance spectrum
(:mod:`mossfuse.data.spectral_library`), which gives hyperspectral training and demo scenes
without any download.

Convention
----------
- Leaf ``i = 0, 1, ...`` is the *front-most* not yet placed: leaves are generated front to back
  and each paints only the pixels no earlier leaf covers (equivalent to painting back to front,
  but it can stop once the image is covered). Generation stops when every pixel is covered or
  ``max_leaves`` leaves were drawn; a background leaf then fills what is left (the fraction
  covered before it is recorded as ``coverage``).
- Pixel ``(y, x)`` has its centre at integer coordinates; a leaf centre is uniform on
  ``[0, H) x [0, W)``; a pixel belongs to a leaf when its centre is inside the shape.
- ``r`` is the disk radius, the ellipse's semi-major axis, or the rectangle's half length;
  ellipses and rectangles have a random aspect ratio ``a ~ U[aspect_min, 1]`` (semi-minor axis /
  half width ``a r``) and a random orientation.
- The cube is ``spectrum[label] * shading * texture``, clipped to [0, 1], optionally blurred.

Performance: leaves are drawn in chunks; a summed-area table of the uncovered mask drops, in
O(1) each, leaves whose bounding box is already fully covered (most of them once the image is
mostly covered); the rest are rasterised together as (pixel, leaf) pairs and resolved with
``np.minimum.at`` (the front-most leaf has the smallest index), or, when few pixels are left,
by testing each uncovered pixel against each candidate leaf. Both give the same label map.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mossfuse.data.scene import Scene
from mossfuse.data.spectral_library import (
    DEFAULT_WAVELENGTHS_NM,
    SpectralLibrary,
    reflectance_library,
)
from mossfuse.errors import MossfuseInputError

_SENTINEL = np.iinfo(np.int32).max
_PAIR_BUDGET = 2_000_000  # (pixel, leaf) pairs rasterised at once: bounds memory to ~100 MB
_KIND_ELLIPSE, _KIND_RECT = 0, 1


class DeadLeavesConfig(BaseModel):
    """Parameters of a dead-leaves scene (lengths in pixels). Saved with every scene.

    Attributes:
        size: ``(H, W)``.
        wavelengths_nm: band centres (nm) of the cube; must match the library's.
        r_min, r_max: radius range; ``r_max=None`` means ``min(H, W) / 2``.
        alpha: exponent of the radius density ``p(r) ~ r^-alpha`` (3: scale invariant).
        shape: ``disk``, ``ellipse``, ``rectangle`` or ``mixed`` (each leaf picks one of the
            three uniformly).
        aspect_min: smallest aspect ratio of ellipses and rectangles.
        max_leaves: most leaves drawn (culled, hidden ones included) before the background leaf
            fills the rest.
        brightness: per-leaf scalar illumination ``~ U[lo, hi]`` (``(1, 1)``: none).
        gradient: per-leaf linear shading, the largest relative change of illumination from
            the leaf centre to a distance ``r`` along a random direction (0: none).
        texture: ``none``; ``brightness`` (illumination times ``1 + s g(x)``); ``spectral``
            (the leaf blends towards a second library spectrum with weight ``clip(s g(x), 0,
            1)``), with ``g`` one of 3 smooth unit-variance Gaussian random fields and
            ``s ~ U[0, texture_strength]`` per leaf.
        texture_scale: Gaussian correlation length (px) of the texture fields.
        n_materials: size of the scene's palette: that many distinct library spectra are
            drawn once per scene and every leaf (and spectral texture) picks one of them, as in
            a scene made of a few materials (the linear mixing model's premise); ``None``:
            every leaf draws from the whole library.
        blur_sigma: Gaussian blur (px) of the final cube, softening leaf edges (0: sharp).
        seed: seed used when no generator is passed.
    """

    model_config = ConfigDict(extra="forbid")
    size: tuple[int, int] = (256, 256)
    wavelengths_nm: tuple[float, ...] = tuple(float(w) for w in DEFAULT_WAVELENGTHS_NM)
    r_min: float = Field(2.0, gt=0)
    r_max: float | None = None
    alpha: float = Field(3.0, gt=0)
    shape: Literal["disk", "ellipse", "rectangle", "mixed"] = "disk"
    aspect_min: float = Field(0.3, gt=0, le=1)
    max_leaves: int = Field(500_000, ge=1)
    brightness: tuple[float, float] = (0.4, 1.0)
    gradient: float = Field(0.0, ge=0, le=1)
    texture: Literal["none", "brightness", "spectral"] = "none"
    texture_strength: float = Field(0.3, ge=0)
    texture_scale: float = Field(4.0, gt=0)
    blur_sigma: float = Field(0.0, ge=0)
    n_materials: int | None = Field(None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> DeadLeavesConfig:
        if min(self.size) < 1 or self.size[0] * self.size[1] >= 2**31:
            raise ValueError(f"size must be positive with H W < 2^31 (int32 labels); got "
                             f"{self.size}")
        if self.r_max is not None and self.r_max <= self.r_min:
            raise ValueError(f"r_max ({self.r_max}) must exceed r_min ({self.r_min})")
        lo, hi = self.brightness
        if not 0 <= lo <= hi:
            raise ValueError(f"brightness must be 0 <= lo <= hi; got {self.brightness}")
        return self

    @property
    def radius_range(self) -> tuple[float, float]:
        """``(r_min, r_max)`` with the default ``r_max`` resolved."""
        r_max = self.r_max if self.r_max is not None else min(self.size) / 2
        return self.r_min, max(r_max, self.r_min * (1 + 1e-6))


def sample_radii(
    n: int, r_min: float, r_max: float, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """``n`` radii with density ``p(r) ~ r^-alpha`` on ``[r_min, r_max]`` (inverse CDF).

    This is what the sampler guarantees; the *visible* leaf sizes differ (occlusion hides
    small leaves behind large ones less often than large ones behind small ones).
    """
    u = rng.random(n)
    if abs(alpha - 1.0) < 1e-9:
        return r_min * (r_max / r_min) ** u
    e = 1.0 - alpha
    return (r_min**e + u * (r_max**e - r_min**e)) ** (1.0 / e)


@dataclass
class DeadLeavesLayout:
    """The geometry of a scene: which leaf each pixel shows.

    Attributes:
        labels: ``(H, W)`` int32; ``labels[y, x] = i`` indexes the visible leaves, front to back;
            the background, when present, is the last index.
        centres: ``(n, 2)`` float ``(cy, cx)`` in pixels; radii: ``(n,)``; kinds: ``(n,)``
            (0 ellipse/disk, 1 rectangle); aspects, angles (rad): ``(n,)``. The background has
            centre at the image centre and radius ``inf``.
        n_drawn: leaves drawn, hidden ones included (background excluded).
        coverage: fraction of pixels covered before the background leaf.
    """

    labels: np.ndarray
    centres: np.ndarray
    radii: np.ndarray
    kinds: np.ndarray
    aspects: np.ndarray
    angles: np.ndarray
    n_drawn: int
    coverage: float

    @property
    def n_leaves(self) -> int:
        return self.radii.size


def _inside(dy, dx, r, kind, aspect, cos_t, sin_t) -> np.ndarray:
    """Pixel-in-leaf test for offsets ``(dy, dx)`` from the centres (broadcasting arrays)."""
    u = (dx * cos_t + dy * sin_t) / r
    v = (dy * cos_t - dx * sin_t) / (r * aspect)
    ell = u * u + v * v <= 1.0
    if not np.any(kind == _KIND_RECT):
        return ell
    rect = np.maximum(np.abs(u), np.abs(v)) <= 1.0
    return np.where(kind == _KIND_RECT, rect, ell)


def _mean_area(cfg: DeadLeavesConfig) -> float:
    """Rough expected leaf area (px^2), only used to size the chunks."""
    r_min, r_max = cfg.radius_range
    r = sample_radii(4096, r_min, r_max, cfg.alpha, np.random.default_rng(12345))
    factor = 1.0 if cfg.shape == "disk" else 0.5 * (1 + cfg.aspect_min)
    return float(np.pi * np.mean(r**2) * factor)


def dead_leaves_labels(config: DeadLeavesConfig, rng: np.random.Generator) -> DeadLeavesLayout:
    """Draw leaves front to back until the image is covered (see module Convention)."""
    H, W = config.size
    n_pix = H * W
    r_min, r_max = config.radius_range
    label = np.full(n_pix, _SENTINEL, dtype=np.int32)
    kept: list[tuple[np.ndarray, ...]] = []
    n_kept = 0
    n_drawn = 0
    chunk = int(np.clip(2.3 * n_pix / _mean_area(config), 64, 200_000))
    n_uncovered = n_pix
    while n_uncovered > 0 and n_drawn < config.max_leaves:
        k = min(chunk, config.max_leaves - n_drawn)
        n_drawn += k
        cy = rng.random(k) * H
        cx = rng.random(k) * W
        r = sample_radii(k, r_min, r_max, config.alpha, rng)
        if config.shape == "disk":
            kind = np.full(k, _KIND_ELLIPSE, np.int8)
            aspect = np.ones(k)
        else:
            if config.shape == "ellipse":
                kind = np.full(k, _KIND_ELLIPSE, np.int8)
            elif config.shape == "rectangle":
                kind = np.full(k, _KIND_RECT, np.int8)
            else:  # mixed: disk, ellipse, rectangle with equal probability
                pick = rng.integers(0, 3, k)
                kind = np.where(pick == 2, _KIND_RECT, _KIND_ELLIPSE).astype(np.int8)
            aspect = rng.uniform(config.aspect_min, 1.0, k)
            if config.shape == "mixed":
                aspect = np.where(pick == 0, 1.0, aspect)
        angle = rng.random(k) * np.pi
        reach = np.where(kind == _KIND_RECT, r * np.sqrt(1 + aspect**2), r)
        y0 = np.clip(np.ceil(cy - reach), 0, H).astype(np.int64)
        y1 = np.clip(np.floor(cy + reach), -1, H - 1).astype(np.int64)
        x0 = np.clip(np.ceil(cx - reach), 0, W).astype(np.int64)
        x1 = np.clip(np.floor(cx + reach), -1, W - 1).astype(np.int64)
        # cull leaves whose bounding box holds no uncovered pixel (summed-area table, O(1) each)
        unc = (label == _SENTINEL).reshape(H, W)
        sat = np.zeros((H + 1, W + 1), np.int64)
        sat[1:, 1:] = unc.cumsum(0).cumsum(1)
        ok = (y1 >= y0) & (x1 >= x0)
        y1c, x1c = np.maximum(y1, y0 - 1), np.maximum(x1, x0 - 1)
        free = sat[y1c + 1, x1c + 1] - sat[y0, x1c + 1] - sat[y1c + 1, x0] + sat[y0, x0]
        sel = np.flatnonzero(ok & (free > 0))
        if sel.size:
            ids = n_kept + np.arange(sel.size, dtype=np.int64)
            kept.append((cy[sel], cx[sel], r[sel], kind[sel], aspect[sel], angle[sel]))
            n_kept += sel.size
            _rasterise(
                label, H, W, ids, cy[sel], cx[sel], r[sel], kind[sel], aspect[sel], angle[sel],
                y0[sel], y1[sel], x0[sel], x1[sel],
            )
        n_uncovered = int(np.count_nonzero(label == _SENTINEL))
        chunk = min(2 * chunk, 200_000)
    coverage = 1.0 - n_uncovered / n_pix
    if kept:
        cols = [np.concatenate(c) for c in zip(*kept, strict=True)]
    else:
        cols = [np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.int8), np.zeros(0),
                np.zeros(0)]
    cy_all, cx_all, r_all, kind_all, asp_all, ang_all = cols
    # keep only the leaves that show, renumbered front to back
    used = np.zeros(n_kept + 1, dtype=bool)
    covered = label != _SENTINEL
    used[label[covered]] = True
    remap = np.cumsum(used) - 1
    n_vis = int(used[:n_kept].sum())
    out = np.empty(n_pix, dtype=np.int32)
    out[covered] = remap[label[covered]]
    vis = used[:n_kept]
    centres = np.stack([cy_all[vis], cx_all[vis]], axis=1)
    radii, kinds, aspects, angles = r_all[vis], kind_all[vis], asp_all[vis], ang_all[vis]
    if n_uncovered:
        out[~covered] = n_vis
        centres = np.vstack([centres, [[H / 2, W / 2]]])
        radii = np.append(radii, np.inf)
        kinds = np.append(kinds, np.int8(_KIND_ELLIPSE))
        aspects, angles = np.append(aspects, 1.0), np.append(angles, 0.0)
    return DeadLeavesLayout(
        out.reshape(H, W), centres, radii, kinds.astype(np.int8), aspects, angles, n_drawn,
        coverage,
    )


def _rasterise(label, H, W, ids, cy, cx, r, kind, aspect, angle, y0, y1, x0, x1) -> None:
    """Write into ``label`` (flat, sentinel = uncovered) the front-most of the given leaves
    (``ids`` increasing = front to back) at every pixel they cover; earlier labels win."""
    cos_t, sin_t = np.cos(angle), np.sin(angle)
    hh, ww = y1 - y0 + 1, x1 - x0 + 1
    areas = hh * ww
    ends = np.cumsum(areas)
    start = 0
    while start < ids.size:
        # a sub-batch of consecutive leaves with at most _PAIR_BUDGET pairs (>= 1 leaf)
        stop = int(np.searchsorted(ends, ends[start] - areas[start] + _PAIR_BUDGET, "right"))
        stop = max(stop, start + 1)
        b = slice(start, stop)
        total = int(areas[b].sum())
        unc = np.flatnonzero(label == _SENTINEL)
        if unc.size * (stop - start) < total:
            _rasterise_pixels(label, unc, W, ids[b], cy[b], cx[b], r[b], kind[b], aspect[b],
                              cos_t[b], sin_t[b])
        else:
            a = areas[b]
            # int32 index arithmetic: H W < 2^31 and integer division is ~2x faster than int64
            leaf = np.repeat(np.arange(stop - start, dtype=np.int32), a)
            local = np.arange(total, dtype=np.int32) - np.repeat(
                (np.cumsum(a) - a).astype(np.int32), a
            )
            qy, qx = np.divmod(local, ww[b].astype(np.int32)[leaf])
            py = y0[b].astype(np.int32)[leaf] + qy
            px = x0[b].astype(np.int32)[leaf] + qx
            pix = py * np.int32(W) + px
            free = label[pix] == _SENTINEL
            leaf, py, px, pix = leaf[free], py[free], px[free], pix[free]
            hit = _inside(py - cy[b][leaf], px - cx[b][leaf], r[b][leaf], kind[b][leaf],
                          aspect[b][leaf], cos_t[b][leaf], sin_t[b][leaf])
            np.minimum.at(label, pix[hit], ids[b][leaf[hit]].astype(np.int32))
        start = stop


def _rasterise_pixels(label, unc, W, ids, cy, cx, r, kind, aspect, cos_t, sin_t) -> None:
    """Per uncovered pixel, the first (front-most) of the leaves containing it."""
    py, px = (unc // W).astype(np.float64), (unc % W).astype(np.float64)
    step = max(1, _PAIR_BUDGET // max(unc.size, 1))
    for s in range(0, ids.size, step):
        if unc.size == 0:
            return
        b = slice(s, s + step)
        hit = _inside(py[:, None] - cy[None, b], px[:, None] - cx[None, b], r[None, b],
                      kind[None, b], aspect[None, b], cos_t[None, b], sin_t[None, b])
        any_hit = hit.any(axis=1)
        label[unc[any_hit]] = ids[b][hit[any_hit].argmax(axis=1)]
        unc, py, px = unc[~any_hit], py[~any_hit], px[~any_hit]


def _smooth_fields(n: int, H: int, W: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` zero-mean unit-variance Gaussian random fields ``(n, H, W)`` of correlation
    length ``scale`` px (white noise times a Gaussian transfer function, periodic FFT)."""
    noise = rng.standard_normal((n, H, W))
    fy = np.fft.fftfreq(H)[:, None]
    fx = np.fft.rfftfreq(W)[None, :]
    transfer = np.exp(-2.0 * (np.pi * scale) ** 2 * (fy**2 + fx**2))
    f = np.fft.irfft2(np.fft.rfft2(noise) * transfer, s=(H, W))
    f -= f.mean(axis=(1, 2), keepdims=True)
    f /= np.maximum(f.std(axis=(1, 2), keepdims=True), 1e-12)
    return f.astype(np.float32)


def generate_dead_leaves(
    config: DeadLeavesConfig | None = None,
    library: SpectralLibrary | None = None,
    rng: np.random.Generator | None = None,
) -> Scene:
    """A dead-leaves hyperspectral scene.

    Args:
        config: scene parameters (default :class:`DeadLeavesConfig()`).
        library: spectra to paint with, on ``config.wavelengths_nm`` (default: colour-science
            reflectances, :func:`~mossfuse.data.spectral_library.reflectance_library`).
        rng: random generator; default ``np.random.default_rng(config.seed)``. The same seed
            (or generator state) and config give an identical scene.

    Returns:
        :class:`Scene` with ``cube (B, H, W)`` float32 in [0, 1]; ``meta`` holds the config,
        ``n_leaves`` (visible, background included), ``n_drawn`` and ``coverage``.

    >>> s = generate_dead_leaves(DeadLeavesConfig(size=(32, 48), seed=1))
    >>> s.cube.shape, s.cube.dtype, bool(0 <= s.cube.min() and s.cube.max() <= 1)
    ((31, 32, 48), dtype('float32'), True)
    """
    cfg = DeadLeavesConfig() if config is None else config
    wl = np.asarray(cfg.wavelengths_nm, dtype=np.float64)
    lib = reflectance_library(wl) if library is None else library
    if lib.wavelengths_nm is not None and (
        lib.wavelengths_nm.size != wl.size or not np.allclose(lib.wavelengths_nm, wl)
    ):
        raise MossfuseInputError(
            f"spectral library '{lib.source}' is on {lib.wavelengths_nm.size} wavelengths "
            f"({lib.wavelengths_nm.min():g}-{lib.wavelengths_nm.max():g} nm); the config asks "
            f"for {wl.size} ({wl.min():g}-{wl.max():g} nm): build the library on the same grid"
        )
    if lib.bands != wl.size:
        raise MossfuseInputError(
            f"spectral library '{lib.source}' has {lib.bands} bands; the config has {wl.size}"
        )
    rng = np.random.default_rng(cfg.seed) if rng is None else rng
    H, W = cfg.size
    layout = dead_leaves_labels(cfg, rng)
    n = layout.n_leaves
    lab = layout.labels.ravel()

    if cfg.n_materials is None:
        palette = np.arange(len(lib))
    else:
        palette = rng.choice(len(lib), size=min(cfg.n_materials, len(lib)), replace=False)
    spec_a = palette[rng.integers(0, palette.size, n)]
    lo, hi = cfg.brightness
    shade = rng.uniform(lo, hi, n).astype(np.float32)
    illum = shade[lab]
    if cfg.gradient > 0:
        theta = rng.random(n) * 2 * np.pi
        g = rng.uniform(0, cfg.gradient, n) / np.where(np.isfinite(layout.radii),
                                                        layout.radii, max(H, W) / 2)
        gy, gx = (g * np.sin(theta)).astype(np.float32), (g * np.cos(theta)).astype(np.float32)
        yy, xx = np.divmod(np.arange(H * W, dtype=np.int64), W)
        dy = yy - layout.centres[lab, 0].astype(np.float32)
        dx = xx - layout.centres[lab, 1].astype(np.float32)
        illum = illum * np.maximum(1.0 + gy[lab] * dy + gx[lab] * dx, 0.0)
    weight = None
    if cfg.texture != "none":
        fields = _smooth_fields(3, H, W, cfg.texture_scale, rng).reshape(3, H * W)
        which = rng.integers(0, 3, n)
        strength = rng.uniform(0, cfg.texture_strength, n).astype(np.float32)
        tex = strength[lab] * fields[which[lab], np.arange(H * W)]
        if cfg.texture == "brightness":
            illum = illum * np.maximum(1.0 + tex, 0.0)
        else:
            spec_b = palette[rng.integers(0, palette.size, n)]
            weight = np.clip(tex, 0.0, 1.0)

    spectra_t = np.ascontiguousarray(lib.spectra.T)  # (B, n_spectra)
    cube = np.take(spectra_t, spec_a[lab], axis=1)  # (B, H W)
    if weight is not None:
        other = np.take(spectra_t, spec_b[lab], axis=1)
        cube += weight * (other - cube)
    cube *= illum.astype(np.float32)
    cube = cube.reshape(-1, H, W)
    if cfg.blur_sigma > 0:
        from scipy.ndimage import gaussian_filter

        cube = gaussian_filter(cube, sigma=(0, cfg.blur_sigma, cfg.blur_sigma), mode="reflect")
    np.clip(cube, 0.0, 1.0, out=cube)
    meta = {
        "source": "dead_leaves",
        "config": cfg.model_dump(mode="json"),
        "library": lib.source,
        "n_leaves": n,
        "n_drawn": layout.n_drawn,
        "coverage": layout.coverage,
    }
    return Scene(cube.astype(np.float32, copy=False), wl, f"dead_leaves_seed{cfg.seed}", meta)


def dead_leaves_stream(
    config: DeadLeavesConfig | None = None,
    library: SpectralLibrary | None = None,
    seed: int = 0,
    *,
    start: int = 0,
    step: int = 1,
    count: int | None = None,
) -> Iterator[Scene]:
    """Endless (or ``count``-long) stream of scenes; scene ``i`` uses the generator
    ``np.random.default_rng([seed, i])``, so any scene can be re-made from ``(seed, i)``
    alone, whatever the order of consumption.

    ``start``/``step`` shard the indices ``start, start + step, ...`` across the workers of a
    ``torch.utils.data.IterableDataset`` (``start=worker_id, step=num_workers``).
    """
    cfg = DeadLeavesConfig() if config is None else config
    lib = reflectance_library(cfg.wavelengths_nm) if library is None else library
    i, produced = start, 0
    while count is None or produced < count:
        scene = generate_dead_leaves(cfg, lib, np.random.default_rng([seed, i]))
        scene.name = f"dead_leaves_s{seed}_i{i}"
        scene.meta["stream_index"] = i
        yield scene
        i += step
        produced += 1
