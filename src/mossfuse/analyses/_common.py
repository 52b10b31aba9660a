"""Small helpers shared by the analyses: output files, machine header, weights lookup."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path, write_csv, write_text  # noqa: F401 (re-exported)
from mossfuse.errors import MossfuseInputError

#: Where the shipped MossFuse weights live (``mossfuse_x32.safetensors`` + ``.json``).
SHIPPED_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


def default_weights(method: str) -> str | None:
    """The shipped checkpoint of a learned method when present (``mossfuse`` ->
    ``src/mossfuse/weights/mossfuse_x32.safetensors``), else None."""
    if method != "mossfuse":
        return None
    path = SHIPPED_WEIGHTS_DIR / "mossfuse_x32.safetensors"
    return str(path) if path.exists() else None


def parse_pairs(items: Iterable[str] | None) -> dict[str, str]:
    """``["name=value", ...]`` (or one comma-separated string per item) -> dict."""
    out: dict[str, str] = {}
    for item in items or []:
        for part in item.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                raise MossfuseInputError(f"expected name=value; got '{part}'")
            name, value = part.split("=", 1)
            out[name.strip()] = value.strip()
    return out


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback for numpy scalars and arrays."""
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.floating | np.integer):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o).__name__)


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (atomically)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=json_default))
    return path


def machine_line() -> str:
    """One line describing this machine (CPU, cores, torch threads, load at start)."""
    from mossfuse.bench.runner import machine_description

    m = machine_description()
    return (f"{m['cpu']}, {m['logical_cores']} logical cores, torch threads "
            f"{m['torch_threads']}, {m['gpu']}, 1/5/15-min load average at start "
            f"{m['load_average_at_start']}")


def md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    """A Markdown table as a list of lines (cells formatted with :func:`fmt`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        lines.append("| " + " | ".join(fmt(v) for v in row) + " |")
    return lines


def fmt(v: Any) -> str:
    """A table cell: floats to 4 significant digits, None as '-'."""
    if v is None:
        return "-"
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return "-"
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    return str(v)
