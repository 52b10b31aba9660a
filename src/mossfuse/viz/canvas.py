"""Figures are drawn on a bare :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot,
no global backend switch: safe in scripts, servers and tests) and written through
:func:`mossfuse._atomic.atomic_path`."""

from __future__ import annotations

from pathlib import Path

from mossfuse._atomic import atomic_path


def new_figure(width: float, height: float):
    """A constrained-layout figure of ``width`` x ``height`` inches on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path: str | Path, dpi: int) -> Path:
    """Write ``fig`` atomically to ``path`` (format from its suffix, PNG by default)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
    return path


def prewarm() -> None:
    """Import matplotlib's Agg stack and load the fonts by drawing a tiny figure (~0.5 s).

    The fuse pipeline runs this in a background thread while a method fuses (torch and BLAS
    kernels release the GIL), so the SRF/PSF plots written after fusion start warm."""
    import io

    fig = new_figure(1.0, 1.0)
    fig.text(0.5, 0.5, "warm")
    fig.savefig(io.BytesIO(), dpi=10, format="png")
