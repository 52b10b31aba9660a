"""Checks on an output path, done before any work (so a bad ``--out`` fails in a second, not
after the fusion).

Convention:
    An output never replaces an input: ``out`` is compared with every input after resolving
    ``..`` and symbolic links, and by inode when both exist (hard links). ENVI outputs are two
    files (``.hdr`` + ``.img``): both are compared. The folder of ``out`` (or the nearest
    existing ancestor, which the writer will create sub-folders in) must be a writable folder,
    and the extension one that :func:`mossfuse.data.io.write_cube` writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from mossfuse.errors import MossfuseInputError

__all__ = ["check_output_path", "output_siblings"]


def output_siblings(out: Path) -> list[Path]:
    """Every file writing ``out`` creates under a final name (the ``.img`` of an ENVI ``.hdr``
    and the SRF/PSF files beside it included)."""
    names = [out]
    if out.suffix.lower() == ".hdr":
        names.append(out.with_suffix(".img"))
    stem = out.with_suffix("")
    names += [stem.with_name(f"{stem.name}.{kind}.{ext}")
              for kind in ("srf", "psf") for ext in ("csv", "png")]
    return names


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _input_files(path: Path) -> list[Path]:
    """An input and the files it is made of (ENVI: header and data)."""
    files = [path]
    if path.suffix.lower() == ".hdr":
        files += [path.with_suffix(s) for s in (".img", ".raw", ".dat", "")]
    else:
        files += [path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")]
    return [f for f in files if f == path or f.exists()]


def check_output_path(out: str | Path, inputs: Iterable[str | Path | None] = (),
                      what: str = "output") -> Path:
    """Check ``out`` before the work starts; return it as a ``Path``.

    Raises:
        MossfuseInputError: ``out`` (or a file written with it) is one of ``inputs``; it is
            an existing folder; its extension is not a cube format; its folder is not
            writable (or a path component is a file).
    """
    from mossfuse.data.io import CUBE_FORMATS

    out = Path(out)
    known = sorted({e for exts in CUBE_FORMATS.values() for e in exts})
    if out.suffix.lower() not in known:
        raise MossfuseInputError(
            f"unknown {what} extension {out.suffix!r}; expected one of {known} (the format "
            "follows the extension)", out)
    if out.is_dir():
        raise MossfuseInputError(f"the {what} is an existing folder; give a file name", out)
    written = output_siblings(out)
    for inp in inputs:
        if inp is None:
            continue
        for src in _input_files(Path(inp)):
            for dst in written:
                if _same_file(dst, src):
                    raise MossfuseInputError(
                        f"the {what} would overwrite the input {src} (same file after "
                        "resolving links and '..'); choose another --out", out)
    parent = out.parent if str(out.parent) else Path(".")
    probe = parent
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise MossfuseInputError(f"cannot create the {what}'s folder {parent}: {probe} is a "
                                 "file, not a folder", out)
    import tempfile

    try:  # a real probe: os.access says yes to root on a read-only mount
        with tempfile.TemporaryFile(dir=probe, prefix=".mossfuse-probe."):
            pass
    except OSError as exc:
        raise MossfuseInputError(f"the {what}'s folder {probe} is not writable "
                                 f"({exc.strerror or exc})", out) from None
    return out
