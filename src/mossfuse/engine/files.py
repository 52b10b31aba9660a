"""File to file tiled fusion: what ``mossfuse fuse --tile-size ...`` runs.

>>> import numpy as np, tempfile, pathlib
>>> from mossfuse.methods import get_method
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> rng = np.random.default_rng(0)
>>> np.save(d / "lr.npy", rng.random((8, 8, 31), dtype=np.float32))
>>> np.save(d / "hr.npy", rng.random((64, 64, 3), dtype=np.float32))
>>> source = StreamedInputs.open(d / "lr.npy", d / "hr.npy")
>>> report = fuse_files(source, d / "out.npy", get_method("bicubic"), tile=32, overlap=16)
>>> np.load(d / "out.npy").shape, len(report.plan)
((64, 64, 31), 9)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mossfuse.engine.sidecars import staged_degradation_files
from mossfuse.engine.streaming import StreamedInputs, hr_output_meta, open_writer
from mossfuse.engine.tiling import DegradationMode, TiledFusion, TiledReport
from mossfuse.errors import MossfuseError, MossfuseInputError
from mossfuse.methods.base import FusionMethod
from mossfuse.physics.degradation import Degradation

__all__ = ["fuse_files", "settle_degradation", "work_folder"]


def work_folder(out: str | Path) -> Path:
    """Checkpoint folder of an output file: ``<out>.tiles`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".tiles")


@contextlib.contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Turn SIGTERM into ``SystemExit(143)`` while fusing, so ``kill PID`` unwinds like Ctrl-C:
    the temporary output is deleted and the checkpoints are kept (SIGKILL cannot be caught: it
    leaves a hidden ``.<name>.partial.*`` file, never a file under the final name)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fuse_files(
    source: StreamedInputs,
    out: str | Path,
    method: FusionMethod,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    resume: bool = False,
    degradation: DegradationMode | Degradation = "auto",
    progress: bool = False,
    save_degradation: bool = False,
) -> TiledReport:
    """Fuse ``source`` tile by tile into the file ``out`` (streamed when ``.npy``/GeoTIFF).

    Args:
        source: the inputs on disk (:meth:`StreamedInputs.open`).
        out: output file; its extension picks the format
            (:func:`~mossfuse.engine.streaming.open_writer`). GeoTIFF outputs take the CRS and
            transform of the HR grid (:func:`~mossfuse.engine.streaming.hr_output_meta`).
        method: the fusion method.
        tile, overlap, margin: HR px (:func:`~mossfuse.engine.tiling.plan_tiles`).
        workers: run on a local Dask cluster of that many single-threaded processes.
        scheduler: run on the Dask cluster at this address (``tcp://host:port``).
        retries: re-runs of a failed tile on Dask.
        resume: checkpoint finished tiles in :func:`work_folder` and reuse those already
            there; the folder is removed after success.
        degradation: :func:`~mossfuse.engine.tiling.resolve_tile_degradation`.
        progress: tqdm bar on stderr.
        save_degradation: write what a blind run estimated beside ``out``
            (:mod:`mossfuse.physics.degradation`: ``<stem>.srf.csv/.png``,
            ``<stem>.psf.csv/.png``; see :func:`settle_degradation`) and put the plausibility
            warnings in ``report.degradation["warnings"]``, the files in ``["files"]``. They
            take their names together with ``out``.

    Returns:
        :class:`~mossfuse.engine.tiling.TiledReport`; ``out`` is complete (or, on error, Ctrl-C
        or SIGTERM, absent: a previous file of that name is left untouched, and so are the
        SRF/PSF files).
    """
    out = Path(out)
    for reader in (source.lr, source.hr):
        if reader.path is not None and reader.path == out.resolve():
            raise MossfuseInputError("output file is also an input", out)
    if workers is not None and scheduler is not None:
        raise MossfuseInputError("give --workers (local cluster) or --scheduler, not both")
    writer = open_writer(
        out, source.out_shape, wavelengths_nm=source.hsi_wavelengths_nm,
        meta=_output_meta(source),
    )
    with contextlib.ExitStack() as stack:
        stack.enter_context(_sigterm_as_exit())
        executor = None
        if workers is not None or scheduler is not None:
            from mossfuse.engine.distributed import dask_executor

            executor = stack.enter_context(
                dask_executor(workers, scheduler, retries=retries)
            )
        try:
            settled, estimate, info = degradation, None, None
            if save_degradation:
                settled, estimate, info = settle_degradation(
                    method, source, degradation, tile=tile, overlap=overlap, margin=margin)
            files = stack.enter_context(staged_degradation_files(out, estimate))
            runner = TiledFusion(method, tile=tile, overlap=overlap, margin=margin,
                                 executor=executor, degradation=settled, progress=progress)
            report = runner.run(source, writer, checkpoint=work_folder(out) if resume else None,
                                resume=resume)
        except MossfuseError:
            raise
        except Exception as exc:
            if not _is_read_error(exc):
                raise
            raise MossfuseInputError(
                f"cannot read a window (corrupt or truncated file?): {type(exc).__name__}: "
                f"{exc}", _failing_input(source, exc)) from exc
        if info is not None:
            report.degradation = dict(info)
        if estimate is not None and not estimate.empty:
            report.degradation["files"] = dict(files)
            report.degradation["warnings"] = estimate.warnings()[0]
    return report


def settle_degradation(
    method: FusionMethod,
    source: StreamedInputs,
    degradation: DegradationMode | Degradation = "auto",
    *,
    tile: int | None = None,
    overlap: int | None = None,
    margin: int | None = None,
    crop_lr: int = 64,
) -> tuple[DegradationMode | Degradation, Degradation | None, dict[str, Any] | None]:
    """The degradation of a tiled run, settled before it starts, and what was estimated.

    - Known SRF and PSF, ``degradation="none"`` or a given degradation object: nothing is
      estimated (``(degradation, None, None)``).
    - A method that uses the degradation (or ``degradation="estimate"``): the classical
      estimator on the central ``crop_lr`` LR samples
      (:func:`~mossfuse.engine.tiling.estimate_scene_degradation`, the one
      :func:`~mossfuse.engine.tiling.resolve_tile_degradation` uses); every tile then
      receives it.
    - A method that does not (MossFuse learns its own PSF/SRF, bicubic has none): the method
      is run once on the first tile and its ``estimated_srf``/``estimated_psf`` are taken
      (none for bicubic); the tiles still run blind, as without tiling.

    Returns:
        ``(degradation for TiledFusion, estimate or None, report info or None)``.
    """
    from mossfuse.engine.tiling import (
        estimate_scene_degradation,
        method_uses_degradation,
        plan_tiles,
    )

    known = source.srf is not None and source.psf is not None
    if not isinstance(degradation, str) or degradation == "none" or known:
        return degradation, None, None
    names = tuple(source.msi_band_names)
    if degradation == "auto" and not method_uses_degradation(method):
        first = plan_tiles(source.hr_shape, source.ratio, tile, overlap, margin=margin,
                           method=method.name)[0]
        result = method.fuse(source.window(first.lr_rows, first.lr_cols))
        est = Degradation.from_result(
            result, ratio=source.ratio, srf_given=source.srf is not None,
            psf_given=source.psf is not None, wavelengths_nm=source.hsi_wavelengths_nm,
            band_names=names, method=method.name)
        return degradation, est, None
    deg, info = estimate_scene_degradation(method, source, crop_lr=crop_lr)
    return deg, deg.estimated(), info


def _output_meta(source: StreamedInputs) -> dict[str, Any]:
    """CRS/transform of the HR grid, plus the LR-HSI's band names when it has them."""
    meta = hr_output_meta(source.lr.meta, source.hr.meta, source.ratio)
    names = source.lr.meta.get("band_names")
    if names is not None and len(names) == source.out_shape[0]:
        meta["band_names"] = tuple(str(n) for n in names)
    return meta


def _is_read_error(exc: BaseException) -> bool:
    """A GDAL/rasterio read failure (a truncated or damaged GeoTIFF shows up only when the
    missing window is read, in the middle of a tiled fusion)."""
    try:
        from rasterio.errors import RasterioError
    except ImportError:  # pragma: no cover - rasterio is a dependency
        return False
    return isinstance(exc, RasterioError) or type(exc).__module__.startswith("rasterio")


def _failing_input(source: StreamedInputs, exc: BaseException) -> Path | None:
    """The input file named in a read error (else the HR-MSI, the streamed one)."""
    text = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    for reader in (source.hr, source.lr):
        path = getattr(reader, "path", None)
        if path is not None and Path(path).name in text:
            return Path(path)
    return getattr(source.hr, "path", None)
