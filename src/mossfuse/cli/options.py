"""Option parsing shared by the subcommands (comma lists, ``name=path`` pairs, scene
selection) and the small file helpers they use; imports nothing heavy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from mossfuse.errors import MossfuseInputError

CUBE_FORMATS = ("npy", "npz", "mat", "tif", "hdr")
"""File formats ``mossfuse simulate --format`` writes."""

# Options shared by several subcommands (same name, type and help everywhere)
HsiKey = Annotated[str | None, typer.Option(help="Variable in a .mat/.npz LR-HSI")]
MsiKey = Annotated[str | None, typer.Option(help="Variable in a .mat/.npz HR-MSI")]
DatasetKind = Annotated[str | None, typer.Option(help="Dataset kind: 'cave'")]
DatasetRoot = Annotated[Path | None, typer.Option(help="Dataset root folder")]
CaveRoot = Annotated[Path, typer.Option(help="CAVE root folder")]
Scenes = Annotated[str | None, typer.Option(help="Comma-separated scene names")]
Split = Annotated[str | None, typer.Option(help="Named split (test, dev-val, ...)")]
Seed = Annotated[int, typer.Option(help="Seed for every method")]
Threads = Annotated[int | None, typer.Option(help="torch threads")]


def split_list(text: str | None) -> list[str] | None:
    """A comma-separated option value as a list (blanks dropped); None for no value.

    >>> split_list(" cd, face,,")
    ['cd', 'face']
    """
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def parse_pair(text: str) -> tuple[str, str]:
    """``name=path`` as ``(name, path)`` (stripped).

    >>> parse_pair("mossfuse = runs/a/best.safetensors")
    ('mossfuse', 'runs/a/best.safetensors')
    """
    if "=" not in text:
        raise MossfuseInputError(f"expected name=path; got '{text}'")
    name, path = text.split("=", 1)
    return name.strip(), path.strip()


def named_scenes(ds: Any, names: str | None, split: str | None) -> list[str] | None:
    """Scenes of a dataset chosen by ``--scenes`` (a comma list, first) or ``--split`` (its
    present scenes; missing ones are named on stderr); None when neither is given."""
    listed = split_list(names)
    if listed is not None or split is None:
        return listed
    sel = ds.split(split)
    if sel.missing:
        typer.echo(f"split '{split}': missing scenes skipped: {', '.join(sel.missing)}", err=True)
    return list(sel.present)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed once complete)."""
    from mossfuse._atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text)
