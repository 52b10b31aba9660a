"""The estimated degradation's files beside a fused output, written atomically with it.

:func:`staged_degradation_files` writes a :class:`~mossfuse.physics.degradation.Degradation`
as ``<stem>.srf.csv/.png`` and ``<stem>.psf.csv/.png`` (the CSVs are those of
:meth:`~mossfuse.physics.degradation.Degradation.save`, formats: the Convention of
:mod:`mossfuse.physics.degradation`); the PNGs are drawn by
:func:`mossfuse.viz.degradation.save_srf_psf_figure` (here, not in ``physics``, which draws
nothing).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from mossfuse._atomic import atomic_path
from mossfuse.physics.degradation import Degradation, degradation_paths

__all__ = ["describe", "staged_degradation_files"]


@contextlib.contextmanager
def staged_degradation_files(
    out: str | Path,
    estimate: Degradation | None,
    *,
    dpi: int = 80,
    srf_title: str = "estimated SRF",
    psf_title: str | None = None,
) -> Iterator[dict[str, str]]:
    """Write the estimated SRF/PSF files of ``out`` to temporary names; they take their final
    names when the ``with`` block exits without error (write the output inside it), and are
    removed otherwise.

    Yields:
        ``{"srf_csv": path, "srf_png": ..., "psf_csv": ..., "psf_png": ...}`` (final names) for
        the parts ``estimate`` holds; empty for None or an empty estimate.
    """
    files: dict[str, str] = {}
    if estimate is None or estimate.empty:
        yield files
        return
    from mossfuse.viz.degradation import save_srf_psf_figure

    paths = degradation_paths(out)
    texts = estimate.csv_texts()
    with contextlib.ExitStack() as stack:
        if estimate.srf is not None:
            tmp = stack.enter_context(atomic_path(paths["srf_csv"]))
            tmp.write_text(texts["srf_csv"], encoding="utf-8")
            tmp = stack.enter_context(atomic_path(paths["srf_png"]))
            save_srf_psf_figure(tmp, None, estimate.srf, None, None, estimate.wavelengths_nm,
                                estimate.band_names
                                if len(estimate.band_names) == estimate.srf.shape[0] else (),
                                title=srf_title, dpi=dpi)
            files.update(srf_csv=str(paths["srf_csv"]), srf_png=str(paths["srf_png"]))
        if estimate.psf is not None:
            tmp = stack.enter_context(atomic_path(paths["psf_csv"]))
            tmp.write_text(texts["psf_csv"], encoding="utf-8")
            tmp = stack.enter_context(atomic_path(paths["psf_png"]))
            title = psf_title or f"estimated PSF (sigma {estimate.sigma:.2f} px)"
            save_srf_psf_figure(tmp, None, None, None, estimate.psf, None, title=title, dpi=dpi)
            files.update(psf_csv=str(paths["psf_csv"]), psf_png=str(paths["psf_png"]))
        yield files


def describe(files: Mapping[str, str]) -> str:
    """One line naming the files written (for the CLI)."""
    return ", ".join(Path(p).name for p in files.values())
