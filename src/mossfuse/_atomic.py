"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or an error leaves either the complete file under its final name or nothing (the
temporary is removed); an existing file at the final name is only replaced once the new one is
complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success rename it to ``final``.

    ``suffix`` defaults to ``final``'s suffix so libraries that pick a format from the
    extension (rasterio, numpy) still see it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.stem}.partial.", suffix=final.suffix if suffix is None else suffix,
        dir=final.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600 files: give the usual umask permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise
