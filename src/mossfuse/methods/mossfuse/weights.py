"""Which MossFuse weights to use, the user's weights folder, and importing the authors' file.

Order used by :class:`~mossfuse.methods.mossfuse.method.MossFuse` when nobody loaded weights
into it (so ``mossfuse fuse --method mossfuse`` and every other caller get the same choice):

1. weights given explicitly (``--weights FILE`` / ``MossFuse.load``): never overridden;
2. ``$MOSSFUSE_WEIGHTS`` (a ``.safetensors`` of ours or the authors' ``.pth``);
3. an imported checkpoint in the user's weights folder matching the inputs' B, b and ratio
   (``$MOSSFUSE_HOME/weights``, else ``$XDG_DATA_HOME/mossfuse/weights``, else
   ``~/.local/share/mossfuse/weights``; ``mossfuse weights import FILE.pth`` writes there); the
   newest one when several match;
4. the weights shipped with the package (:data:`~.method.SHIPPED_WEIGHTS`).

:func:`describe_weights` says in one line which of these applies (for ``mossfuse methods``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from mossfuse.errors import MossfuseInputError

ENV_WEIGHTS = "MOSSFUSE_WEIGHTS"
ENV_HOME = "MOSSFUSE_HOME"


@dataclass(frozen=True)
class WeightsChoice:
    """A checkpoint path and why it was chosen (``source``)."""

    path: Path
    source: str

    def describe(self) -> str:
        return f"{self.path} [{self.source}]"


def user_weights_dir() -> Path:
    """The user's weights folder (not created here)."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser() / "weights"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "mossfuse" / "weights"


def _checkpoint_key(meta: Path) -> tuple[int, int, int] | None:
    """``(hsi_bands, msi_bands, ratio)`` of one of our checkpoint JSON files, or None."""
    try:
        doc = json.loads(meta.read_text())
        cfg = doc["config"]
        if doc.get("method") != "mossfuse" or not doc.get("trained", False):
            return None
        return int(cfg["hsi_bands"]), int(cfg["msi_bands"]), int(cfg["ratio"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_user_weights(hsi_bands: int, msi_bands: int, ratio: int,
                      folder: Path | None = None) -> Path | None:
    """The newest trained MossFuse checkpoint (``.safetensors`` with its ``.json``) in the user's
    weights folder for ``(B, b, r)``, or None."""
    folder = user_weights_dir() if folder is None else folder
    if not folder.is_dir():
        return None
    want = (int(hsi_bands), int(msi_bands), int(ratio))
    found = [m.with_suffix(".safetensors") for m in folder.glob("*.json")
             if _checkpoint_key(m) == want and m.with_suffix(".safetensors").is_file()]
    if not found:
        return None
    return max(found, key=lambda p: (p.stat().st_mtime, p.name))


def resolve_weights(hsi_bands: int, msi_bands: int, ratio: int) -> WeightsChoice | None:
    """Steps 2-4 of the module docstring for inputs with ``(B, b, r)``."""
    from mossfuse.methods.mossfuse.method import shipped_weights

    env = os.environ.get(ENV_WEIGHTS)
    if env:
        path = Path(env).expanduser()
        if not (path.exists() or path.with_name(path.name + ".safetensors").exists()):
            raise MossfuseInputError(f"{ENV_WEIGHTS} names a file that does not exist", path)
        return WeightsChoice(path, ENV_WEIGHTS)
    user = find_user_weights(hsi_bands, msi_bands, ratio)
    if user is not None:
        return WeightsChoice(user, f"user weights folder {user_weights_dir()}")
    shipped = shipped_weights(hsi_bands, msi_bands, ratio)
    if shipped is not None:
        return WeightsChoice(shipped, "shipped with mossfuse")
    return None


def describe_weights(hsi_bands: int = 31, msi_bands: int = 3, ratio: int = 32) -> str:
    """One line: the weights ``mossfuse fuse --method mossfuse`` uses for ``(B, b, r)`` inputs
    without ``--weights`` (default: CAVE-like 31 bands, RGB, x32)."""
    try:
        choice = resolve_weights(hsi_bands, msi_bands, ratio)
    except MossfuseInputError as exc:
        return f"B={hsi_bands}, b={msi_bands}, x{ratio}: {exc}"
    if choice is None:
        return (f"B={hsi_bands}, b={msi_bands}, x{ratio}: no weights (untrained; give --weights, "
                f"set {ENV_WEIGHTS} or `mossfuse weights import`)")
    origin = checkpoint_origin(choice.path)
    return (f"B={hsi_bands}, b={msi_bands}, x{ratio}: {choice.describe()}"
            + (f", {origin}" if origin else ""))


def checkpoint_origin(path: str | Path) -> str | None:
    """``"imported from <file>"`` for a checkpoint made by :func:`import_official`, ``"authors'
    release (.pth)"`` for a ``.pth``, else None."""
    from mossfuse.methods.mossfuse.official import is_torch_checkpoint

    p = Path(path)
    if is_torch_checkpoint(p):
        return "authors' release (.pth)"
    meta = p.with_suffix(".json") if p.suffix == ".safetensors" else p.with_name(p.name + ".json")
    try:
        origin = json.loads(meta.read_text()).get("origin")
    except (OSError, ValueError):
        return None
    if isinstance(origin, dict) and origin.get("file"):
        return f"imported from {Path(origin['file']).name}"
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_official(path: str | Path, out_dir: str | Path | None = None,
                    ratio: int = 32, name: str | None = None) -> Path:
    """Convert the authors' ``.pth`` into our checkpoint format in ``out_dir`` (default: the
    user's weights folder) and return the ``.safetensors`` path (its ``.json`` beside it).

    Args:
        path: the authors' checkpoint (read with ``torch.load(weights_only=True)`` only).
        out_dir: output folder (created).
        ratio: the ratio the checkpoint was trained for (the file does not store it; the
            release ``CAVE_32_model.pth`` is x32). Sets the PSF size (``r - 1`` taps).
        name: file stem (default: the ``.pth`` stem).

    Both files are written to temporary names and renamed only when both are complete.
    """
    from mossfuse.methods.mossfuse.method import MossFuse

    src = Path(path)
    out = user_weights_dir() if out_dir is None else Path(out_dir)
    stem = name or src.stem
    target = out / f"{stem}.safetensors"
    if target.resolve() == src.resolve() or target.with_suffix(".json").resolve() == src.resolve():
        raise MossfuseInputError("the output would overwrite the input", src)
    model = MossFuse(ratio=ratio)
    model.load(src)
    model.save(target, origin={"kind": "mossfuse-official", "file": str(src.resolve()),
                               "sha256": _sha256(src), "ratio_assumed": int(ratio)})
    return target
