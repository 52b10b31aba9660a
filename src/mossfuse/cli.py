"""Command-line interface (thin: parse, call the library, print).

Every subcommand has ``--help``. Errors of input (:class:`~mossfuse.errors.MossfuseError`) are
printed as one line on stderr with exit code 2; nothing partial is left under an output name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mossfuse._cli_runner import run_app, split_list
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
    from mossfuse.pipeline.outputs import check_output_path

    proto = get_protocol(protocol)
    refs = _reference_scenes(dataset, root, scenes, split, input, key)
    for scene in refs:  # every output checked (never an input, writable) before any work
        for stem in ("lr_hsi", "hr_msi", "reference"):
            check_output_path(out / scene.name / f"{stem}.{fmt}", [input])
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
    names = split_list(scenes)
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
                    "4 s a step on a 2-core CPU)"
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
    if adapt_steps is not None:
        if method != "mossfuse":
            raise typer.BadParameter(f"applies to --method mossfuse only, not '{method}'",
                                     param_hint="'--adapt-steps'")
        options = {"adapt_steps": adapt_steps}
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
        if adapted:
            used += f", adapted {adapted['steps']} steps in {adapted['seconds']:.1f} s"
        typer.echo(f"{method}: fused ({h}, {w}, {b}) (H x W x bands){used} in "
                   f"{outcome.seconds:.2f} s -> {out}")
    if outcome.degradation_files:
        from mossfuse.engine.sidecars import describe

        typer.echo(f"estimated degradation -> {describe(outcome.degradation_files)}")


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
    out: Annotated[Path, typer.Option(help="Output folder (see --resume)")],
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
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in OUT after an interruption: finished (scene, "
                         "method) records with the same config are reused (without it, an OUT "
                         "that holds results is refused)"
    )] = False,
) -> None:
    """Run methods side by side on a dataset: metrics, time, memory, tables, figures.

    Each finished (scene, method) fusion is saved at once in OUT/records/, so an interrupted
    run continues with --resume.
    """
    from mossfuse.bench.runner import BenchmarkConfig, run_benchmark

    cfg = BenchmarkConfig(
        dataset=dataset, root=str(root), protocol=protocol, methods=split_list(methods) or [],
        method_configs=json.loads(method_config.read_text()) if method_config else {},
        scenes=split_list(scenes), split=split,
        weights=dict(_pair(w) for w in split_list(weights) or []),
        degradation="known" if known_degradation else "blind",
        profiles=split_list(profile) or ["mossfuse-paper"], seed=seed, figures=figures,
        figure_scenes=figure_scenes,
        threads=threads, command="mossfuse " + " ".join(sys.argv[1:]),
    )
    summary = run_benchmark(cfg, out, resume=resume)
    for method, vals in summary["means"].items():
        line = ", ".join(f"{k} {v:.4g}" for k, v in vals[cfg.profiles[0]].items())
        typer.echo(f"{method}: {line} ({vals['timing']['seconds_median']:.2f} s/scene)")
    typer.echo(f"tables and figures -> {out}")


from mossfuse.train_cli import train_command  # noqa: E402  (a thin typer command)

app.command("train")(train_command)
from mossfuse.analyze_cli import analyze_app  # noqa: E402

app.add_typer(analyze_app, name="analyze")
from mossfuse.weights_cli import weights_app  # noqa: E402

app.add_typer(weights_app, name="weights")


@app.command()
def methods() -> None:
    """List the registered fusion methods: what each does, whether it is learned (and which
    weights it uses by default), whether it uses the (known or estimated) degradation."""
    from mossfuse.methods import method_summaries

    for s in method_summaries():
        kind = "learned" if s["learned"] else "classical"
        deg = ("uses the degradation (known or estimated PSF/SRF)" if s["uses_degradation"]
               else "does not use a given degradation")
        line = f"{s['name']}: {s['description']} [{kind}; {deg}"
        line += f"; weights: {s['weights']}]" if s["learned"] else "]"
        typer.echo(line)


@app.command()
def protocols() -> None:
    """List the built-in simulation protocols (daem-k* when their kernel files are found)."""
    from mossfuse.physics.protocols import available_protocols

    for name, proto in available_protocols().items():
        typer.echo(f"{name}: {proto.description}")


def main(argv: list[str] | None = None) -> None:
    """Entry point with one-line errors for bad input (``argv`` defaults to ``sys.argv``)."""
    run_app(app, argv, "mossfuse")


if __name__ == "__main__":
    main()
