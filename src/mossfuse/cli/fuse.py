"""``mossfuse fuse``: fuse one LR-HSI / HR-MSI pair (thin: parse, call
:func:`mossfuse.pipeline.fuse_files`, print).

Registered in the main CLI with ``app.command("fuse")(fuse_command)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mossfuse.cli.options import HsiKey, MsiKey


def fuse_command(
    lr_hsi: Annotated[Path, typer.Option(help="LR-HSI file (H x W x bands)")],
    hr_msi: Annotated[Path, typer.Option(help="HR-MSI file (H x W x bands)")],
    out: Annotated[Path, typer.Option(help="Output file; format from its extension")],
    method: Annotated[str, typer.Option(help="Method name (see `mossfuse methods`)")] = "bicubic",
    ratio: Annotated[int | None, typer.Option(help="Ratio r (default: from the sizes)")] = None,
    srf: Annotated[str | None, typer.Option(
        help="Known SRF: file or name (default: blind, estimated and saved beside the output)"
    )] = None,
    protocol: Annotated[
        str | None, typer.Option(help="Take the known PSF, SRF and phase from this protocol")
    ] = None,
    hsi_key: HsiKey = None,
    msi_key: MsiKey = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON file with the method's config")
    ] = None,
    tile_size: Annotated[int | None, typer.Option(
        help="Fuse tile by tile: tile side in HR pixels, a multiple of r (default with "
             "--overlap/--workers/--scheduler/--resume: the method's, docs/tiling.md). Streams "
             ".npy and GeoTIFF inputs and outputs by windows; the degradation is settled once "
             "per scene"
    )] = None,
    overlap: Annotated[int | None, typer.Option(
        help="Overlap of neighbouring tiles in HR pixels, a multiple of r (default: "
             "max(4 r, tile / 8), at most tile / 2); blended with a raised-cosine window"
    )] = None,
    workers: Annotated[int | None, typer.Option(
        help="Run the tiles on a local Dask cluster of N single-threaded worker processes"
    )] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Run the tiles on an existing Dask cluster at this address (tcp://HOST:PORT); "
             "workers must see the input files at the same paths"
    )] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Checkpoint finished tiles in OUT.tiles/ and skip those already there "
                         "(after an interruption); the folder is removed on success"
    )] = False,
    retries: Annotated[int, typer.Option(
        help="With --workers/--scheduler: re-runs of a failed tile before giving up"
    )] = 2,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Write an offline HTML quality report (index.html + PNGs) to this "
                         "folder; estimates SRF/PSF when not given, checks co-registration"
    )] = None,
    register: Annotated[bool, typer.Option(
        "--register", help="Correct the measured shift of the LR-HSI before fusing"
    )] = False,
    weights: Annotated[Path | None, typer.Option(
        help="Checkpoint of a learned method (e.g. a `mossfuse train` run's best.safetensors, "
             "or the authors' MossFuse .pth)"
    )] = None,
    adapt_steps: Annotated[int | None, typer.Option(
        min=0, help="mossfuse only: fine-tune the loaded weights on this pair for N steps of "
                    "the self-supervised losses before fusing (no reference is used; about "
                    "2 s a step on a 2-core CPU)"
    )] = None,
    adapt_seconds: Annotated[float | None, typer.Option(
        help="mossfuse only: adapt for at most S seconds of training (alone, or with "
             "--adapt-steps: whichever ends first)"
    )] = None,
    hsi_scale: Annotated[float | None, typer.Option(
        help="Divisor mapping the stored LR-HSI values to [0, 1] (default: uint8 / 255, "
             "uint16 / 65535, float as is; other integer types need it)"
    )] = None,
    msi_scale: Annotated[float | None, typer.Option(
        help="Divisor mapping the stored HR-MSI values to [0, 1] (defaults as --hsi-scale)"
    )] = None,
    hsi_wavelengths: Annotated[str | None, typer.Option(
        help="LR-HSI band centres in nm, overriding the file's: START:STOP:COUNT (e.g. "
             "380:1050:48), a comma list, or a text/CSV file with one per line"
    )] = None,
    hsi_nodata: Annotated[float | None, typer.Option(
        help="Stored LR-HSI value marking no-data pixels (all bands equal to it); needs --report"
    )] = None,
    msi_nodata: Annotated[float | None, typer.Option(
        help="Stored HR-MSI value marking no-data pixels (all bands equal to it, e.g. 0 for a "
             "black no-data patch); needs --report"
    )] = None,
    memory_limit: Annotated[str | None, typer.Option(
        help="Memory budget (e.g. 4GB, 512MiB; default min(4 GiB, 50 % of the available "
             "RAM)): without tiling options, a scene whose whole-image fusion is estimated "
             "to need more is fused tile by tile (streamed), and a line says so"
    )] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress lines on stderr (steps longer than 2 s)"
    )] = False,
) -> None:
    """Fuse an LR-HSI and an HR-MSI with a registered method.

    The HR-MSI must be exactly r times the LR-HSI on both axes (no padding or cropping is done);
    georeferenced inputs must share CRS, extent and an integer pixel-size ratio.

    Blind by default: without --srf/--protocol a method that uses the degradation (gsa, cnmf,
    hysure, scalmu) estimates the SRF/PSF with the classical estimator (once per scene when
    tiled), mossfuse uses the ones it learned. What was estimated is saved beside the output as
    OUT-stem.srf.csv/.srf.png and OUT-stem.psf.csv/.psf.png (nothing for bicubic, nor for a
    given SRF/PSF), and an implausible estimate is a warning on stderr (SRF mass outside a
    band's nominal range, PSF sigma above r, fit residual above 0.15).

    --report also masks no-data (NaN, a file's no-data value, --hsi-nodata/--msi-nodata),
    checks the co-registration and writes an HTML quality report.
    Tiling (--tile-size, --overlap, --workers, --scheduler, --resume) fuses tile by tile;
    without them a scene whose whole-image fusion would exceed --memory-limit is tiled anyway.
    The output (and the SRF/PSF files) are written to temporary files and renamed once
    complete.
    """
    from mossfuse.data.io import parse_wavelengths
    from mossfuse.pipeline import Tiling, fuse_files

    tiled = resume or any(v is not None for v in (tile_size, overlap, workers, scheduler))
    tiling = (Tiling(tile=tile_size, overlap=overlap, workers=workers, scheduler=scheduler,
                     resume=resume, retries=retries) if tiled else None)
    options = None
    for name, value in (("adapt_steps", adapt_steps), ("adapt_seconds", adapt_seconds)):
        if value is None:
            continue
        hint = f"'--{name.replace('_', '-')}'"
        if method != "mossfuse":
            raise typer.BadParameter(f"applies to --method mossfuse only, not '{method}'",
                                     param_hint=hint)
        if name == "adapt_seconds" and not value > 0:
            raise typer.BadParameter(f"{value:g} is not a time budget; expected seconds > 0",
                                     param_hint=hint)
        options = {**(options or {}), name: value}
    outcome = fuse_files(
        lr_hsi, hr_msi, out, method=method, method_config=config, method_options=options,
        weights=weights,
        degradation=protocol or "blind", srf=srf, ratio=ratio, hsi_key=hsi_key,
        msi_key=msi_key, hsi_scale=hsi_scale, msi_scale=msi_scale,
        hsi_wavelengths=None if hsi_wavelengths is None else parse_wavelengths(hsi_wavelengths),
        hsi_nodata=hsi_nodata, msi_nodata=msi_nodata, tiling=tiling,
        memory_limit=memory_limit, register=register,
        report_dir=report, progress=not quiet,
    )
    for w in outcome.warnings:
        typer.echo(f"warning: {w}", err=True)
    h, w, b = outcome.shape
    used = f" with weights {outcome.weights}" if outcome.weights else ""
    if outcome.mode == "report":
        nr = (outcome.summary or {}).get("no_reference", {})
        typer.echo(f"{method}: fused{used} -> {out}; QNR {nr.get('qnr', float('nan')):.4f}"
                   + (f"; report {outcome.report}" if outcome.report else ""))
        return
    if outcome.tiles is not None:
        t = outcome.tiles
        typer.echo(f"{method}: fused ({h}, {w}, {b}) (H x W x bands){used} in "
                   f"{outcome.seconds:.2f} s ({t['megapixels_per_s']:.2f} MP/s), {t['count']} "
                   f"tiles of {t['tile']} px overlap {t['overlap']} px ({t['resumed']} resumed) "
                   f"-> {out}")
    else:
        adapted = outcome.adaptation
        took = f"{outcome.seconds:.2f} s"
        if adapted and adapted.get("stopped_by") == "diverged":
            took += " (adaptation diverged: fused with the loaded weights, unadapted)"
        elif adapted:
            took += (f" (adapted {adapted['steps']} steps in {adapted['seconds']:.1f} s of it"
                     + (", time budget reached" if adapted.get("stopped_by") == "time" else "")
                     + ")")
        typer.echo(f"{method}: fused ({h}, {w}, {b}) (H x W x bands){used} in {took} -> {out}")
    if outcome.degradation_files:
        from mossfuse.engine.sidecars import describe

        typer.echo(f"estimated degradation -> {describe(outcome.degradation_files)}")
