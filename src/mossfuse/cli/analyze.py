"""``mossfuse analyze``: the paper's analyses (thin: parse, call :mod:`mossfuse.analyses`, print).

Registered in the main CLI with ``app.add_typer(analyze_app, name="analyze")``::

    mossfuse analyze robustness --root DATA/cave --weights mossfuse=W --out OUT
    mossfuse analyze decoupling --root DATA/cave --weights W --scene face --out OUT
    mossfuse analyze sweep --root DATA/cave --out OUT
    mossfuse analyze efficiency --root DATA/cave --out OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from mossfuse.cli.options import CaveRoot, Scenes, Seed, Split, Threads, split_list
from mossfuse.errors import MossfuseInputError

analyze_app = typer.Typer(
    name="analyze",
    help="The paper's analyses: degradation robustness, decoupling PCA, loss-weight sweep, "
         "efficiency table.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _command() -> str:
    return "mossfuse " + " ".join(sys.argv[1:])


@analyze_app.command()
def robustness(
    root: CaveRoot,
    out: Annotated[Path, typer.Option(help="Output folder (resumable)")],
    protocols: Annotated[str, typer.Option(help="Comma-separated protocols")] = (
        "daem-k0,daem-k1,daem-k2,daem-k3,daem-k4,daem-k5"
    ),
    methods: Annotated[str, typer.Option(help="Comma-separated methods (all run blind)")] = (
        "gsa,cnmf,hysure,mossfuse"
    ),
    scenes: Scenes = None,
    split: Split = None,
    weights: Annotated[str | None, typer.Option(
        help="Checkpoints of learned methods: name=path or protocol:name=path, comma-separated "
             "(default: the shipped weights when present)"
    )] = None,
    profile: Annotated[str, typer.Option(help="Metric profile")] = "mossfuse-paper",
    estimate: Annotated[bool, typer.Option(
        "--estimate/--no-estimate", help="Estimated vs true PSF/SRF table and figure"
    )] = True,
    figure_scenes: Annotated[
        int, typer.Option(help="Benchmark figures for the first N scenes of each protocol")
    ] = 1,
    seed: Seed = 0,
    threads: Threads = None,
) -> None:
    """Blind fusion under the DAEM degradations: PSNR/SAM violins, estimated vs true PSF/SRF."""
    from mossfuse.analyses._common import parse_pairs
    from mossfuse.analyses.robustness import RobustnessConfig, run_robustness

    cfg = RobustnessConfig(
        root=str(root), protocols=split_list(protocols) or [], methods=split_list(methods) or [],
        scenes=split_list(scenes), split=split, weights=parse_pairs([weights] if weights else []),
        profile=profile, estimate=estimate, seed=seed, figure_scenes=figure_scenes,
        threads=threads, command=_command(),
    )
    summary = run_robustness(cfg, out, progress=sys.stderr.isatty())
    for proto, by_method in summary["metrics"].items():
        cells = ", ".join(f"{m} {v['psnr_mean']:.2f} dB / {v['sam_mean']:.2f} deg"
                          for m, v in by_method.items())
        typer.echo(f"{proto}: {cells}")
    typer.echo(f"report, tables and figures -> {out}")


@analyze_app.command()
def decoupling(
    root: CaveRoot,
    out: Annotated[Path, typer.Option(help="Output folder")],
    weights: Annotated[Path | None, typer.Option(
        help="MossFuse checkpoint (default: the shipped weights when present)"
    )] = None,
    scene: Annotated[str, typer.Option(help="CAVE scene to encode")] = "face",
    protocol: Annotated[str, typer.Option(help="Protocol simulating the inputs")] = (
        "mossfuse-x32"
    ),
    pixels: Annotated[int, typer.Option(help="Pixels sampled per feature set")] = 4000,
    crop: Annotated[
        int | None, typer.Option(help="Encode a centred crop of this many HR px instead")
    ] = None,
    untrained: Annotated[bool, typer.Option(
        "--untrained/--no-untrained", help="Also analyse an untrained network (the control)"
    )] = True,
    seed: Annotated[int, typer.Option(help="Seed of the pixel sample and the control")] = 0,
    threads: Threads = None,
) -> None:
    """PCA of the four decoupled features (S_Y, C_Y, S_x, C_x) and the cosines of L_SC."""
    import torch

    from mossfuse.analyses._common import default_weights
    from mossfuse.analyses.decoupling import run_decoupling

    if threads:
        torch.set_num_threads(threads)
    w = weights if weights is not None else default_weights("mossfuse")
    if w is None:
        raise MossfuseInputError("give --weights (a MossFuse checkpoint); no shipped weights")
    doc = run_decoupling(w, scene, root, out, protocol=protocol, n_pixels=pixels, seed=seed,
                         crop=crop, compare_untrained=untrained, command=_command())
    for label, res in doc["results"].items():
        c, s = res["cosines"], res["separation"]
        typer.echo(f"{label}: cos(S_Y,S_x) {c['cos(S_Y,S_x)']:.3f}, cos(S_Y,C_Y) "
                   f"{c['cos(S_Y,C_Y)']:.3f}, cos(S_x,C_x) {c['cos(S_x,C_x)']:.3f}, "
                   f"cos(C_Y,C_x) {c['cos(C_Y,C_x)']:.3f}, L_SC {c['L_SC']:.3f}; "
                   f"separation score {s.get('score', float('nan')):.2f}")
    typer.echo(f"report and figure -> {out}")


@analyze_app.command()
def sweep(
    root: CaveRoot,
    out: Annotated[Path, typer.Option(help="Output folder (resumable, one file per point)")],
    alpha1: Annotated[str | None, typer.Option(
        help="alpha1 (alpha_sc) values, comma-separated (default 0.001,0.1,10); 'none' skips"
    )] = None,
    alpha2: Annotated[str | None, typer.Option(
        help="alpha2 (alpha_sct, trains with L_SCT on) values (default 0.0001,0.5,1)"
    )] = None,
    alpha3: Annotated[str | None, typer.Option(
        help="alpha3 (alpha_de) values (default 0.0001,0.5,1)"
    )] = None,
    steps: Annotated[int | None, typer.Option(help="Network steps per point (default 60)")] = None,
    warmup: Annotated[int | None, typer.Option(
        help="Degradation-only warm-up steps per point (default 100)"
    )] = None,
    crop: Annotated[int | None, typer.Option(help="HR crop side (default 64)")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size (default 4)")] = None,
    protocol: Annotated[str, typer.Option(help="Protocol simulating the pairs")] = (
        "mossfuse-x32"
    ),
    train_split: Annotated[str, typer.Option(help="Training split (inputs only)")] = "dev-train",
    val_split: Annotated[str, typer.Option(help="Validation split")] = "dev-val",
    val_crop: Annotated[int, typer.Option(help="Centred validation crop (HR px)")] = 256,
    config: Annotated[Path | None, typer.Option(
        help="JSON {\"model\": {MossFuseConfig overrides}, \"train\": {TrainConfig overrides}} "
             "for every point"
    )] = None,
    threads: Annotated[int | None, typer.Option(help="torch threads (default 1)")] = None,
) -> None:
    """Loss-weight sensitivity: train briefly per weight value, plot PSNR and loss vs weight."""
    from mossfuse.analyses.sweep import DEFAULT_GRID, DEFAULT_MODEL, SweepConfig, run_sweep

    grid: dict[str, list[float]] = {}
    for key, text in (("alpha_sc", alpha1), ("alpha_sct", alpha2), ("alpha_de", alpha3)):
        if text is not None and text.strip().lower() == "none":
            continue
        try:
            grid[key] = [float(v) for v in split_list(text)] if text else list(DEFAULT_GRID[key])
        except ValueError as exc:
            raise MossfuseInputError(f"bad value list for {key}: '{text}'") from exc
    if not grid:
        raise MossfuseInputError("nothing to sweep: every alpha is 'none'")
    model: dict = dict(DEFAULT_MODEL)
    train: dict = {}
    if config is not None:
        try:
            doc = json.loads(config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise MossfuseInputError(f"cannot read the config ({exc})", config) from exc
        model.update(doc.get("model") or {})
        train.update(doc.get("train") or {})
    for key, value in (("steps", steps), ("degradation_warmup_steps", warmup), ("crop", crop),
                       ("batch_size", batch), ("threads", threads)):
        if value is not None:
            train[key] = value
    try:
        cfg = SweepConfig(root=str(root), protocol=protocol, train_split=train_split,
                          val_split=val_split, val_crop=val_crop, grid=grid, model=model,
                          train={**_default_train(), **train}, command=_command())
    except ValueError as exc:
        raise MossfuseInputError(f"invalid sweep configuration: {exc}") from exc
    doc = run_sweep(cfg, out)
    for r in doc["records"]:
        typer.echo(f"{r['weight']} = {r['value']:g}: PSNR {r['val_psnr']:.2f} dB, "
                   f"L_{r['term'].upper()} {r['loss_term']:.4g}")
    typer.echo(f"report, table and figure -> {out}")


def _default_train() -> dict:
    from mossfuse.analyses.sweep import DEFAULT_TRAIN

    return dict(DEFAULT_TRAIN)


@analyze_app.command()
def efficiency(
    out: Annotated[Path, typer.Option(help="Output folder")],
    root: Annotated[Path | None, typer.Option(
        help="CAVE root (default: a synthetic dead-leaves scene of the same size)"
    )] = None,
    scene: Annotated[str, typer.Option(help="CAVE scene")] = "face",
    size: Annotated[int, typer.Option(help="Scene side in HR px")] = 512,
    protocol: Annotated[str, typer.Option(help="Protocol (ratio)")] = "mossfuse-x32",
    methods: Annotated[
        str | None, typer.Option(help="Comma-separated methods (default: every registered one)")
    ] = None,
    weights: Annotated[str | None, typer.Option(
        help="Checkpoints of learned methods: name=path[,name=path] (default: shipped weights "
             "when present, else untrained: same cost)"
    )] = None,
    training_log: Annotated[str | None, typer.Option(
        help="Training time: name=summary.json or name=train_log.jsonl, comma-separated"
    )] = None,
    repeats: Annotated[int, typer.Option(help="Timed fuse calls per method (median)")] = 3,
    threads: Annotated[int, typer.Option(help="torch threads during the measurements")] = 1,
    blind: Annotated[bool, typer.Option(
        "--blind/--known-degradation", help="Classical methods estimate PSF/SRF (blind)"
    )] = False,
) -> None:
    """Parameters, FLOPs, inference time, peak memory and training time of every method."""
    from mossfuse.analyses._common import parse_pairs
    from mossfuse.analyses.efficiency import run_efficiency

    doc = run_efficiency(
        out, root=root, scene=scene, size=size, protocol=protocol, methods=split_list(methods),
        weights=parse_pairs([weights] if weights else []),
        training=parse_pairs([training_log] if training_log else []), repeats=repeats,
        threads=threads, blind=blind, command=_command(), progress=sys.stderr.isatty(),
    )
    for r in doc["rows"]:
        typer.echo(f"{r['method']}: params {r['params_inference']:,}, "
                   f"{r.get('flops', 0) / 1e9:.2f} GFLOPs, {r['seconds_median']:.3f} s, "
                   f"{r['peak_memory_mb']:.0f} MB")
    typer.echo(f"table -> {out}")
