"""Command-line interface (thin: parse, call the library, print).

Every subcommand has ``--help``. Errors of input (:class:`~mossfuse.errors.MossfuseError`) are
printed as one line on stderr with exit code 2; nothing partial is left under an output name.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mossfuse._cli_runner import run_app
from mossfuse.errors import MossfuseInputError

app = typer.Typer(
    name="mossfuse",
    help="Hyperspectral + multispectral image fusion: simulate, fuse, evaluate, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_FORMATS = ("npy", "npz", "mat", "tif", "hdr")


def _pair(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise MossfuseInputError(f"expected name=path; got '{text}'")
    name, path = text.split("=", 1)
    return name.strip(), path.strip()


def _split(text: str | None) -> list[str] | None:
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Output folder: OUT/<scene>/{lr_hsi,hr_msi,reference}")],
    protocol: Annotated[str, typer.Option(help="Protocol name or .json file")] = "mossfuse-x32",
    dataset: Annotated[str | None, typer.Option(help="Dataset kind: 'cave'")] = None,
    root: Annotated[Path | None, typer.Option(help="Dataset root folder")] = None,
    scenes: Annotated[str | None, typer.Option(help="Comma-separated scene names")] = None,
    split: Annotated[str | None, typer.Option(help="Named split (e.g. test, dev-val)")] = None,
    input: Annotated[  # noqa: A002
        Path | None, typer.Option("--input", help="A single reference cube file instead")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Variable name in a .mat/.npz input")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {_FORMATS}")] = "npy",
) -> None:
    """Degrade reference cubes by a protocol into LR-HSI / HR-MSI pairs (+ the reference)."""
    from mossfuse.data.io import write_cube
    from mossfuse.physics import get_protocol

    if fmt not in _FORMATS:
        raise MossfuseInputError(f"--format must be one of {_FORMATS}; got '{fmt}'")
    proto = get_protocol(protocol)
    refs = _reference_scenes(dataset, root, scenes, split, input, key)
    for scene in refs:
        case = proto.simulate(scene)
        folder = out / scene.name
        wl = case.reference.wavelengths_nm
        write_cube(case.inputs.lr_hsi, folder / f"lr_hsi.{fmt}", wavelengths=wl)
        write_cube(case.inputs.hr_msi, folder / f"hr_msi.{fmt}")
        write_cube(case.reference.cube, folder / f"reference.{fmt}", wavelengths=wl)
        _write_text(folder / "protocol.json", proto.to_json())
        typer.echo(f"{scene.name}: lr_hsi {case.inputs.lr_hsi.shape[::-1]} hr_msi "
                   f"{case.inputs.hr_msi.shape[::-1]} (H x W x bands) -> {folder}")


def _reference_scenes(dataset, root, scenes, split, input_file, key):
    from mossfuse.data.io import read_cube

    if input_file is not None:
        if dataset is not None:
            raise MossfuseInputError("give either --input or --dataset, not both")
        scene = read_cube(input_file, key)
        scene.name = input_file.stem
        return [scene]
    if dataset != "cave":
        raise MossfuseInputError(f"--dataset must be 'cave' (or use --input FILE); got {dataset!r}")
    if root is None:
        raise MossfuseInputError("--dataset cave needs --root DIR")
    from mossfuse.data.cave import CaveDataset

    ds = CaveDataset(root)
    names = _split(scenes)
    if names is None and split is not None:
        sel = ds.split(split)
        if sel.missing:
            typer.echo(f"split '{split}': missing scenes skipped: {', '.join(sel.missing)}",
                       err=True)
        names = list(sel.present)
    names = names or list(ds.scenes)
    return [ds.load(n) for n in names]


def _write_text(path: Path, text: str) -> None:
    from mossfuse._atomic import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(text)


@app.command()
def fuse(
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
    hsi_key: Annotated[str | None, typer.Option(help="Variable in a .mat/.npz LR-HSI")] = None,
    msi_key: Annotated[str | None, typer.Option(help="Variable in a .mat/.npz HR-MSI")] = None,
    config: Annotated[
        Path | None, typer.Option(help="JSON file with the method's config")
    ] = None,
    tile_size: Annotated[int | None, typer.Option(
        help="Fuse tile by tile: tile side in HR pixels, a multiple of r (default with "
             "--overlap/--workers/--scheduler/--resume: max(512, 32 r)). Streams .npy and "
             "GeoTIFF inputs and outputs by windows; the degradation is settled once per scene"
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
        help="Checkpoint of a learned method (e.g. a `mossfuse train` run's best.safetensors)"
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
    Tiling (--tile-size, --overlap, --workers, --scheduler, --resume) fuses tile by tile.
    The output (and the SRF/PSF files) are written to temporary files and renamed once
    complete.
    """
    from mossfuse.data.io import parse_wavelengths, read_cube, write_cube
    from mossfuse.data.scene import FusionInputs
    from mossfuse.methods import load_method
    from mossfuse.physics import get_protocol
    from mossfuse.realscene.checks import (
        check_pair_geometry,
        check_srf_metadata,
        load_srf_named,
    )

    tiled = resume or any(v is not None for v in (tile_size, overlap, workers, scheduler))
    wl_override = None if hsi_wavelengths is None else parse_wavelengths(hsi_wavelengths)
    if report is not None or register:
        if tiled or protocol is not None or weights is not None:
            raise MossfuseInputError("--report/--register fuse the whole scene with an estimated "
                                     "degradation: not with --protocol, --weights or tiling")
        from mossfuse.realscene import fuse_with_report

        summary = fuse_with_report(
            lr_hsi, hr_msi, out, method=method, report_dir=report, register=register,
            hsi_key=hsi_key, msi_key=msi_key, ratio=ratio, srf=srf,
            method_config=json.loads(config.read_text()) if config else None,
            hsi_scale=hsi_scale, msi_scale=msi_scale, hsi_wavelengths=wl_override,
            hsi_nodata=hsi_nodata, msi_nodata=msi_nodata,
        )
        for w in summary["warnings"]:
            typer.echo(f"warning: {w}", err=True)
        nr = summary["no_reference"]
        typer.echo(f"{method}: fused -> {out}; QNR {nr.get('qnr', float('nan')):.4f}"
                   + (f"; report {summary['report']}" if summary["report"] else ""))
        return
    if hsi_nodata is not None or msi_nodata is not None:
        raise MossfuseInputError("--hsi-nodata/--msi-nodata need --report DIR (the fusion that "
                                 "masks no-data pixels out of the estimation and the metrics)")
    if tiled:
        from mossfuse.engine.streaming import StreamedInputs, open_reader

        lr_reader = open_reader(lr_hsi, hsi_key, stream=False, scale=hsi_scale)
        hr_reader = open_reader(hr_msi, msi_key, scale=msi_scale)
        lr_hw, hr_hw = tuple(lr_reader.shape[1:]), tuple(hr_reader.shape[1:])
        r = check_pair_geometry(lr_reader.meta, hr_reader.meta, lr_hw, hr_hw, ratio, lr_hsi,
                                hr_msi)
        source = StreamedInputs(lr_reader, hr_reader, r)
        if wl_override is not None:
            if wl_override.size != lr_reader.shape[0]:
                raise MossfuseInputError(f"got {wl_override.size} wavelengths for a cube of "
                                         f"{lr_reader.shape[0]} bands", lr_hsi)
            source = dataclasses.replace(source, hsi_wavelengths_nm=wl_override)
        wavelengths = source.hsi_wavelengths_nm
        hsi_bands, msi_bands = lr_reader.shape[0], hr_reader.shape[0]
        msi_names = tuple(str(n) for n in hr_reader.meta.get("band_names", ()) or ())
    else:
        lr = read_cube(lr_hsi, hsi_key, scale=hsi_scale, wavelengths=wl_override)
        hr = read_cube(hr_msi, msi_key, scale=msi_scale)
        r = check_pair_geometry(lr.meta, hr.meta, lr.shape_hw, hr.shape_hw, ratio, lr_hsi,
                                hr_msi)
        wavelengths = lr.wavelengths_nm
        hsi_bands, msi_bands = lr.bands, hr.bands
        msi_names = tuple(str(n) for n in hr.meta.get("band_names", ()) or ())
    kernel = phase = centre = srf_matrix = None
    if protocol is not None:
        proto = get_protocol(protocol)
        if proto.ratio != r:
            raise MossfuseInputError(f"protocol '{proto.name}' has ratio {proto.ratio}; the "
                                     f"inputs have ratio {r}")
        deg = proto.degradation(wavelengths)
        kernel, phase, centre, srf_matrix = deg.kernel, deg.phase, deg.centre, deg.srf.matrix
        check_srf_metadata(srf_matrix, f"protocol {proto.name}", msi_bands, hsi_bands,
                           hr_path=hr_msi, hsi_wavelengths=wavelengths)
    if srf is not None:
        loaded = load_srf_named(srf, wavelengths)
        srf_matrix = loaded.matrix
        check_srf_metadata(srf_matrix, srf, msi_bands, hsi_bands, loaded.band_names, msi_names,
                           hr_msi, wavelengths)
    cfg = json.loads(config.read_text()) if config else None
    if tiled:
        from mossfuse.engine.files import fuse_files

        source = dataclasses.replace(source, srf=srf_matrix, psf=kernel, phase=phase,
                                     psf_centre=centre, msi_band_names=msi_names)
        report = fuse_files(
            source, out, load_method(method, cfg, weights), tile=tile_size, overlap=overlap,
            workers=workers, scheduler=scheduler, retries=retries, resume=resume,
            progress=sys.stderr.isatty(), save_degradation=True,
        )
        for w in report.degradation.get("warnings", ()):
            typer.echo(f"warning: {w}", err=True)
        b, h, w = source.out_shape
        plan = report.plan
        typer.echo(f"{method}: fused ({h}, {w}, {b}) (H x W x bands) in {report.seconds:.2f} s "
                   f"({report.megapixels_per_s:.2f} MP/s), {len(plan)} tiles of {plan.tile} px "
                   f"overlap {plan.overlap} px ({report.tiles_resumed} resumed) -> {out}")
        _echo_degradation_files(report.degradation.get("files", {}))
        return
    inputs = FusionInputs(
        lr_hsi=_checked(lr, lr_hsi, "LR-HSI"), hr_msi=_checked(hr, hr_msi, "HR-MSI"), ratio=r,
        hsi_wavelengths_nm=lr.wavelengths_nm, msi_band_names=msi_names, srf=srf_matrix,
        psf=kernel, phase=phase, psf_centre=centre,
    )
    result = load_method(method, cfg, weights).fuse(inputs)
    from mossfuse.realscene.checks import output_meta
    from mossfuse.realscene.degradation_files import (
        DegradationEstimate,
        staged_degradation_files,
    )

    # blind: what the method estimated (classical estimator) or learned (mossfuse) goes beside
    # the output, renamed together with it
    estimate = DegradationEstimate.from_result(
        result, ratio=r, srf_given=srf_matrix is not None, psf_given=kernel is not None,
        wavelengths_nm=lr.wavelengths_nm, band_names=msi_names, method=method)
    with staged_degradation_files(out, estimate) as deg_files:
        write_cube(result.hr_hsi, out, wavelengths=lr.wavelengths_nm,
                   meta=output_meta(lr.meta, hr.meta, r, result.hr_hsi.shape[0]))
    for w in (estimate.warnings()[0] if deg_files else ()):
        typer.echo(f"warning: {w}", err=True)
    b, h, w = result.hr_hsi.shape
    typer.echo(f"{method}: fused ({h}, {w}, {b}) (H x W x bands) in "
               f"{result.info['fuse_seconds']:.2f} s -> {out}")
    _echo_degradation_files(deg_files)


def _echo_degradation_files(files) -> None:
    if files:
        from mossfuse.realscene.degradation_files import describe

        typer.echo(f"estimated degradation -> {describe(files)}")


def _checked(scene, path, name):
    from mossfuse.errors import check_cube

    mask = scene.meta.get("nodata_mask")
    if mask is not None and mask.any():
        raise MossfuseInputError(
            f"{name} has {int(mask.sum())} no-data pixels (NaN/Inf or the file's no-data "
            "value); fuse with --report DIR, which masks them out of the estimation and the "
            "metrics and fills them for the fusion", path)
    try:
        return check_cube(scene.cube, name, path)
    except MossfuseInputError:
        raise
    except Exception as exc:  # pragma: no cover - defensive
        raise MossfuseInputError(str(exc), path) from exc


@app.command()
def evaluate(
    pred: Annotated[Path, typer.Option(help="Fused cube file (H x W x bands)")],
    ref: Annotated[Path, typer.Option(help="Reference cube file (H x W x bands)")],
    ratio: Annotated[int, typer.Option(help="Resolution ratio r (ERGAS)")],
    profile: Annotated[str, typer.Option(help="Metric profile: mossfuse-paper | standard")] = (
        "mossfuse-paper"
    ),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    pred_key: Annotated[str | None, typer.Option(help="Variable in a .mat/.npz pred")] = None,
    ref_key: Annotated[str | None, typer.Option(help="Variable in a .mat/.npz ref")] = None,
) -> None:
    """Full-reference metrics of a fused cube against a reference, under a named profile."""
    from mossfuse.data.io import read_cube
    from mossfuse.metrics import evaluate as evaluate_metrics

    p = read_cube(pred, pred_key, allow_unnormalized=True)
    r = read_cube(ref, ref_key)
    if p.cube.shape != r.cube.shape:
        raise MossfuseInputError(
            f"prediction shape {p.cube.shape[::-1]} ({pred}) differs from reference shape "
            f"{r.cube.shape[::-1]} ({ref}) (H x W x bands)"
        )
    report = evaluate_metrics(p.cube, r.cube, profile=profile, ratio=ratio)
    if as_json:
        typer.echo(json.dumps({"profile": profile, "ratio": ratio, **report.values}, indent=2))
    else:
        typer.echo(f"profile {profile}, ratio {ratio}")
        for k, v in report.values.items():
            typer.echo(f"  {k:>8s}  {v:.4f}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Output folder")] = Path("mossfuse-demo"),
    size: Annotated[int, typer.Option(help="Scene size in pixels")] = 256,
    protocol: Annotated[str, typer.Option(help="Protocol name")] = "wald-x8",
    method: Annotated[str, typer.Option(help="Method name")] = "cnmf",
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic scene")] = 0,
) -> None:
    """Synthetic dead-leaves scene -> degrade -> fuse -> metrics + figure (no download)."""
    from mossfuse.demo import run_demo

    run_demo(out, size=size, protocol=protocol, method=method, seed=seed)


