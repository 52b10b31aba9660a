"""Loss-weight sensitivity (MossFuse paper, appendix D, Fig. 11) with a short budget per point.

``L = L_MA + alpha1 L_SC + alpha2 L_SCT + alpha3 L_DE``: each weight is varied alone over a
grid, the others at the base config's values. Every point trains a fresh MossFuse with
:func:`mossfuse.methods.mossfuse.train.train` for the same (small) number of steps on the
**inputs** of the training scenes (blind), then scores it on centred crops of the validation
scenes with :class:`~mossfuse.methods.mossfuse.train.ReferenceEvaluator` (which alone holds
the references). Recorded per point: validation PSNR/SAM, and the final value of the loss term
the weight multiplies (unweighted; mean of the last ``loss_window`` logged steps) and of the
total. ``alpha2`` (``alpha_sct``) points train with ``use_sct_loss=True`` (``L_SCT`` is off in
the base config, as in the authors' release).

This is a tiny-budget sensitivity test, not the paper's (fully trained models): PSNR
differences of a few tenths of a dB between points are within the run-to-run noise of such
short runs.

Output folder: ``points/<alpha>=<value>.json`` (one per point, resumable), ``sweep.csv``,
``sweep.json``, ``sweep.md`` and ``sweep.png`` (PSNR and loss against each weight).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mossfuse.analyses._common import machine_line, md_table, write_csv, write_json, write_text
from mossfuse.errors import MossfuseInputError

#: weight name -> (loss term it multiplies, short label)
WEIGHTS = {"alpha_sc": ("sc", "alpha1 (L_SC)"), "alpha_sct": ("sct", "alpha2 (L_SCT)"),
           "alpha_de": ("de", "alpha3 (L_DE)")}
DEFAULT_GRID = {"alpha_sc": [1e-3, 1e-1, 1e1], "alpha_sct": [1e-4, 0.5, 1.0],
                "alpha_de": [1e-4, 0.5, 1.0]}
#: The base training run of every point: the CPU recipe of docs/training.md, shortened.
DEFAULT_TRAIN: dict[str, Any] = {
    "crop": 64, "batch_size": 4, "shuffle": True, "augment": True, "steps": 60,
    "lr": 1e-3, "lr_schedule": "cosine", "warmup_steps": 10, "lr_min": 1e-5,
    "degradation_warmup_steps": 100, "lr_degradation_warmup": 2e-2, "lr_degradation": 1e-3,
    "degradation_after_warmup": "joint", "validate_every": 0, "checkpoint_every": 0,
    "threads": 1, "progress": False, "seed": 0,
}
DEFAULT_MODEL: dict[str, Any] = {}


class SweepConfig(BaseModel):
    """What :func:`run_sweep` does (saved in ``sweep.json``)."""

    model_config = ConfigDict(extra="forbid")
    root: str
    protocol: str = "mossfuse-x32"
    train_split: str = "dev-train"
    val_split: str = "dev-val"
    train_scenes: list[str] | None = None
    val_scenes: list[str] | None = None
    val_crop: int | None = 256
    grid: dict[str, list[float]] = Field(default_factory=lambda: dict(DEFAULT_GRID))
    model: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_MODEL))
    train: dict[str, Any] = Field(default_factory=lambda: dict(DEFAULT_TRAIN))
    loss_window: int = Field(10, ge=1)
    command: str = ""


def point_configs(cfg: SweepConfig, weight: str, value: float) -> tuple[Any, Any]:
    """``(MossFuseConfig, TrainConfig)`` of one point (before adapting to the inputs)."""
    from mossfuse.methods.mossfuse.config import MossFuseConfig
    from mossfuse.methods.mossfuse.train import TrainConfig

    if weight not in WEIGHTS:
        raise MossfuseInputError(f"unknown weight '{weight}'; expected one of {list(WEIGHTS)}")
    model = {**cfg.model, weight: float(value)}
    if weight == "alpha_sct":
        model["use_sct_loss"] = True
    train = {**DEFAULT_TRAIN, **cfg.train}
    train.pop("mode", None)
    return MossFuseConfig(**model), TrainConfig(mode="dataset", **train)


def _point_key(cfg: SweepConfig, weight: str, value: float) -> str:
    payload = json.dumps({"weight": weight, "value": value, "model": cfg.model,
                          "train": cfg.train, "protocol": cfg.protocol,
                          "train_scenes": cfg.train_scenes, "train_split": cfg.train_split,
                          "val": [cfg.val_scenes, cfg.val_split, cfg.val_crop]},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def final_losses(history: list[dict[str, Any]], window: int) -> dict[str, float]:
    """Mean of each loss term over the last ``window`` logged network steps."""
    net_steps = [r for r in history if "ma" in r]
    tail = net_steps[-window:]
    out: dict[str, float] = {}
    for key in ("ma", "sc", "sct", "de", "total"):
        vals = [r[key] for r in tail if key in r]
        if vals:
            out[f"loss_{key}"] = float(np.mean(vals))
    return out


def run_point(cfg: SweepConfig, weight: str, value: float, inputs: list[Any],
              evaluator: Any) -> dict[str, Any]:
    """Train and validate one point; returns its record (no files written)."""
    from mossfuse.methods.mossfuse.train import adapt_model_config, train

    model_cfg, train_cfg = point_configs(cfg, weight, value)
    model_cfg = adapt_model_config(model_cfg, inputs[0])
    t0 = time.perf_counter()
    res = train(model_cfg, train_cfg, inputs, None, evaluator=evaluator)
    seconds = time.perf_counter() - t0
    last = res.last
    term = WEIGHTS[weight][0]
    losses = final_losses(res.history, cfg.loss_window)
    return {
        "weight": weight, "value": float(value), "term": term,
        "val_psnr": last.get("val_psnr"), "val_sam": last.get("val_sam"),
        **losses, "loss_term": losses.get(f"loss_{term}"),
        "psf_sigma": last.get("psf_sigma"), "steps": res.steps, "seconds": seconds,
        "use_sct_loss": model_cfg.use_sct_loss,
    }


def _data(cfg: SweepConfig) -> tuple[list[Any], Any, list[str], list[str]]:
    from mossfuse.data.cave import CaveDataset
    from mossfuse.methods.mossfuse.train import ReferenceEvaluator, simulate_training_inputs
    from mossfuse.physics import get_protocol

    ds = CaveDataset(cfg.root)
    proto = get_protocol(cfg.protocol)
    train_names = cfg.train_scenes or list(ds.split(cfg.train_split).present)
    val_names = cfg.val_scenes or list(ds.split(cfg.val_split).present)
    if not train_names or not val_names:
        raise MossfuseInputError(f"no training or validation scenes under {cfg.root}")
    overlap = sorted(set(train_names) & set(val_names))
    if overlap:
        raise MossfuseInputError(f"scenes both in training and validation: {overlap}")
    inputs = simulate_training_inputs((ds.load(n) for n in train_names), proto)
    evaluator = ReferenceEvaluator.from_scenes((ds.load(n) for n in val_names), proto,
                                               crop=cfg.val_crop)
    return inputs, evaluator, train_names, val_names


def run_sweep(cfg: SweepConfig, out: str | Path, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) every point of the grid and write the tables and the figure."""
    import torch

    out = Path(out)
    for w in cfg.grid:
        point_configs(cfg, w, cfg.grid[w][0])  # validate before loading any data
    threads = {**DEFAULT_TRAIN, **cfg.train}.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    inputs = evaluator = None
    train_names: list[str] = []
    val_names: list[str] = []
    records: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for weight, values in cfg.grid.items():
        for value in values:
            key = _point_key(cfg, weight, value)
            path = out / "points" / f"{weight}={value:g}.json"
            if path.exists():
                rec = json.loads(path.read_text())
                if rec.get("key") == key:
                    records.append(rec)
                    continue
            if inputs is None:
                inputs, evaluator, train_names, val_names = _data(cfg)
            if progress:
                print(f"sweep: {weight} = {value:g} ...", flush=True)
            rec = {"key": key, **run_point(cfg, weight, value, inputs, evaluator)}
            write_json(path, rec)
            records.append(rec)
            if progress:
                print(f"  PSNR {rec['val_psnr']:.2f} dB, L_{rec['term'].upper()} "
                      f"{rec['loss_term']}, {rec['seconds']:.0f} s", flush=True)
    if not train_names:
        from mossfuse.data.cave import CaveDataset

        ds = CaveDataset(cfg.root)
        train_names = cfg.train_scenes or list(ds.split(cfg.train_split).present)
        val_names = cfg.val_scenes or list(ds.split(cfg.val_split).present)
    doc = {"config": cfg.model_dump(mode="json"), "train_scenes": train_names,
           "val_scenes": val_names, "records": records, "machine": machine_line(),
           "seconds_this_run": time.perf_counter() - t0,
           "seconds_points_total": float(sum(r["seconds"] for r in records))}
    write_csv(out / "sweep.csv", [{k: v for k, v in r.items() if k != "key"} for r in records])
    write_json(out / "sweep.json", doc)
    save_sweep_figure(out / "sweep.png", records, list(cfg.grid))
    write_text(out / "sweep.md", markdown_report(doc))
    return doc


def save_sweep_figure(path: Path, records: list[dict[str, Any]], weights: list[str],
                      dpi: int = 90) -> Path:
    """One panel per weight: validation PSNR (left axis, blue) and the final value of the
    term it multiplies (right axis, red) against the weight (log x axis)."""
    from mossfuse.viz.canvas import new_figure, save_figure

    fig = new_figure(4.3 * len(weights), 3.4)
    axes = fig.subplots(1, len(weights), squeeze=False)[0]
    for ax, weight in zip(axes, weights, strict=True):
        rs = sorted((r for r in records if r["weight"] == weight), key=lambda r: r["value"])
        if not rs:
            continue
        x = [r["value"] for r in rs]
        ax.plot(x, [r["val_psnr"] for r in rs], "o-", color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlabel(WEIGHTS[weight][1])
        ax.set_ylabel("validation PSNR (dB)", color="tab:blue")
        twin = ax.twinx()
        term = WEIGHTS[weight][0]
        twin.plot(x, [r.get("loss_term", np.nan) for r in rs], "s--", color="tab:red")
        twin.set_ylabel(f"final L_{term.upper()} (unweighted)", color="tab:red")
        ax.grid(alpha=0.3)
    fig.suptitle("Loss-weight sensitivity (short CPU budget per point)", fontsize=10)
    return save_figure(fig, path, dpi)


def markdown_report(doc: dict[str, Any]) -> str:
    """``sweep.md``: setup and one table per weight."""
    cfg = doc["config"]
    train = {**DEFAULT_TRAIN, **cfg["train"]}
    recs = doc["records"]
    lines = [
        "# Loss-weight sensitivity (paper appendix D, Fig. 11), tiny CPU budget", "",
        f"- Command: `{cfg.get('command') or '(library call)'}`",
        f"- Training (inputs only, blind): {', '.join(doc['train_scenes'])} "
        f"(`{cfg['protocol']}`)",
        f"- Validation: centred {cfg['val_crop']} px crops of {', '.join(doc['val_scenes'])} "
        "(mean PSNR / SAM, profile `mossfuse-paper`)",
        f"- Per point: {train['degradation_warmup_steps']} degradation-only warm-up steps + "
        f"{train['steps']} network steps, crop {train['crop']}, batch {train['batch_size']}, "
        f"lr {train['lr']} ({train['lr_schedule']}), seed {train['seed']}, "
        f"{train['threads']} torch thread(s); model overrides {cfg['model']}",
        f"- Budget: {doc['seconds_points_total'] / 60:.1f} min of training + validation over "
        f"{len(recs)} points ({np.mean([r['seconds'] for r in recs]):.0f} s per point on "
        "average)" if recs else "- no points",
        f"- Machine: {doc['machine']}", "",
        "Figure: `sweep.png`. Losses are the unweighted terms, averaged over the last "
        f"{cfg['loss_window']} steps. alpha2 points train with `use_sct_loss=true`.", "",
        "This is a sensitivity check at a tiny budget (a few minutes per point), not the "
        "paper's experiment with fully trained models.", "",
    ]
    for weight in cfg["grid"]:
        rs = sorted((r for r in recs if r["weight"] == weight), key=lambda r: r["value"])
        if not rs:
            continue
        term = WEIGHTS[weight][0]
        lines += [f"## {WEIGHTS[weight][1]}", ""]
        lines += md_table(
            [weight, "val PSNR", "val SAM", f"L_{term.upper()}", "L_MA", "total",
             "PSF sigma", "s"],
            [[r["value"], r["val_psnr"], r["val_sam"], r.get("loss_term"), r.get("loss_ma"),
              r.get("loss_total"), r.get("psf_sigma"), r["seconds"]] for r in rs],
        )
        lines.append("")
    return "\n".join(lines)


__all__ = ["DEFAULT_GRID", "DEFAULT_MODEL", "DEFAULT_TRAIN", "SweepConfig", "WEIGHTS",
           "final_losses", "point_configs", "run_point", "run_sweep", "save_sweep_figure"]
