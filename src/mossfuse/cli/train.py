"""``mossfuse train``: train MossFuse on a dataset or fit it to one pair (thin: parse, call
:mod:`mossfuse.methods.mossfuse.train`, print); ``--method scalmu`` trains SCALMU on
synthetic dead-leaves pairs only (:mod:`mossfuse.methods.scalmu.trainer`).

The main CLI registers it with ``app.command("train")(train_command)``. It also runs on its
own, which is how several processes are started::

    python -m mossfuse.cli.train --dataset cave --root DATA/cave --split dev-train --out runs/a
    torchrun --standalone --nproc_per_node=2 -m mossfuse.cli.train --dataset cave ... --out runs/a

Only the **inputs** of the training scenes (``case.inputs.blind()``) reach the trainer; the
references of the validation scenes go to the validation evaluator alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mossfuse.cli.options import DatasetKind, DatasetRoot, HsiKey, MsiKey, named_scenes
from mossfuse.cli.runner import run_app
from mossfuse.errors import MossfuseInputError


def _read_config(path: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model, train)`` sections of a config JSON: ``{"model": {...}, "train": {...}}``, or
    a flat :class:`TrainConfig` object."""
    if path is None:
        return {}, {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MossfuseInputError(f"cannot read the training config ({exc})", path) from exc
    if not isinstance(doc, dict):
        raise MossfuseInputError("the training config must be a JSON object", path)
    if {"model", "train"} & set(doc):
        extra = set(doc) - {"model", "train"}
        if extra:
            raise MossfuseInputError(
                f"unknown sections {sorted(extra)}; expected 'model' and/or 'train'", path
            )
        return dict(doc.get("model") or {}), dict(doc.get("train") or {})
    return {}, doc


def train_command(
    out: Annotated[Path, typer.Option(help="Run folder: log, checkpoints, model.safetensors")],
    method: Annotated[str, typer.Option(
        help="'mossfuse' (CAVE pairs or one pair) or 'scalmu' (synthetic dead-leaves pairs "
             "degraded by --protocol; takes --protocol, --steps, --crop (scene side), --lr, "
             "--seed, --threads, --config)"
    )] = "mossfuse",
    dataset: DatasetKind = None,
    root: DatasetRoot = None,
    protocol: Annotated[str | None, typer.Option(
        help="Simulation protocol (name or .json) of the dataset pairs (default mossfuse-x32); "
             "single-scene mode takes only its sampling phase"
    )] = None,
    split: Annotated[
        str | None, typer.Option(help="Training split (dev-train, train, ...)")
    ] = None,
    scenes: Annotated[str | None, typer.Option(help="Training scenes, comma-separated")] = None,
    val_scenes: Annotated[
        str | None, typer.Option(help="Validation scenes (with references), comma-separated")
    ] = None,
    val_split: Annotated[str | None, typer.Option(help="Validation split (e.g. dev-val)")] = None,
    val_crop: Annotated[int | None, typer.Option(
        help="Validate on a centred crop of this many HR px (a multiple of r; cheaper)"
    )] = None,
    lr_hsi: Annotated[
        Path | None, typer.Option(help="Single-scene mode: the LR-HSI file (H x W x bands)")
    ] = None,
    hr_msi: Annotated[
        Path | None, typer.Option(help="Single-scene mode: the HR-MSI file (H x W x bands)")
    ] = None,
    hsi_key: HsiKey = None,
    msi_key: MsiKey = None,
    reference: Annotated[Path | None, typer.Option(
        help="Single-scene mode: a reference HR-HSI, used only to report validation metrics"
    )] = None,
    fused: Annotated[Path | None, typer.Option(
        help="Single-scene mode: write the fused HR-HSI of the pair here after training"
    )] = None,
    config: Annotated[Path | None, typer.Option(
        help="JSON: {\"model\": {MossFuseConfig}, \"train\": {TrainConfig}} (or a flat "
             "TrainConfig); the options below override it"
    )] = None,
    steps: Annotated[int | None, typer.Option(help="Network steps")] = None,
    epochs: Annotated[float | None, typer.Option(help="Epochs of the crop grid")] = None,
    crop: Annotated[int | None, typer.Option(help="HR crop side (px, multiple of r)")] = None,
    batch: Annotated[int | None, typer.Option(help="Global batch size")] = None,
    lr: Annotated[float | None, typer.Option(help="Network learning rate")] = None,
    degradation_warmup: Annotated[
        int | None, typer.Option(help="Degradation-only warm-up steps before joint training")
    ] = None,
    validate_every: Annotated[int | None, typer.Option(help="Steps between validations")] = None,
    checkpoint_every: Annotated[
        int | None, typer.Option(help="Steps between checkpoints")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (init, crop order)")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the run folder's last checkpoint")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="torch threads per process")] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    recipe: Annotated[str | None, typer.Option(
        help="Named recipe as the base of the configuration: 'paper' (300 epochs, 128 px "
             "crops, cosine 1e-3 -> 1e-6, alpha 0.1/1/1 with L_SCT); --config and the options "
             "above override it"
    )] = None,
    device: Annotated[str | None, typer.Option(
        help="auto (CUDA when available), cpu or cuda"
    )] = None,
    session_steps: Annotated[int | None, typer.Option(
        min=1, help="Stop this session after N more steps (with a checkpoint); continue later "
                    "with the same command and --resume: the schedule spans the sessions")] = None,
    session_minutes: Annotated[float | None, typer.Option(
        help="Stop this session after M minutes (with a checkpoint); continue with --resume")
    ] = None,
    autocast: Annotated[str | None, typer.Option(
        help="none or bfloat16: the network's forward pass under bfloat16 autocast (faster "
             "on CPUs with bf16 units; weights, losses and optimiser stay float32)")] = None,
    channels_last: Annotated[bool | None, typer.Option(
        "--channels-last/--no-channels-last",
        help="Network and batches in channels-last memory format (faster on this CPU)")] = None,
    warm_start: Annotated[str | None, typer.Option(
        help="none or gsa: the first --warm-start-steps network steps also fit the blind GSA "
             "fusion of each training pair (computed from its inputs alone)")] = None,
    warm_start_steps: Annotated[int | None, typer.Option(
        min=0, help="Network steps of the warm start (with --warm-start)")] = None,
    known_degradation: Annotated[bool, typer.Option(
        "--known-degradation",
        help="Dataset mode: train against the protocol's true PSF/SRF, held fixed (no L_DE "
             "training, no warm-up): the 'degradation known' comparison run"
    )] = False,
) -> None:
    """Train MossFuse on dataset pairs (--dataset) or fit it to one pair (--lr-hsi/--hr-msi).

    Under torchrun, every process runs this command; each takes its shard of the batch.
    With --method scalmu: supervised training of SCALMU on synthetic dead-leaves pairs only.
    """
    if method == "scalmu" and (session_steps is not None or session_minutes is not None):
        raise MossfuseInputError("--session-steps/--session-minutes are for --method mossfuse "
                                 "(SCALMU's synthetic training is one session)")
    if method == "scalmu":
        _train_scalmu(out, protocol, config, steps, crop, lr, seed, threads,
                      used={"dataset": dataset, "lr_hsi": lr_hsi, "hr_msi": hr_msi,
                            "scenes": scenes, "split": split, "epochs": epochs, "batch": batch,
                            "resume": resume or None})
        return
    if method != "mossfuse":
        raise MossfuseInputError(f"--method must be 'mossfuse' or 'scalmu'; got {method!r}")
    from mossfuse.methods.mossfuse.config import MossFuseConfig
    from mossfuse.methods.mossfuse.train import (
        TrainConfig,
        adapt_model_config,
        init_distributed,
        train,
    )

    model_doc, train_doc = _read_config(config)
    if recipe is not None:
        from mossfuse.methods.mossfuse.train import recipe as named_recipe

        base_model, base_train = named_recipe(recipe)
        if "steps" in train_doc:
            base_train.pop("epochs", None)
        model_doc, train_doc = {**base_model, **model_doc}, {**base_train, **train_doc}
    if device is not None and device not in ("auto", "cpu", "cuda"):
        raise MossfuseInputError(f"--device must be auto, cpu or cuda; got {device!r}")
    overrides = {"steps": steps, "epochs": epochs, "crop": crop, "batch_size": batch, "lr": lr,
                 "degradation_warmup_steps": degradation_warmup,
                 "validate_every": validate_every, "checkpoint_every": checkpoint_every,
                 "seed": seed, "threads": threads, "device": device, "autocast": autocast,
                 "channels_last": channels_last, "warm_start": warm_start,
                 "warm_start_steps": warm_start_steps}
    train_doc.update({k: v for k, v in overrides.items() if v is not None})
    if steps is not None:
        train_doc.pop("epochs", None)
    if epochs is not None:
        train_doc.pop("steps", None)
    train_doc["progress"] = progress and sys.stderr.isatty() and train_doc.get("progress", True)

    single = lr_hsi is not None or hr_msi is not None
    if single and dataset is not None:
        raise MossfuseInputError("give either --dataset or --lr-hsi/--hr-msi, not both")
    if known_degradation:
        if single:
            raise MossfuseInputError("--known-degradation needs --dataset (the protocol's "
                                     "PSF/SRF); single-scene mode estimates its own")
        train_doc.update(known_degradation=True, degradation_warmup_steps=0,
                         degradation_after_warmup="frozen")
    info = init_distributed()
    say = typer.echo if info.is_main else (lambda *a, **k: None)
    if single:
        inputs, evaluator = _single_scene(lr_hsi, hr_msi, hsi_key, msi_key, reference,
                                          protocol)
        train_doc.setdefault("mode", "single-scene")
        names = [lr_hsi.name]
    else:
        inputs, evaluator, names = _dataset(dataset, root, protocol or "mossfuse-x32", split,
                                            scenes, val_scenes, val_split, val_crop)
        train_doc.setdefault("mode", "dataset")
    try:
        train_cfg = TrainConfig(**train_doc)
        model_cfg = adapt_model_config(MossFuseConfig(**model_doc), inputs[0])
    except ValueError as exc:
        raise MossfuseInputError(f"invalid training configuration: {exc}", config) from exc
    known = None
    if known_degradation:
        from mossfuse.methods.mossfuse.degradation import DegradationModule
        from mossfuse.physics import get_protocol

        true = get_protocol(protocol or "mossfuse-x32").degradation(
            inputs[0].hsi_wavelengths_nm)
        known = DegradationModule.from_known(true.psf, true.srf, true.ratio,
                                             true.phase, true.centre)
        model_cfg = model_cfg.model_copy(update={"degradation_model": "free",
                                                 "psf_size": true.psf.shape[0]})
    say(f"training MossFuse ({train_cfg.mode}) on {len(inputs)} pair(s) {names}; "
        f"{info.world_size} process(es) -> {out}"
        + ("; degradation: the protocol's true PSF/SRF, fixed" if known is not None else ""))
    result = train(model_cfg, train_cfg, inputs, out, evaluator=evaluator, resume=resume,
                   degradation=known, session_steps=session_steps,
                   session_seconds=None if session_minutes is None else 60.0 * session_minutes)
    summ = result.summary()
    last = {k: round(v, 5) for k, v in result.last.items()
            if k in ("ma", "sc", "sct", "de", "total", "val_psnr", "val_sam")}
    if not summ["complete"]:
        say(f"session limit: stopped at step {summ['steps']} of {summ['total_steps']} "
            f"({summ['seconds']:.1f} s of training so far); last {last}; checkpoint in "
            f"{out / 'checkpoints'}; continue with the same command and --resume")
        if info.world_size > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
        return
    say(f"done: {summ['steps']} steps in {summ['seconds']:.1f} s; last {last}; PSF sigma "
        f"{summ['psf_sigma_px']:.3f} px; weights {out / 'model.safetensors'}")
    if fused is not None and info.is_main:
        from mossfuse.data.io import write_cube
        from mossfuse.methods.mossfuse.method import MossFuse

        m = MossFuse()
        m.load(out / "model.safetensors")
        res = m.fuse(inputs[0])
        write_cube(res.hr_hsi, fused, wavelengths=inputs[0].hsi_wavelengths_nm)
        say(f"fused {res.hr_hsi.shape[::-1]} (H x W x bands) -> {fused}")
    if info.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


def _train_scalmu(out, protocol, config, steps, crop, lr, seed, threads, used) -> None:
    """``--method scalmu``: :func:`mossfuse.methods.scalmu.trainer.train_scalmu` on synthetic
    pairs degraded by the protocol (no dataset: options that name one are refused)."""
    from mossfuse.methods.scalmu.trainer import ScalmuTrainConfig, train_scalmu
    from mossfuse.physics import get_protocol

    bad = sorted(k for k, v in used.items() if v not in (None, False))
    if bad:
        raise MossfuseInputError(
            f"--method scalmu trains on synthetic dead-leaves pairs only; not with {bad}")
    _, train_doc = _read_config(config)
    proto = get_protocol(protocol or "mossfuse-x32")
    train_doc["protocol"] = proto.name
    overrides = {"steps": steps, "size": crop, "lr": lr, "seed": seed, "threads": threads}
    train_doc.update({k: v for k, v in overrides.items() if v is not None})
    train_doc.setdefault("size", max(8 * proto.ratio, 128))
    try:
        tc = ScalmuTrainConfig(**train_doc)
    except ValueError as exc:
        raise MossfuseInputError(f"invalid SCALMU training configuration: {exc}", config) from exc
    import numpy as np

    wl = np.arange(400.0, 701.0, 10.0)
    typer.echo(f"training SCALMU on synthetic dead-leaves pairs ({tc.size} px, protocol "
               f"{proto.name}), {tc.steps} steps -> {out}")
    summary = train_scalmu(tc, proto.degradation(wl), out, wavelengths_nm=wl, log=typer.echo)
    typer.echo(f"done: {summary['steps']} steps in {summary['seconds']:.1f} s; best synthetic "
               f"val PSNR {summary['best_val_psnr']:.2f} dB; weights {out / 'model.safetensors'}")


