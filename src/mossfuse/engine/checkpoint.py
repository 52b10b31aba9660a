"""Checkpoints of finished tiles, so an interrupted tiled fusion resumes where it stopped.

Layout of the work folder (``<out>.tiles/`` from the CLI)::

    manifest.json        {"version": 1, "fingerprint": sha256, "run": {...what it hashes...}}
    tile_000012.npy      the fused tile 12, (B, th, tw) float32, before blending

The fingerprint hashes everything the tiles depend on: the input files (resolved path, size,
modification time; in-memory cubes by a hash of their bytes), the method name and config, the
tiling plan and the degradation given to the tiles. Resuming against a different fingerprint is
an error (never a silent mix of two runs). Every tile file is written to a temporary name and
renamed, so a tile is either complete or absent; the final output is only ever written after
every tile is done (:mod:`mossfuse.engine.tiling`), so an interruption leaves the work folder
and no output file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.engine.streaming import CubeReader, StreamedInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.degradation import Degradation

__all__ = ["TileCheckpoint", "reader_fingerprint", "run_fingerprint"]

_VERSION = 1
_MANIFEST = "manifest.json"


def _hash_array(a: Any) -> str | None:
    if a is None:
        return None
    arr = np.ascontiguousarray(np.asarray(a))
    h = hashlib.sha256(str((arr.dtype.str, arr.shape)).encode())
    h.update(arr.tobytes())
    return h.hexdigest()


def reader_fingerprint(reader: CubeReader) -> dict[str, Any]:
    """Identity of a reader's data: file path, size and mtime, or a hash of an array."""
    info: dict[str, Any] = {"kind": type(reader).__name__, "shape": list(reader.shape)}
    if reader.path is not None:
        st = reader.path.stat()
        info.update(path=str(reader.path), size=st.st_size, mtime_ns=st.st_mtime_ns)
        for opt in ("key", "scale", "allow_unnormalized"):
            if hasattr(reader, opt):
                info[opt] = getattr(reader, opt)
    else:
        info["sha256"] = _hash_array(reader.read_all())
    return info


def run_fingerprint(source: StreamedInputs, method: Any, plan: Any,
                    degradation: Degradation | None = None) -> dict[str, Any]:
    """Everything the fused tiles depend on, as a JSON-able dict (see module docstring);
    ``degradation`` is the one the tiles receive (None: the scene's own)."""
    deg = source.degradation if degradation is None else degradation
    return {
        "inputs": {"lr": reader_fingerprint(source.lr), "hr": reader_fingerprint(source.hr),
                   "ratio": source.ratio},
        "method": {"name": getattr(method, "name", type(method).__name__),
                   "class": f"{type(method).__module__}.{type(method).__qualname__}",
                   "config": method.config.model_dump(mode="json")},
        "tiling": plan.describe(),
        "degradation": {
            "srf": _hash_array(deg.srf), "psf": _hash_array(deg.psf),
            "phase": deg.phase, "psf_centre": deg.centre,
        },
    }


def _digest(run: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(run, sort_keys=True, default=str).encode()).hexdigest()


class TileCheckpoint:
    """The work folder of one tiled run.

    Args:
        folder: the work folder (created when missing).
        run: :func:`run_fingerprint` of this run.
        resume: reuse tiles already in ``folder``; without it, an existing folder made by a
            mossfuse run is emptied first.
    """

    def __init__(self, folder: str | Path, run: dict[str, Any], *, resume: bool):
        self.folder = Path(folder)
        self.run, self.resume = run, resume
        self.fingerprint = _digest(run)

    def _tile_path(self, index: int) -> Path:
        return self.folder / f"tile_{index:06d}.npy"

    def open(self) -> set[int]:
        """Prepare the folder; return the indices of the tiles already done (resume only)."""
        manifest = self.folder / _MANIFEST
        if self.folder.exists() and not self.folder.is_dir():
            raise MossfuseInputError("work folder path exists and is not a folder", self.folder)
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text())
            except (OSError, ValueError):
                old = {}
            if self.resume and old.get("fingerprint") != self.fingerprint:
                prev = old.get("run", {})
                keys = set(prev) | set(self.run)
                diff = sorted(k for k in keys if prev.get(k) != self.run.get(k))
                raise MossfuseInputError(
                    "the work folder was made by a different run (differs in: "
                    f"{', '.join(diff) or 'format'}); delete it or run without --resume",
                    self.folder,
                )
            if not self.resume:
                self._clear()
        elif self.folder.is_dir() and any(self.folder.iterdir()):
            raise MossfuseInputError(
                "work folder exists, is not empty and has no mossfuse manifest; refusing to use "
                "it", self.folder,
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(manifest) as tmp:
            tmp.write_text(json.dumps(
                {"version": _VERSION, "fingerprint": self.fingerprint, "run": self.run},
                indent=1, sort_keys=True, default=str,
            ))
        if not self.resume:
            return set()
        done = set()
        for p in self.folder.glob("tile_*.npy"):
            try:
                done.add(int(p.stem.split("_")[1]))
            except (IndexError, ValueError):
                continue
        return done

    def load(self, tile: Any) -> np.ndarray | None:
        """The saved block of ``tile``, or None when absent or unreadable (recomputed)."""
        try:
            block = np.load(self._tile_path(tile.index), allow_pickle=False)
        except (OSError, ValueError):
            return None
        if block.ndim != 3 or tuple(block.shape[1:]) != tuple(tile.hr_shape):
            return None
        return block.astype(np.float32, copy=False)

    def save(self, tile: Any, block: np.ndarray) -> None:
        with atomic_path(self._tile_path(tile.index)) as tmp:
            np.save(tmp, np.asarray(block, dtype=np.float32))

    def _clear(self) -> None:
        for p in self.folder.glob("tile_*.npy"):
            p.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the work folder (after a successful run)."""
        self._clear()
        (self.folder / _MANIFEST).unlink(missing_ok=True)
        for p in self.folder.glob(".*.partial.*"):
            p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # someone else's files in it: leave the folder
            self.folder.rmdir()
