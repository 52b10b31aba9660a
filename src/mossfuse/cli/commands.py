"""The ``mossfuse`` typer app: the small subcommands (simulate, evaluate, demo, benchmark,
methods, protocols) and the registration of the others (fuse, train, analyze, weights).

Every subcommand has ``--help``. Errors of input (:class:`~mossfuse.errors.MossfuseError`) are
printed as one line on stderr with exit code 2; nothing partial is left under an output name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mossfuse.cli.analyze import analyze_app
from mossfuse.cli.fuse import fuse_command
from mossfuse.cli.options import (
    CUBE_FORMATS,
    DatasetKind,
    DatasetRoot,
    Scenes,
    Seed,
    Split,
    Threads,
    named_scenes,
    parse_pair,
    split_list,
    write_text,
)
from mossfuse.cli.runner import run_app
from mossfuse.cli.train import train_command
from mossfuse.cli.weights import weights_app
from mossfuse.errors import MossfuseInputError

app = typer.Typer(
    name="mossfuse",
    help="Hyperspectral + multispectral image fusion: simulate, fuse, evaluate, benchmark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Output folder: OUT/<scene>/{lr_hsi,hr_msi,reference}")],
    protocol: Annotated[str, typer.Option(help="Protocol name or .json file")] = "mossfuse-x32",
    dataset: DatasetKind = None,
    root: DatasetRoot = None,
    scenes: Scenes = None,
    split: Annotated[str | None, typer.Option(help="Named split (e.g. test, dev-val)")] = None,
    input: Annotated[  # noqa: A002
        Path | None, typer.Option("--input", help="A single reference cube file instead")
    ] = None,
    key: Annotated[str | None, typer.Option(help="Variable name in a .mat/.npz input")] = None,
    fmt: Annotated[str, typer.Option("--format", help=f"One of {CUBE_FORMATS}")] = "npy",
) -> None:
    """Degrade reference cubes by a protocol into LR-HSI / HR-MSI pairs (+ the reference)."""
    from mossfuse.data.io import write_cube
    from mossfuse.physics import get_protocol

    if fmt not in CUBE_FORMATS:
        raise MossfuseInputError(f"--format must be one of {CUBE_FORMATS}; got '{fmt}'")
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
        write_text(folder / "protocol.json", proto.to_json())
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
    names = named_scenes(ds, scenes, split) or list(ds.scenes)
    return [ds.load(n) for n in names]


app.command("fuse")(fuse_command)


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
    from mossfuse.bench.demo import run_demo

    run_demo(out, size=size, protocol=protocol, method=method, seed=seed)


@app.command()
def benchmark(
    root: Annotated[Path, typer.Option(help="Dataset root folder")],
    out: Annotated[Path, typer.Option(help="Output folder (see --resume)")],
    dataset: Annotated[str, typer.Option(help="Dataset kind")] = "cave",
    protocol: Annotated[str, typer.Option(help="Protocol name or .json")] = "mossfuse-x32",
    methods: Annotated[str, typer.Option(help="Comma-separated method names")] = "bicubic",
    scenes: Scenes = None,
    split: Split = None,
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
    seed: Seed = 0,
    figures: Annotated[bool, typer.Option("--figures/--no-figures")] = True,
    figure_scenes: Annotated[int, typer.Option(help="Figures for the first N scenes")] = 4,
    threads: Threads = None,
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
        weights=dict(parse_pair(w) for w in split_list(weights) or []),
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


app.command("train")(train_command)
app.add_typer(analyze_app, name="analyze")
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
