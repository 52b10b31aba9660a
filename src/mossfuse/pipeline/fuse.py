"""The file-to-file fuse pipeline: what ``mossfuse fuse`` runs, and the library call behind it.

One function, :func:`fuse_files`, for every way of fusing two files: whole image, tile by tile
(serial or Dask, :mod:`mossfuse.engine`), and with a quality report
(:mod:`mossfuse.pipeline.report`). Its steps, in order:

1. check the request before any work: output path (never an input, writable folder, known
   extension; :func:`~mossfuse.pipeline.outputs.check_output_path`), option conflicts,
   the method and its weights (a corrupt checkpoint fails here, in a second);
2. remove temporary files a killed earlier run left for this output;
3. read the pair once, with the one geometry check (:func:`~mossfuse.pipeline.pair.read_pair`);
   When no tiling is asked for, the memory budget decides (:func:`mossfuse.engine.budget.
   choose_tiling`): a scene whose whole-image peak would exceed ``memory_limit`` is tiled, and
   one progress line says so;
4. the degradation: blind (estimated by the method's path), a protocol's, or a known SRF;
5. fuse (whole, tiled or with the report) and write atomically, with what a blind run
   estimated beside the output.

>>> import numpy as np, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> rng = np.random.default_rng(0)
>>> np.save(d / "lr.npy", rng.random((8, 8, 31), dtype=np.float32))
>>> np.save(d / "hr.npy", rng.random((64, 64, 3), dtype=np.float32))
>>> outcome = fuse_files(d / "lr.npy", d / "hr.npy", d / "out.npy", method="bicubic")
>>> np.load(d / "out.npy").shape, outcome.mode
((64, 64, 31), 'whole')
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._progress import NO_PROGRESS, Progress
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.degradation import Degradation

__all__ = ["FuseOutcome", "Tiling", "fuse_files", "load_fusion_method"]


@dataclass(frozen=True)
class Tiling:
    """How to fuse tile by tile (:mod:`mossfuse.engine.tiling`).

    Attributes:
        tile: tile side in HR px, a multiple of ``r`` (None: the engine's default).
        overlap: overlap of neighbouring tiles in HR px (None: the default).
        workers: local Dask cluster of that many worker processes.
        scheduler: address of an existing Dask cluster (``tcp://host:port``).
        resume: checkpoint finished tiles beside the output and reuse them.
        retries: re-runs of a failed tile on Dask.
    """

    tile: int | None = None
    overlap: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    resume: bool = False
    retries: int = 2


@dataclass
class FuseOutcome:
    """What :func:`fuse_files` did.

    Attributes:
        output: the fused cube file.
        method: method name.
        shape: ``(H, W, bands)`` of the output (the on-disk order).
        mode: ``"whole"``, ``"tiled"`` or ``"report"``.
        seconds: fusion time (s), without reading and writing.
        wall_seconds: the whole call (s).
        degradation_files: ``{"srf_csv": path, ...}`` written beside the output.
        warnings: plausibility warnings (estimated SRF/PSF, co-registration).
        weights: the checkpoint a learned method used (None: not learned).
        tiles: tiled runs: ``{"count", "tile", "overlap", "resumed", "megapixels_per_s"}``.
        budget: why the run was tiled without being asked (the memory budget's line), else
            None.
        report: the HTML report (``--report``), else None.
        summary: the report's JSON summary (``--report``), else None.
        adaptation: MossFuse per-scene adaptation (``{"steps", "seconds", ...}``) of a
            whole-image run, else None.
    """

    output: Path
    method: str
    shape: tuple[int, int, int]
    mode: str
    seconds: float
    wall_seconds: float = 0.0
    degradation_files: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    weights: str | None = None
    tiles: dict[str, Any] | None = None
    report: Path | None = None
    summary: dict[str, Any] | None = None
    budget: str | None = None
    adaptation: dict[str, Any] | None = None


def load_fusion_method(method: Any, config: Mapping[str, Any] | str | Path | None = None,
                       weights: str | Path | None = None,
                       options: Mapping[str, Any] | None = None) -> Any:
    """A method instance from a name (or an instance, returned as is), its config (a dict or
    a JSON file), ``options`` set on top of that config (e.g. ``{"adapt_steps": 50}``) and a
    checkpoint; every error is a :class:`MossfuseInputError` naming the file, raised before
    any data is read."""
    from mossfuse.methods.base import FusionMethod, load_method

    if isinstance(method, FusionMethod):
        if config is not None or weights is not None or options:
            raise MossfuseInputError("give config/weights/options with a method name, not an "
                                     "instance")
        return method
    cfg: Mapping[str, Any] | None
    if isinstance(config, (str, Path)):
        path = Path(config)
        try:
            cfg = json.loads(path.read_text())
        except FileNotFoundError:
            raise MossfuseInputError("config file not found", path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MossfuseInputError(f"not a JSON config: {exc}", path) from None
        if not isinstance(cfg, dict):
            raise MossfuseInputError(f"a method config is a JSON object; got "
                                     f"{type(cfg).__name__}", path)
    else:
        cfg = config
    if options:
        cfg = {**(cfg or {}), **options}
    from mossfuse.methods.base import get_method

    try:
        fusion = get_method(str(method), dict(cfg) if cfg is not None else None)
    except MossfuseInputError:
        raise
    except Exception as exc:  # pydantic ValidationError: a bad key or value in the config
        if type(exc).__name__ == "ValidationError":
            where = config if isinstance(config, (str, Path)) else None
            first = str(exc).splitlines()
            raise MossfuseInputError(f"invalid config for method '{method}': "
                                     + "; ".join(first[1:3]).strip(), where) from None
        raise
    if weights is None:
        return fusion
    try:
        return load_method(str(method), dict(cfg) if cfg is not None else None, weights)
    except MossfuseInputError:
        raise
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:
        # a corrupt or foreign checkpoint: safetensors' header errors, a torch state-dict
        # mismatch, a damaged JSON sidecar, ... all one line naming the file
        text = " ".join(str(exc).split())
        raise MossfuseInputError(
            f"cannot load the {method} checkpoint (corrupt, truncated or not a {method} "
            f"checkpoint): {type(exc).__name__}: {text[:300]}", weights) from None


def _weights_of(method: Any) -> str | None:
    from mossfuse.methods.base import TrainableMethod

    if not isinstance(method, TrainableMethod):
        return None
    for attr in ("weights_path", "_loaded"):
        value = getattr(method, attr, None)
        if value:
            return str(value)
    return "shipped default"


def _known_degradation(degradation: Any, pair: Any, srf: str | Path | np.ndarray | None
                       ) -> Degradation:
    """The degradation given by the user: a protocol's or a given one, and/or a known SRF
    (the parts not given None: blind)."""
    from mossfuse.pipeline.checks import check_srf_metadata, load_srf_named

    known = Degradation(None, None, pair.ratio)
    wl, b, big_b = pair.wavelengths_nm, pair.msi_bands, pair.hsi_bands
    if degradation is not None and not (isinstance(degradation, str) and degradation == "blind"):
        from mossfuse.physics.protocols import Protocol, get_protocol

        if isinstance(degradation, Degradation):
            deg, what = degradation, "the given degradation"
        else:
            proto = degradation if isinstance(degradation, Protocol) else get_protocol(
                degradation)
            if proto.ratio != pair.ratio:
                raise MossfuseInputError(f"protocol '{proto.name}' has ratio {proto.ratio}; the "
                                         f"inputs have ratio {pair.ratio}")
            deg, what = proto.degradation(wl), f"protocol {proto.name}"
        if deg.ratio != pair.ratio:
            raise MossfuseInputError(f"{what} has ratio {deg.ratio}; the inputs have ratio "
                                     f"{pair.ratio}")
        if deg.srf is not None:
            check_srf_metadata(deg.srf, what, b, big_b, hr_path=pair.hr_path,
                               hsi_wavelengths=wl)
        known = deg
    if srf is not None:
        if isinstance(srf, np.ndarray):
            matrix, names, source = np.asarray(srf, np.float32), (), "srf"
        else:
            loaded = load_srf_named(srf, wl)
            matrix, names, source = loaded.matrix, loaded.band_names, srf
        check_srf_metadata(matrix, source, b, big_b, names, pair.msi_band_names, pair.hr_path,
                           wl)
        known = replace(known, srf=matrix, band_names=tuple(names), srf_name=str(source))
    return known


def _checked_cube(scene: Any, path: Path, name: str) -> np.ndarray:
    from mossfuse.errors import check_cube

    mask = scene.meta.get("nodata_mask")
    if mask is not None and mask.any():
        raise MossfuseInputError(
            f"{name} has {int(mask.sum())} no-data pixels (NaN/Inf or the file's no-data "
            "value); fuse with --report DIR, which masks them out of the estimation and the "
            "metrics and fills them for the fusion", path)
    return check_cube(scene.cube, name, path)


def fuse_files(
    lr_hsi: str | Path,
    hr_msi: str | Path,
    out: str | Path,
    *,
    method: Any = "bicubic",
    method_config: Mapping[str, Any] | str | Path | None = None,
    method_options: Mapping[str, Any] | None = None,
    weights: str | Path | None = None,
    degradation: Any = "blind",
    srf: str | Path | np.ndarray | None = None,
    ratio: int | None = None,
    hsi_key: str | None = None,
    msi_key: str | None = None,
    hsi_scale: float | None = None,
    msi_scale: float | None = None,
    hsi_wavelengths: Sequence[float] | np.ndarray | None = None,
    hsi_nodata: float | None = None,
    msi_nodata: float | None = None,
    tiling: Tiling | None = None,
    memory_limit: int | str | None = None,
    register: bool = False,
    report_dir: str | Path | None = None,
    progress: Progress | bool = False,
) -> FuseOutcome:
    """Fuse the LR-HSI file ``lr_hsi`` and the HR-MSI file ``hr_msi`` into ``out``.

    Args:
        lr_hsi, hr_msi: input files, ``H x W x bands`` (``.npy .npz .mat`` ENVI ``.hdr``
            GeoTIFF); the HR-MSI exactly ``r`` times the LR-HSI on both axes.
        out: output file; the format follows its extension.
        method: a registered method name (``mossfuse.list_methods()``) or an instance.
        method_config: the method's config: a dict or a JSON file.
        method_options: config fields set on top of ``method_config`` (the CLI's
            ``--adapt-steps``); a field the method does not have is an error.
        weights: a checkpoint of a learned method.
        degradation: ``"blind"`` (default: estimated from the inputs, or learned by the
            method), a protocol name / :class:`~mossfuse.physics.protocols.Protocol` (its known
            PSF, SRF and phase), or a known :class:`~mossfuse.physics.degradation.Degradation`.
        srf: a known SRF (file, library name or ``(b, B)`` array); the PSF stays blind.
        ratio: ``r`` (default: from the sizes).
        hsi_key, msi_key: variables in ``.mat``/``.npz`` inputs.
        hsi_scale, msi_scale: divisors of stored values (default: uint8 / 255, uint16 /
            65535, float as is).
        hsi_wavelengths: ``(B,)`` HSI band centres (nm) replacing the file's.
        hsi_nodata, msi_nodata: stored no-data values (need ``report_dir``).
        tiling: fuse tile by tile (:class:`Tiling`); None: the whole image at once when its
            estimated peak fits ``memory_limit``, else tile by tile with the method's default
            tiles (shrunk until they fit; :func:`mossfuse.engine.budget.choose_tiling`).
        memory_limit: budget in bytes or text (``"4GB"``, ``"512MiB"``; default
            :func:`~mossfuse.engine.budget.default_memory_limit`: min(4 GiB, 50 % of the
            available RAM)); only decides whether to tile when ``tiling`` is None.
        register: correct the measured shift of the LR-HSI first (report path).
        report_dir: write an HTML quality report there (blind, whole image).
        progress: a :class:`~mossfuse._progress.Progress` or True for progress lines on
            stderr.

    Returns:
        :class:`FuseOutcome`. On any error, Ctrl-C or SIGTERM no file is left under ``out``
        (nor beside it); an existing file of that name is untouched.

    Raises:
        MossfuseInputError: bad request or input (one message naming the file).
    """
    from mossfuse._atomic import remove_stale_partials
    from mossfuse.pipeline.outputs import check_output_path, output_siblings

    t_start = time.perf_counter()
    prog = progress if isinstance(progress, Progress) else (Progress() if progress else
                                                            NO_PROGRESS)
    lr_hsi, hr_msi = Path(lr_hsi), Path(hr_msi)
    # 1. the request, before any work
    out = check_output_path(out, (lr_hsi, hr_msi))
    reporting = report_dir is not None or register
    known_given = not (isinstance(degradation, str) and degradation == "blind")
    if reporting and (tiling is not None or known_given):
        raise MossfuseInputError("--report/--register fuse the whole scene with an estimated "
                                 "degradation: not with --protocol or tiling")
    if (hsi_nodata is not None or msi_nodata is not None) and not reporting:
        raise MossfuseInputError("--hsi-nodata/--msi-nodata need --report DIR (the fusion that "
                                 "masks no-data pixels out of the estimation and the metrics)")
    if tiling is not None and tiling.workers is not None and tiling.scheduler is not None:
        raise MossfuseInputError("give --workers (local cluster) or --scheduler, not both")
    if report_dir is not None and Path(report_dir).exists() and not Path(report_dir).is_dir():
        raise MossfuseInputError("the report folder is an existing file", Path(report_dir))
    from mossfuse.engine.budget import parse_memory

    limit = None if memory_limit is None else parse_memory(memory_limit)
    with prog.step(f"loading {method if isinstance(method, str) else method.name}"):
        fusion = load_fusion_method(method, method_config, weights, method_options)
    # 2. what a killed run (SIGKILL) left for these names
    for name in output_siblings(out):
        remove_stale_partials(name)
    # 3. the pair; the memory budget decides whether to tile (from the file headers when the
    # formats are streamed, else after the whole read)
    choice = None
    if tiling is None and not reporting:
        shapes = _peek_shapes(lr_hsi, hr_msi, hsi_key, msi_key)
        if shapes is not None:
            choice = _budget_choice(fusion, shapes, ratio, out, limit)
            if choice is not None:
                tiling = Tiling(tile=choice.tile, overlap=choice.overlap)
                prog.note(choice.reason)
    with prog.step("reading inputs"):
        pair = _read(lr_hsi, hr_msi, ratio, hsi_key, msi_key, hsi_scale, msi_scale,
                     hsi_wavelengths, hsi_nodata, msi_nodata, stream=tiling is not None)
    if reporting:
        return _fuse_with_report(pair, out, fusion, report_dir, register, srf, prog, t_start)
    if tiling is None and choice is None:
        choice = _budget_choice(fusion, (pair.lr_shape, pair.hr_shape), pair.ratio, out, limit)
        if choice is not None:  # read whole (a format without windows): tile the fusion
            tiling = Tiling(tile=choice.tile, overlap=choice.overlap)
            prog.note(choice.reason)
            pair = _as_readers(pair)
    # 4. the degradation
    known = _known_degradation(degradation, pair, srf)
    # 5. fuse and write
    if tiling is not None:
        outcome = _fuse_tiled(pair, out, fusion, known, tiling, prog, t_start)
        outcome.budget = None if choice is None else choice.reason
        return outcome
    return _fuse_whole(pair, out, fusion, known, prog, t_start)


def _peek_shapes(lr_hsi: Path, hr_msi: Path, hsi_key: str | None, msi_key: str | None
                 ) -> tuple[tuple[int, int, int], tuple[int, int, int]] | None:
    """``((B, h, w), (b, H, W))`` from the headers of ``.npy``/GeoTIFF inputs (nothing read);
    None for other formats or unreadable headers (the read reports the error)."""
    from mossfuse.engine.streaming import open_reader

    if hsi_key is not None or msi_key is not None:
        return None
    streamed = (".npy", ".tif", ".tiff")
    if lr_hsi.suffix.lower() not in streamed or hr_msi.suffix.lower() not in streamed:
        return None
    try:
        lr, hr = open_reader(lr_hsi), open_reader(hr_msi)
        shapes = tuple(lr.shape), tuple(hr.shape)
        for reader in (lr, hr):
            close = getattr(reader, "close", None)
            if close is not None:
                close()
    except Exception:  # the real read below raises the one clear error
        return None
    return shapes  # type: ignore[return-value]


def _budget_choice(fusion: Any, shapes: tuple[Sequence[int], Sequence[int]], ratio: int | None,
                   out: Path, limit: int | None) -> Any:
    """:func:`~mossfuse.engine.budget.choose_tiling` for these shapes (None: fuse whole)."""
    from mossfuse.engine.budget import choose_tiling

    (big_b, h, w), (b, big_h, big_w) = shapes
    r = ratio
    if r is None:
        if h < 1 or big_h % h or big_h // h != big_w // max(w, 1) or big_w % max(w, 1):
            return None  # not a pair: read_pair says why
        r = big_h // h
    if big_h % r or big_w % r:
        return None
    streamed = out.suffix.lower() in (".npy", ".tif", ".tiff")
    return choose_tiling(fusion.name, int(big_b), int(b), (int(big_h), int(big_w)), int(r),
                         limit, streamed_output=streamed)


def _as_readers(pair: Any) -> Any:
    """A pair read whole, its cubes as in-memory readers (for the tiled path)."""
    import dataclasses

    from mossfuse.engine.streaming import ArrayReader

    return dataclasses.replace(
        pair, streamed=True,
        lr=ArrayReader(pair.lr.cube, pair.wavelengths_nm, dict(pair.lr.meta)),
        hr=ArrayReader(pair.hr.cube, None, dict(pair.hr.meta)))


def _read(lr_hsi, hr_msi, ratio, hsi_key, msi_key, hsi_scale, msi_scale, hsi_wavelengths,
          hsi_nodata, msi_nodata, *, stream: bool) -> Any:
    from mossfuse.pipeline.pair import read_pair

    return read_pair(lr_hsi, hr_msi, ratio=ratio, hsi_key=hsi_key, msi_key=msi_key,
                     hsi_scale=hsi_scale, msi_scale=msi_scale, hsi_wavelengths=hsi_wavelengths,
                     hsi_nodata=hsi_nodata, msi_nodata=msi_nodata, stream=stream)


def _prewarm_plots_if_needed(fusion: Any, known: Degradation) -> Any:
    """A started thread warming matplotlib (:func:`mossfuse.viz.canvas.prewarm`) when this
    run will plot an estimated SRF/PSF beside the output, else None. Fusion runs in torch/BLAS
    kernels that release the GIL, so the import overlaps it instead of following it (about
    0.5 s of a blind CLI run)."""
    import threading

    uses = bool(getattr(fusion, "uses_degradation", False))
    learns = fusion.name == "mossfuse"  # saves the PSF/SRF it learned
    if not (uses or learns) or known.known:
        return None

    def warm() -> None:
        try:
            from mossfuse.viz.canvas import prewarm

            prewarm()
        except Exception:  # only a head start: the real plotting reports any problem
            pass

    thread = threading.Thread(target=warm, name="mossfuse-prewarm-plots", daemon=True)
    thread.start()
    return thread


def _fuse_whole(pair: Any, out: Path, fusion: Any, known: Degradation, prog: Progress,
                t_start: float) -> FuseOutcome:
    from mossfuse.data.io import write_cube
    from mossfuse.data.scene import FusionInputs
    from mossfuse.engine.sidecars import staged_degradation_files
    from mossfuse.pipeline.checks import output_meta

    inputs = FusionInputs(
        lr_hsi=_checked_cube(pair.lr, pair.lr_path, "LR-HSI"),
        hr_msi=_checked_cube(pair.hr, pair.hr_path, "HR-MSI"), ratio=pair.ratio,
        hsi_wavelengths_nm=pair.wavelengths_nm, msi_band_names=pair.msi_band_names,
        degradation=known,
    )
    warm = _prewarm_plots_if_needed(fusion, known)
    with prog.step(f"fusing ({fusion.name})"):
        result = fusion.fuse(inputs)
    if warm is not None:
        warm.join()
    # blind: what the method estimated (classical estimator) or learned (mossfuse) goes beside
    # the output, renamed together with it
    estimate = Degradation.from_result(
        result, ratio=pair.ratio, srf_given=known.srf is not None,
        psf_given=known.psf is not None, wavelengths_nm=pair.wavelengths_nm,
        band_names=pair.msi_band_names, method=fusion.name)
    with prog.step("writing"), staged_degradation_files(out, estimate) as deg_files:
        write_cube(result.hr_hsi, out, wavelengths=pair.wavelengths_nm,
                   meta=output_meta(pair.lr_meta, pair.hr_meta, pair.ratio,
                                    result.hr_hsi.shape[0]))
    b, h, w = result.hr_hsi.shape
    return FuseOutcome(
        output=out, method=fusion.name, shape=(h, w, b), mode="whole",
        seconds=float(result.info.get("fuse_seconds", 0.0)),
        wall_seconds=time.perf_counter() - t_start, degradation_files=dict(deg_files),
        warnings=list(estimate.warnings()[0]) if deg_files else [],
        weights=result.info.get("weights") or _weights_of(fusion),
        adaptation=result.info.get("adaptation"),
    )


def _fuse_tiled(pair: Any, out: Path, fusion: Any, known: Degradation, tiling: Tiling,
                prog: Progress, t_start: float) -> FuseOutcome:
    from mossfuse.engine.files import fuse_files as fuse_tiled_files
    from mossfuse.engine.streaming import StreamedInputs

    source = StreamedInputs(pair.lr, pair.hr, pair.ratio, pair.wavelengths_nm,
                            pair.msi_band_names, known)
    with prog.step(f"fusing tiles ({fusion.name})"):
        report = fuse_tiled_files(
            source, out, fusion, tile=tiling.tile, overlap=tiling.overlap,
            workers=tiling.workers, scheduler=tiling.scheduler, retries=tiling.retries,
            resume=tiling.resume, progress=prog.enabled and sys.stderr.isatty(),
            save_degradation=True,
        )
    b, h, w = source.out_shape
    plan = report.plan
    return FuseOutcome(
        output=out, method=fusion.name, shape=(h, w, b), mode="tiled",
        seconds=float(report.seconds), wall_seconds=time.perf_counter() - t_start,
        degradation_files=dict(report.degradation.get("files", {})),
        warnings=list(report.degradation.get("warnings", ())), weights=_weights_of(fusion),
        tiles={"count": len(plan), "tile": plan.tile, "overlap": plan.overlap,
               "resumed": report.tiles_resumed, "megapixels_per_s": report.megapixels_per_s},
    )


def _fuse_with_report(pair: Any, out: Path, fusion: Any, report_dir: Any, register: bool,
                      srf: Any, prog: Progress, t_start: float) -> FuseOutcome:
    from mossfuse.pipeline.report import fuse_pair_with_report

    with prog.step(f"fusing with report ({fusion.name})"):
        summary = fuse_pair_with_report(pair, out, method=fusion, report_dir=report_dir,
                                        register=register, srf=srf)
    b = pair.hsi_bands
    h, w = pair.hr_shape[1:]
    files = {k: v for k, v in summary.get("files", {}).items()
             if k not in ("output",) and not k.startswith("report_")}
    return FuseOutcome(
        output=out, method=fusion.name, shape=(int(h), int(w), b), mode="report",
        seconds=float(summary.get("seconds", 0.0)), wall_seconds=time.perf_counter() - t_start,
        degradation_files=files, warnings=list(summary.get("warnings", [])),
        weights=_weights_of(fusion),
        report=Path(summary["report"]) if summary.get("report") else None, summary=summary,
    )
