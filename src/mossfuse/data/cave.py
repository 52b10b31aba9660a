"""The CAVE multispectral image database (Columbia): scene reader, dataset, splits, checksums.

Reference: Yasuma, Mitsunaga, Iso, Nayar, "Generalized Assorted Pixel Camera: Post-Capture
Control of Resolution, Dynamic Range and Spectrum", IEEE TIP 2010.

Convention:
    A scene ``<name>`` is the folder ``<name>_ms`` holding ``<name>_ms_NN.png``, NN = 01..31 for
    400, 410, ..., 700 nm, either directly or one level deeper (``<name>_ms/<name>_ms/``, the
    official download). Bands are 16-bit greyscale PNGs divided by 65535, except the quirk of
    the official ``watercolors`` scene: 8-bit RGBA PNGs, of which channel 0 is taken and divided
    by 255. The cube is ``(31, 512, 512)`` float32 in [0, 1]; ``meta["scale"]`` is the divisor.

Splits:
    ``OFFICIAL_TEST_SPLIT`` is the 12-scene test split of the MossFuse paper and
    ``OFFICIAL_TRAIN_SPLIT`` the other 20 of the 32 CAVE scenes. ``DEV_SPLIT`` divides the 16
    scenes of the project's local copy (all from the official training split) into 12
    ``dev-train`` and 4 ``dev-val`` scenes; ``dev-val`` holds one scene of each kind: natural
    objects (``flowers``), saturated colourful objects (``jelly_beans``), a human face
    (``face``) and a painting (``oil_painting``). Results on ``dev-val`` are development numbers,
    never held-out ones.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mossfuse.data.scene import Scene
from mossfuse.errors import MossfuseInputError

__all__ = [
    "ALL_SCENES",
    "CAVE_BANDS",
    "CAVE_WAVELENGTHS_NM",
    "DEV_SPLIT",
    "OFFICIAL_TEST_SPLIT",
    "OFFICIAL_TRAIN_SPLIT",
    "SPLITS",
    "CaveDataset",
    "ChecksumReport",
    "SplitSelection",
    "find_band_files",
    "read_cave_scene",
    "verify_checksums",
]

log = logging.getLogger(__name__)

CAVE_BANDS = 31
#: Band centres (nm): 400, 410, ..., 700.
CAVE_WAVELENGTHS_NM = np.arange(400.0, 701.0, 10.0)

#: The 32 scenes of the CAVE database.
ALL_SCENES: tuple[str, ...] = (
    "balloons", "beads", "cd", "chart_and_stuffed_toy", "clay", "cloth", "egyptian_statue",
    "face", "fake_and_real_beers", "fake_and_real_food", "fake_and_real_lemon_slices",
    "fake_and_real_lemons", "fake_and_real_peppers", "fake_and_real_strawberries",
    "fake_and_real_sushi", "fake_and_real_tomatoes", "feathers", "flowers", "glass_tiles",
    "hairs", "jelly_beans", "oil_painting", "paints", "photo_and_face", "pompoms",
    "real_and_fake_apples", "real_and_fake_peppers", "sponges", "stuffed_toys", "superballs",
    "thread_spools", "watercolors",
)
#: The MossFuse paper's 12 test scenes (none of them is in the project's local copy).
OFFICIAL_TEST_SPLIT: tuple[str, ...] = (
    "balloons", "clay", "egyptian_statue", "fake_and_real_beers", "fake_and_real_lemons",
    "fake_and_real_peppers", "fake_and_real_tomatoes", "hairs", "real_and_fake_apples",
    "real_and_fake_peppers", "stuffed_toys", "thread_spools",
)
#: The other 20 CAVE scenes.
OFFICIAL_TRAIN_SPLIT: tuple[str, ...] = tuple(s for s in ALL_SCENES if s not in OFFICIAL_TEST_SPLIT)
#: Development split of the 16 local scenes (12 train / 4 validation; see module docstring).
DEV_SPLIT: dict[str, tuple[str, ...]] = {
    "dev-train": (
        "beads", "cd", "chart_and_stuffed_toy", "cloth", "fake_and_real_food",
        "fake_and_real_lemon_slices", "fake_and_real_strawberries", "fake_and_real_sushi",
        "feathers", "glass_tiles", "paints", "watercolors",
    ),
    "dev-val": ("face", "flowers", "jelly_beans", "oil_painting"),
}
#: Every split name accepted by :meth:`CaveDataset.split`.
SPLITS: dict[str, tuple[str, ...]] = {
    "all": ALL_SCENES,
    "train": OFFICIAL_TRAIN_SPLIT,
    "test": OFFICIAL_TEST_SPLIT,
    **DEV_SPLIT,
}


# --------------------------------------------------------------------------------------------
# One scene
# --------------------------------------------------------------------------------------------
def _scene_name_of(folder: Path) -> str:
    name = folder.name
    if not name.endswith("_ms"):
        raise MossfuseInputError(
            "not a CAVE scene folder: expected a folder named '<scene>_ms'", folder
        )
    return name[: -len("_ms")]


def find_band_files(folder: str | Path) -> list[Path]:
    """The 31 band PNGs of a CAVE scene folder, in wavelength order.

    Args:
        folder: ``<root>/<scene>_ms``; the bands may sit in it or in ``<scene>_ms/<scene>_ms/``.

    Raises:
        MossfuseInputError: no band file in either place, or a band file missing (named).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MossfuseInputError("CAVE scene folder not found", folder)
    stem = f"{_scene_name_of(folder)}_ms"
    for band_dir in (folder, folder / folder.name):
        if (band_dir / f"{stem}_01.png").exists():
            files = [band_dir / f"{stem}_{i:02d}.png" for i in range(1, CAVE_BANDS + 1)]
            for f in files:
                if not f.is_file():
                    raise MossfuseInputError(
                        f"CAVE band file missing (expected {CAVE_BANDS} bands "
                        f"{stem}_01.png..{stem}_{CAVE_BANDS}.png)",
                        f,
                    )
            return files
    raise MossfuseInputError(
        f"no CAVE band files {stem}_NN.png in {folder} or {folder / folder.name}", folder
    )