def _dataset(dataset, root, protocol, split, scenes, val_scenes, val_split, val_crop):
    from mossfuse.data.cave import CaveDataset
    from mossfuse.methods.mossfuse.train import ReferenceEvaluator, simulate_training_inputs
    from mossfuse.physics import get_protocol

    if dataset != "cave":
        raise MossfuseInputError(
            f"--dataset must be 'cave' (or use --lr-hsi/--hr-msi); got {dataset!r}"
        )
    if root is None:
        raise MossfuseInputError("--dataset cave needs --root DIR")
    ds = CaveDataset(root)
    proto = get_protocol(protocol)
    names = named_scenes(ds, scenes, split) or []
    if not names:
        raise MossfuseInputError("no training scenes: give --split or --scenes")
    val_names = named_scenes(ds, val_scenes, val_split) or []
    overlap = sorted(set(names) & set(val_names))
    if overlap:
        raise MossfuseInputError(f"scenes both in training and validation: {overlap}")
    # references are dropped as soon as each training pair is simulated
    inputs = simulate_training_inputs((ds.load(n) for n in names), proto)
    evaluator = None
    if val_names:
        evaluator = ReferenceEvaluator.from_scenes((ds.load(n) for n in val_names), proto,
                                                   crop=val_crop)
    return inputs, evaluator, names