@app.command()
def benchmark(
    root: Annotated[Path, typer.Option(help="Dataset root folder")],
    out: Annotated[Path, typer.Option(help="Output folder (resumable)")],
    dataset: Annotated[str, typer.Option(help="Dataset kind")] = "cave",
    protocol: Annotated[str, typer.Option(help="Protocol name or .json")] = "mossfuse-x32",
    methods: Annotated[str, typer.Option(help="Comma-separated method names")] = "bicubic",
    scenes: Annotated[str | None, typer.Option(help="Comma-separated scene names")] = None,
    split: Annotated[str | None, typer.Option(help="Named split (test, dev-val, ...)")] = None,
    known_degradation: Annotated[
        bool, typer.Option("--known-degradation/--blind", help="Give methods the true PSF/SRF")
    ] = True,
    profile: Annotated[
        str, typer.Option(help="Metric profile(s), comma-separated")
    ] = "mossfuse-paper",
    method_config: Annotated[
        Path | None, typer.Option(help="JSON {method: {config}} overrides")
    ] = None,
    weights: Annotated[
        str | None, typer.Option(help="Checkpoints of learned methods: name=path[,name=path]")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for every method")] = 0,
    figures: Annotated[bool, typer.Option("--figures/--no-figures")] = True,
    figure_scenes: Annotated[int, typer.Option(help="Figures for the first N scenes")] = 4,
    threads: Annotated[int | None, typer.Option(help="torch threads")] = None,
) -> None:
    """Run methods side by side on a dataset: metrics, time, memory, tables, figures."""
    from mossfuse.bench.runner import BenchmarkConfig, run_benchmark

    cfg = BenchmarkConfig(
        dataset=dataset, root=str(root), protocol=protocol, methods=_split(methods) or [],
        method_configs=json.loads(method_config.read_text()) if method_config else {},
        scenes=_split(scenes), split=split,
        weights=dict(_pair(w) for w in _split(weights) or []),
        degradation="known" if known_degradation else "blind",
        profiles=_split(profile) or ["mossfuse-paper"], seed=seed, figures=figures,
        figure_scenes=figure_scenes,
        threads=threads, command="mossfuse " + " ".join(sys.argv[1:]),
    )
    summary = run_benchmark(cfg, out)
    for method, vals in summary["means"].items():
        line = ", ".join(f"{k} {v:.4g}" for k, v in vals[cfg.profiles[0]].items())
        typer.echo(f"{method}: {line} ({vals['timing']['seconds_median']:.2f} s/scene)")
    typer.echo(f"tables and figures -> {out}")


from mossfuse.train_cli import train_command  # noqa: E402  (a thin typer command)

app.command("train")(train_command)
from mossfuse.analyze_cli import analyze_app  # noqa: E402

app.add_typer(analyze_app, name="analyze")
from mossfuse.weights_cli import weights_app; app.add_typer(weights_app, name="weights")  # noqa


@app.command()
def methods() -> None:
    """List the registered fusion methods."""
    from mossfuse.methods import available_methods

    for name in available_methods():
        typer.echo(name)


@app.command()
def protocols() -> None:
    """List the built-in simulation protocols (daem-k* when their kernel files are found)."""
    from mossfuse.physics import (
        PROTOCOLS,
        daem,  # noqa: F401  (registers daem-k0..5 if available)
    )

    for name, proto in PROTOCOLS.items():
        typer.echo(f"{name}: {proto.description}")


def main(argv: list[str] | None = None) -> None:
    """Entry point with one-line errors for bad input (``argv`` defaults to ``sys.argv``)."""
    run_app(app, argv, "mossfuse")


if __name__ == "__main__":
    main()