def _read_band(path: Path) -> tuple[np.ndarray, float]:
    """One band as float32 ``(H, W)`` in [0, 1] and its divisor."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            arr = np.asarray(im)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise MossfuseInputError(
            f"cannot read CAVE band PNG (corrupt or truncated?): {exc}", path
        ) from exc
    if arr.ndim == 3:  # the watercolors quirk: 8-bit RGBA, R = G = B
        arr = arr[..., 0]
    if arr.dtype == np.uint8:
        divisor = 255.0
    elif arr.dtype in (np.uint16, np.int32) and (arr.dtype == np.uint16 or arr.min() >= 0):
        divisor = 65535.0  # Pillow may give 16-bit PNGs as int32 (mode 'I')
    else:
        raise MossfuseInputError(
            f"unexpected CAVE band dtype {arr.dtype} shape {arr.shape}; "
            "expected 16-bit greyscale or 8-bit RGBA PNG",
            path,
        )
    return arr.astype(np.float32) / np.float32(divisor), divisor


def read_cave_scene(folder: str | Path) -> Scene:
    """Read a CAVE scene folder ``<root>/<scene>_ms`` (either nesting) into a Scene.

    Returns:
        Scene ``(31, H, W)`` float32 in [0, 1] (512 x 512 for CAVE), wavelengths 400..700 nm,
        ``name`` = the scene name, ``meta`` with ``source`` (the folder), ``format``
        (``"cave"``), ``scale`` (65535, or 255 for 8-bit scenes) and ``band_files``.

    Raises:
        MossfuseInputError: missing/corrupt band (names the file), or bands of unequal sizes.
    """
    folder = Path(folder)
    files = find_band_files(folder)
    bands: list[np.ndarray] = []
    divisors: set[float] = set()
    for f in files:
        band, divisor = _read_band(f)
        if bands and band.shape != bands[0].shape:
            raise MossfuseInputError(
                f"band size {band.shape} differs from {files[0].name}'s {bands[0].shape}", f
            )
        bands.append(band)
        divisors.add(divisor)
    if len(divisors) != 1:
        raise MossfuseInputError(f"bands mix bit depths (divisors {sorted(divisors)})", folder)
    meta = {
        "source": str(folder),
        "format": "cave",
        "scale": divisors.pop(),
        "band_files": [str(f) for f in files],
    }
    return Scene(np.stack(bands), CAVE_WAVELENGTHS_NM.copy(), _scene_name_of(folder), meta)


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SplitSelection:
    """The scenes of a split found under a root, and those missing."""

    split: str
    present: tuple[str, ...]
    missing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return not self.missing


class CaveDataset:
    """The CAVE scenes present under ``root`` (``root/<scene>_ms``, either nesting).

    Args:
        root: folder holding the ``<scene>_ms`` folders.
        cache_size: how many loaded scenes :meth:`load` keeps (least recently used dropped).

    Example:
        >>> ds = CaveDataset("../shared/data/cave")  # doctest: +SKIP
        >>> sel = ds.split("dev-val"); scene = ds.load(sel.present[0])  # doctest: +SKIP
    """

    def __init__(self, root: str | Path, cache_size: int = 4):
        self.root = Path(root)
        if not self.root.is_dir():
            raise MossfuseInputError("CAVE root folder not found", self.root)
        if cache_size < 0:
            raise MossfuseInputError(f"cache_size must be >= 0; got {cache_size}")
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, Scene] = OrderedDict()
        found = []
        for d in sorted(self.root.iterdir()):
            if d.is_dir() and d.name.endswith("_ms"):
                stem = d.name
                if (d / f"{stem}_01.png").exists() or (d / stem / f"{stem}_01.png").exists():
                    found.append(stem[: -len("_ms")])
        self.scenes: tuple[str, ...] = tuple(found)

    def __len__(self) -> int:
        return len(self.scenes)

    def __iter__(self) -> Iterator[str]:
        return iter(self.scenes)

    def __contains__(self, name: object) -> bool:
        return name in self.scenes

    def __repr__(self) -> str:
        return f"CaveDataset(root={str(self.root)!r}, scenes={len(self.scenes)})"

    def split(self, name: str) -> SplitSelection:
        """The scenes of split ``name`` (a key of :data:`SPLITS`) that are present here.

        Missing scenes are listed in the result and logged as a warning, never silently dropped.
        """
        if name not in SPLITS:
            raise MossfuseInputError(f"unknown CAVE split {name!r}; expected one of {list(SPLITS)}")
        wanted = SPLITS[name]
        present = tuple(s for s in wanted if s in self.scenes)
        missing = tuple(s for s in wanted if s not in self.scenes)
        if missing:
            log.warning(
                "CAVE split %r: %d of %d scenes missing under %s: %s",
                name, len(missing), len(wanted), self.root, ", ".join(missing),
            )
        return SplitSelection(name, present, missing)

    def folder(self, name: str) -> Path:
        if name not in self.scenes:
            raise MossfuseInputError(
                f"CAVE scene {name!r} not found; scenes present: {list(self.scenes)}", self.root
            )
        return self.root / f"{name}_ms"

    def load(self, name: str) -> Scene:
        """Load scene ``name`` (cached). Returns a fresh copy, so callers may modify it."""
        scene = self._cache.get(name)
        if scene is None:
            scene = read_cave_scene(self.folder(name))
            if self.cache_size:
                self._cache[name] = scene
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(name)
        return Scene(scene.cube.copy(), scene.wavelengths_nm.copy(), scene.name, dict(scene.meta))

    def load_split(self, name: str) -> Iterator[Scene]:
        """Yield the present scenes of split ``name`` one by one."""
        for s in self.split(name).present:
            yield self.load(s)


# --------------------------------------------------------------------------------------------
# Integrity
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChecksumReport:
    """Result of :func:`verify_checksums`: files checked, mismatched and missing."""

    checked: tuple[str, ...]
    mismatched: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return bool(self.checked) and not self.mismatched and not self.missing


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksums(
    root: str | Path,
    scenes: Iterable[str] | None = None,
    *,
    sums_file: str | Path | None = None,
    strict: bool = False,
) -> ChecksumReport:
    """Check CAVE files against ``root/SHA256SUMS`` (``sha256sum`` format).

    Args:
        root: the CAVE folder. Entries may be relative to it or to its parent (the shipped file
            lists ``cave/<scene>_ms/...``).
        scenes: check only these scenes' entries (hashing all 16 scenes reads ~200 MB).
        sums_file: another checksum file.
        strict: raise :class:`MossfuseInputError` naming the first bad file instead of returning.

    Returns:
        ChecksumReport (``.ok`` is True when something was checked and all matched).
    """
    root = Path(root)
    sums = Path(sums_file) if sums_file is not None else root / "SHA256SUMS"
    if not sums.is_file():
        raise MossfuseInputError("checksum file not found", sums)
    wanted = None if scenes is None else {f"{s}_ms" for s in scenes}
    checked, bad, missing = [], [], []
    for lineno, line in enumerate(sums.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise MossfuseInputError(f"line {lineno} is not '<sha256>  <path>': {line!r}", sums)
        digest, rel = parts[0].lower(), parts[1].strip().lstrip("*")
        rel_path = Path(rel)
        if wanted is not None and not wanted.intersection(rel_path.parts):
            continue
        candidates = [root / rel_path]
        if rel_path.parts and rel_path.parts[0] == root.name:
            candidates.append(root / Path(*rel_path.parts[1:]))
        target = next((c for c in candidates if c.is_file()), None)
        if target is None:
            missing.append(rel)
            if strict:
                raise MossfuseInputError("file listed in SHA256SUMS is missing", candidates[-1])
            continue
        checked.append(rel)
        if _sha256(target) != digest:
            bad.append(rel)
            if strict:
                raise MossfuseInputError("SHA256 mismatch (file corrupt or changed)", target)
    return ChecksumReport(tuple(checked), tuple(bad), tuple(missing))