def _single_scene(lr_path, hr_path, hsi_key, msi_key, reference, protocol):
    from mossfuse.data.io import read_cube
    from mossfuse.data.scene import FusionInputs
    from mossfuse.methods.mossfuse.train import ReferenceEvaluator
    from mossfuse.physics import get_protocol
    from mossfuse.physics.degradation import Degradation

    if lr_path is None or hr_path is None:
        raise MossfuseInputError("single-scene mode needs both --lr-hsi and --hr-msi")
    lr, hr = read_cube(lr_path, hsi_key), read_cube(hr_path, msi_key)
    (h, w), (H, W) = lr.shape_hw, hr.shape_hw
    if H % h or W % w or H // h != W // w:
        raise MossfuseInputError(
            f"HR-MSI {H} x {W} is not an integer multiple r of LR-HSI {h} x {w} on both axes",
            hr_path,
        )
    phase = None
    if protocol is not None:
        proto = get_protocol(protocol)
        if proto.ratio != H // h:
            raise MossfuseInputError(
                f"protocol '{proto.name}' has ratio {proto.ratio}; the inputs have {H // h}"
            )
        phase = proto.phase
    inputs = FusionInputs(lr.cube, hr.cube, H // h, lr.wavelengths_nm,
                          degradation=Degradation(None, None, H // h, phase))
    evaluator = None
    if reference is not None:
        ref = read_cube(reference)
        if ref.cube.shape != (lr.bands, H, W):
            raise MossfuseInputError(
                f"reference shape {ref.cube.shape} (bands, H, W) does not match "
                f"{(lr.bands, H, W)}", reference,
            )
        evaluator = ReferenceEvaluator([(lr_path.stem, inputs, ref.cube)])
    return [inputs], evaluator


def main(argv: list[str] | None = None) -> None:
    """``python -m mossfuse.cli.train`` (also what ``torchrun -m`` runs): one-line errors
    for bad input, exit code 2."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(train_command)
    run_app(app, argv, "mossfuse-train")


if __name__ == "__main__":
    main()
