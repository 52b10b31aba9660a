"""A memory budget for fusion: estimate the whole-image peak, tile when it would not fit.

``mossfuse fuse`` fuses the whole scene in memory when that fits the budget and tiles
(:mod:`mossfuse.engine.tiling`, streamed output) when it does not. The decision is
:func:`choose_tiling`; the budget defaults to :func:`default_memory_limit` (``min(4 GiB, 50 %``
of the available RAM)``) and is set with ``--memory-limit`` (:func:`parse_memory`).

Memory model
------------
The peak resident memory of the whole-image path (read both cubes, ``method.fuse``, write the
output) of method ``m`` on an ``H x W`` HR grid with ``B`` HSI and ``b`` MSI bands is modelled as

    ``peak = a_m + k_m * H * W * (B + b)``   [bytes]

with ``a_m`` (interpreter, torch, the method; ~0.3 GB) and ``k_m`` (bytes per HR pixel and
band: the output, the inputs and each method's intermediates) fitted by least squares to
measured peaks (``VmHWM`` of a fresh process) at 256 to 2048 px on crops of the CAVE mosaic at
``mossfuse-x32``: ``benchmarks/memory_model/calibrate.py``, table in
``benchmarks/memory_model/table.md``. A method without a calibration (a plugin) gets the
largest ``k`` of the calibrated ones. The model is linear in the band count by assumption (the
calibration holds B = 31, b = 3); the LR-HSI (``r^2`` times smaller) is inside ``k``.

A tiled run holds one tile's whole-image peak (the same model on a ``T x T`` grid), the
overlap strips waiting for their second tile (``overlap x W x B`` float32, twice for the copies
the blender keeps) and, for an output format that cannot be written by windows (``.mat``,
``.npz``, ENVI), the whole output (``B x H x W`` float32): :func:`estimate_tiled_peak`.

>>> choose_tiling("gsa", 31, 3, (512, 512), 32, memory_limit=4 * 2**30) is None
True
>>> c = choose_tiling("scalmu", 31, 3, (8192, 8192), 32, memory_limit=4 * 2**30)
>>> c.tile, c.overlap, c.tiled_peak_bytes < 4 * 2**30 < c.whole_peak_bytes
(512, 128, True)
>>> parse_memory("512MiB"), parse_memory("4GB"), parse_memory("2g")
(536870912, 4000000000, 2147483648)
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mossfuse.errors import MossfuseInputError

__all__ = [
    "TilePlanChoice",
    "choose_tiling",
    "default_memory_limit",
    "estimate_tiled_peak",
    "estimate_whole_image_peak",
    "format_bytes",
    "parse_memory",
]

GiB = 2**30
#: Cap of the default budget (bytes).
DEFAULT_CAP = 4 * GiB
#: Fraction of the available RAM the default budget takes.
DEFAULT_FRACTION = 0.5

#: ``method: (a bytes, k bytes per HR pixel per band)``, from benchmarks/memory_model/table.json
#: (copied by hand; re-run calibrate.py and update both when a method's memory use changes).
_MODEL: dict[str, tuple[float, float]] = {
    "bicubic": (3.16e+08, 7.74),
    "gsa": (3.38e+08, 16.4),
    "cnmf": (3.73e+08, 15.6),
    "hysure": (3.82e+08, 19.6),
    "scalmu": (3.54e+08, 20.6),
}


# --------------------------------------------------------------------------------------------
# The budget
# --------------------------------------------------------------------------------------------
def _available_ram() -> int | None:
    """Available RAM in bytes: psutil, else ``MemAvailable`` of /proc/meminfo, else sysconf;
    capped by a cgroup v2 ``memory.max`` when the process runs under one."""
    avail: int | None = None
    try:
        import psutil

        avail = int(psutil.virtual_memory().available)
    except ImportError:
        try:
            text = Path("/proc/meminfo").read_text()
            m = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
            if m:
                avail = int(m.group(1)) * 1024
        except OSError:
            pass
        if avail is None and hasattr(os, "sysconf"):
            try:
                avail = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
            except (ValueError, OSError):
                avail = None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            room = max(0, int(limit) - used)
            avail = room if avail is None else min(avail, room)
    except (OSError, ValueError):
        pass
    return avail


def default_memory_limit() -> int:
    """The default budget in bytes: ``min(4 GiB, 50 %`` of the available RAM), 4 GiB when the
    available RAM cannot be read."""
    avail = _available_ram()
    if avail is None:
        return DEFAULT_CAP
    return int(min(DEFAULT_CAP, DEFAULT_FRACTION * avail))


_UNITS = {
    "": 1, "b": 1,
    "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40,  # single letters: binary (as docker/java)
    "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
_MEMORY_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([a-zA-Z]*)\s*$")


def parse_memory(text: str | int) -> int:
    """Bytes of a memory size: ``"4GB"`` (10^9), ``"512MiB"`` (2^20), ``"2g"`` (a single letter
    is binary: 2 GiB), ``"1.5 GiB"``, or plain bytes (``"1048576"``, an int).

    Raises:
        MossfuseInputError: empty, negative, zero or unparseable text, or an unknown unit.
    """
    if isinstance(text, bool):
        raise MossfuseInputError(f"memory size must be text or bytes; got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        m = _MEMORY_RE.match(str(text))
        unit = m.group(2).lower() if m else ""
        if m is None or unit not in _UNITS:
            raise MossfuseInputError(
                f"cannot read memory size {text!r}; expected a number with an optional unit "
                "(B, KB, MB, GB, TB = powers of 1000; KiB, MiB, GiB, TiB or k, m, g, t = "
                "powers of 1024), e.g. 4GB or 512MiB"
            )
        value = int(float(m.group(1)) * _UNITS[unit])
    if value <= 0:
        raise MossfuseInputError(f"memory size must be positive; got {text!r}")
    return value


def format_bytes(n: float) -> str:
    """``3.2 GB`` / ``512 MB`` (powers of 1000, as in the docs and issue tables)."""
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    return f"{n / 1e6:.0f} MB"


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------
def _coefficients(method_name: str) -> tuple[float, float]:
    if method_name in _MODEL:
        return _MODEL[method_name]
    a = max(v[0] for v in _MODEL.values())
    k = max(v[1] for v in _MODEL.values())
    return a, k


def _check_geometry(hsi_bands: int, msi_bands: int, hr_hw: tuple[int, int] | list[int],
                    ratio: int) -> tuple[int, int]:
    if len(hr_hw) != 2 or min(int(v) for v in hr_hw) < 1:
        raise MossfuseInputError(f"hr_hw must be (H, W) > 0; got {hr_hw}")
    if hsi_bands < 1 or msi_bands < 1 or ratio < 1:
        raise MossfuseInputError(
            f"bands and ratio must be >= 1; got {hsi_bands}, {msi_bands}, {ratio}")
    return int(hr_hw[0]), int(hr_hw[1])


def estimate_whole_image_peak(method_name: str, hsi_bands: int, msi_bands: int,
                              hr_hw: tuple[int, int], ratio: int) -> int:
    """Estimated peak resident memory (bytes) of fusing the whole ``H x W`` scene in memory
    with ``method_name`` (module docstring: ``a + k H W (B + b)``)."""
    h, w = _check_geometry(hsi_bands, msi_bands, hr_hw, ratio)
    a, k = _coefficients(method_name)
    return int(a + k * h * w * (hsi_bands + msi_bands))


def estimate_tiled_peak(method_name: str, hsi_bands: int, msi_bands: int,
                        hr_hw: tuple[int, int], ratio: int, tile: int, overlap: int, *,
                        streamed_output: bool = True) -> int:
    """Estimated peak (bytes) of a serial tiled run: one tile's whole-image peak, the overlap
    strips held by the blender (a tile row's ``overlap x W x B`` float32, kept twice: the part
    of each of the two tiles), and the whole output when it cannot be streamed."""
    h, w = _check_geometry(hsi_bands, msi_bands, hr_hw, ratio)
    th, tw = min(tile, h), min(tile, w)
    peak = estimate_whole_image_peak(method_name, hsi_bands, msi_bands, (th, tw), ratio)
    strips = 2 * 4 * hsi_bands * overlap * w if tile < h else 2 * 4 * hsi_bands * overlap * th
    if tile < w:
        strips += 2 * 4 * hsi_bands * overlap * th
    peak += strips
    if not streamed_output:
        peak += 4 * hsi_bands * h * w
    return int(peak)


@dataclass(frozen=True)
class TilePlanChoice:
    """What :func:`choose_tiling` decided: tile the scene, and how.

    Attributes:
        tile, overlap: HR px (multiples of r) for :func:`~mossfuse.engine.tiling.plan_tiles`.
        whole_peak_bytes: estimated peak of the whole-image path.
        tiled_peak_bytes: estimated peak with these tiles.
        memory_limit: the budget (bytes).
        fits: whether ``tiled_peak_bytes <= memory_limit`` (False: even the smallest tile
            tried is estimated over the budget; the run is tried anyway).
    """

    tile: int
    overlap: int
    whole_peak_bytes: int
    tiled_peak_bytes: int
    memory_limit: int
    method: str = ""
    fits: bool = True

    @property
    def reason(self) -> str:
        """One line for the user (what the CLI prints)."""
        line = (f"tiling: {self.method or 'the method'} on the whole image would peak at about "
                f"{format_bytes(self.whole_peak_bytes)}, over the memory limit of "
                f"{format_bytes(self.memory_limit)}; fusing in {self.tile} px tiles "
                f"(overlap {self.overlap} px, estimated peak "
                f"{format_bytes(self.tiled_peak_bytes)})")
        if not self.fits:
            line += "; still over the limit: raise --memory-limit or give a smaller --tile-size"
        return line


def choose_tiling(method_name: str, hsi_bands: int, msi_bands: int, hr_hw: tuple[int, int],
                  ratio: int, memory_limit: int | None = None, *,
                  streamed_output: bool = True) -> TilePlanChoice | None:
    """None when the whole-image path fits ``memory_limit``; else the tiles to use.

    The tile starts at the method's default (:func:`~mossfuse.engine.tiling.default_tile`,
    chosen for quality: ``benchmarks/tile_quality``) and is halved (kept a multiple of r, at
    least ``4 r``) until the estimated tiled peak fits; the overlap is
    :func:`~mossfuse.engine.tiling.default_overlap` of that tile.

    Args:
        method_name: registered method name (unknown names get the most memory-hungry model).
        hsi_bands, msi_bands: B and b.
        hr_hw: ``(H, W)`` of the HR grid.
        ratio: r.
        memory_limit: bytes (default :func:`default_memory_limit`).
        streamed_output: False when the output format is assembled in memory (``.mat``...).
    """
    from mossfuse.engine.tiling import default_overlap, default_tile

    limit = default_memory_limit() if memory_limit is None else int(memory_limit)
    if limit <= 0:
        raise MossfuseInputError(f"memory limit must be positive; got {memory_limit}")
    h, w = _check_geometry(hsi_bands, msi_bands, hr_hw, ratio)
    whole = estimate_whole_image_peak(method_name, hsi_bands, msi_bands, (h, w), ratio)
    if whole <= limit:
        return None
    r = int(ratio)
    tile = default_tile(r, method_name)
    smallest = 4 * r
    while True:
        overlap = default_overlap(tile, r)
        peak = estimate_tiled_peak(method_name, hsi_bands, msi_bands, (h, w), r, tile,
                                   overlap, streamed_output=streamed_output)
        if peak <= limit or tile <= smallest:
            break
        tile = max(smallest, r * math.ceil(tile / 2 / r))
    return TilePlanChoice(tile, overlap, whole, peak, limit, method_name, peak <= limit)
