"""Atomic file writes: write to a temporary name in the same folder, then rename.

A crash or an error leaves either the complete file under its final name or nothing (the
temporary is removed); an existing file at the final name is only replaced once the new one is
complete.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(final: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success rename it to ``final``.

    ``suffix`` defaults to ``final``'s suffix so libraries that pick a format from the
    extension (rasterio, numpy) still see it.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{partial_prefix(final)}{os.getpid()}.",
        suffix=final.suffix if suffix is None else suffix, dir=final.parent,
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


def partial_prefix(final: str | Path) -> str:
    """Name prefix of the temporary files of ``final``: ``.<stem>.partial.`` (then the writing
    process's PID and a random part)."""
    return f".{Path(final).stem}.partial."


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_partials(final: str | Path) -> list[Path]:
    """Delete the temporary files a killed run (SIGKILL, power loss) left for ``final``.

    Only files whose writing process is gone are removed (the PID is in the name), so a
    concurrent run writing the same name keeps its own. Returns the paths removed.
    """
    final = Path(final)
    if not final.parent.is_dir():
        return []
    removed = []
    prefix = partial_prefix(final)
    for p in final.parent.glob(f"{glob_escape(prefix)}*"):
        pid_text = p.name[len(prefix):].split(".", 1)[0]
        if pid_text.isdigit() and _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            if p.is_file() and not p.is_symlink():
                p.unlink()
                removed.append(p)
    return removed


def glob_escape(text: str) -> str:
    """``text`` with the glob metacharacters escaped (``glob.escape``)."""
    import glob

    return glob.escape(text)


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Rows (dicts) as CSV, atomically; the columns are the union of the keys in first-seen
    order."""
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return write_text(path, buf.getvalue())
