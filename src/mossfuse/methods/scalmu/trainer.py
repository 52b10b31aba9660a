"""SCALMU training: supervised on synthetic dead-leaves pairs only, on the CPU.

Every step draws a fresh synthetic pair (:class:`~mossfuse.methods.scalmu.data.
SyntheticPairs`, index = step, seeded), runs the unrolled network on its inputs and takes an
Adam step on the L1 loss against the generated cube. A fixed set of synthetic validation
pairs (another seed) is scored every ``validate_every`` steps. No real scene is ever read.

Files in ``out_dir``: ``train_config.json``, ``train_log.jsonl`` (one object per logged step:
``step``, ``loss``, ``psnr`` of the training pair, ``seconds``, and ``val_psnr``/``val_sam``
when computed, plus the layer values), ``checkpoints/ckpt_<step>.{safetensors,json}``,
``best.{safetensors,json}`` (best validation PSNR) and ``model.{safetensors,json}`` (last).
Every pair loads with :meth:`Scalmu.load <mossfuse.methods.scalmu.method.Scalmu.load>`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from safetensors.torch import save_file

from mossfuse._atomic import atomic_path
from mossfuse.data.spectral_library import SpectralLibrary
from mossfuse.methods.scalmu.data import SyntheticPairs
from mossfuse.methods.scalmu.network import (
    DEFAULT_SHAPE,
    FORMAT,
    ScalmuNet,
    make_problem,
    run_scalmu,
)
from mossfuse.physics.degradation import Degradation


class ScalmuTrainConfig(BaseModel):
    """Training settings (saved with every checkpoint).

    Attributes:
        protocol: name of the protocol whose degradation makes the pairs (recorded only when
            the degradation is passed directly).
        steps: Adam steps (one synthetic pair each).
        size: HR side of the synthetic scenes (px, a multiple of the ratio).
        lr: Adam learning rate (all parameters are log-scale or softplus scalars).
        loss: ``l1`` (mean absolute error) or ``psnr`` (minus the mean over bands of the
            band PSNR, data range 1: the quantity the benchmarks average).
        n_layers, n_endmembers, n_sub, n_init: network shape (see
            :func:`~mossfuse.methods.scalmu.network.run_scalmu`).
        seed: seed of the training stream (validation uses ``seed + 1_000_003``).
        materials: ``(lo, hi)`` range of the number of distinct spectra per synthetic scene
            (:class:`~mossfuse.methods.scalmu.data.SyntheticPairs`); ``None``: every leaf
            draws from the whole library.
        n_val: synthetic validation pairs; validate_every / checkpoint_every: steps.
        threads: torch threads.
    """

    model_config = ConfigDict(extra="forbid")
    protocol: str = "mossfuse-x32"
    steps: int = Field(1500, ge=1)
    size: int = Field(256, ge=8)
    lr: float = Field(0.02, gt=0)
    loss: Literal["l1", "psnr"] = "l1"
    n_layers: int = Field(8, ge=1)
    n_endmembers: int = Field(DEFAULT_SHAPE["n_endmembers"], ge=1)
    n_sub: int = Field(DEFAULT_SHAPE["n_sub"], ge=1)
    n_init: int = Field(DEFAULT_SHAPE["n_init"], ge=1)
    seed: int = 0
    materials: tuple[int, int] | None = None
    n_val: int = Field(6, ge=0)
    validate_every: int = Field(100, ge=1)
    checkpoint_every: int = Field(250, ge=1)
    threads: int | None = 1


def _loss(z: torch.Tensor, ref: torch.Tensor, kind: str) -> torch.Tensor:
    """Training loss of an output ``z`` against the synthetic reference, both ``(B, H, W)``."""
    if kind == "l1":
        return (z - ref).abs().mean()
    mse = (z - ref).pow(2).mean(dim=(1, 2))
    return 10.0 * torch.log10(mse + 1e-10).mean()  # = - mean band PSNR (data range 1)


def _psnr(pred: np.ndarray, ref: np.ndarray) -> float:
    mse = float(np.mean((np.clip(pred, 0, 1) - ref) ** 2))
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def _sam_deg(pred: np.ndarray, ref: np.ndarray) -> float:
    p, r = pred.reshape(pred.shape[0], -1), ref.reshape(ref.shape[0], -1)
    cos = (p * r).sum(0) / (np.linalg.norm(p, axis=0) * np.linalg.norm(r, axis=0) + 1e-12)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean())


def save_weights(path: Path, net: ScalmuNet, cfg: ScalmuTrainConfig,
                 extra: dict[str, Any] | None = None) -> None:
    """``path`` (``.safetensors``) and its ``.json`` sidecar (format, network shape, training
    config, learned layer values)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    doc = {
        "format": FORMAT, "ratio": getattr(net, "ratio", None), "n_layers": net.n_layers,
        "n_endmembers": cfg.n_endmembers,
        "n_sub": cfg.n_sub, "n_init": cfg.n_init, "protocol": cfg.protocol,
        "train_config": cfg.model_dump(mode="json"), "layer_values": net.layer_values(),
        **(extra or {}),
    }
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def train_scalmu(cfg: ScalmuTrainConfig, degradation: Degradation, out_dir: str | Path,
                 library: SpectralLibrary | None = None, wavelengths_nm=None,
                 log=print) -> dict[str, Any]:
    """Train from scratch (see module docstring). Returns a summary dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_set = SyntheticPairs(degradation, cfg.size, wavelengths_nm, library, cfg.seed,
                               cfg.materials)
    val_set = SyntheticPairs(degradation, cfg.size, wavelengths_nm, train_set.library,
                             cfg.seed + 1_000_003, cfg.materials)
    val_pairs = [val_set[i] for i in range(cfg.n_val)]
    net = ScalmuNet(cfg.n_layers)
    net.ratio = degradation.ratio  # recorded in every checkpoint's json
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps, eta_min=cfg.lr * 0.05)
    (out / "train_config.json").write_text(json.dumps(
        {"train": cfg.model_dump(mode="json"), "format": FORMAT,
         "degradation": {"ratio": degradation.ratio, "phase": degradation.phase,
                         "centre": degradation.centre, "kernel_shape":
                         list(degradation.psf.shape), "srf": degradation.srf_name}},
        indent=2, default=str))
    log_path = out / "train_log.jsonl"
    log_path.write_text("")
    kw = {"n_endmembers": cfg.n_endmembers, "n_init": cfg.n_init, "n_sub": cfg.n_sub}

    def problem(pair):
        inp = pair.inputs
        return make_problem(inp.lr_hsi, inp.hr_msi, inp.srf, degradation.spatial())

    def validate() -> dict[str, float]:
        if not val_pairs:
            return {}
        ps, ss = [], []
        with torch.no_grad():
            for pair in val_pairs:
                z = run_scalmu(net, problem(pair), **kw).z.numpy()
                ps.append(_psnr(z, pair.reference))
                ss.append(_sam_deg(z, pair.reference))
        return {"val_psnr": float(np.mean(ps)), "val_sam": float(np.mean(ss))}

    t0 = time.perf_counter()
    best = -np.inf
    first = validate()
    with log_path.open("a") as f:
        f.write(json.dumps({"step": 0, "seconds": 0.0, **first,
                            "layers": net.layer_values()}) + "\n")
    log(f"step 0: {first}")
    last: dict[str, Any] = {}
    for step in range(1, cfg.steps + 1):
        pair = train_set[step - 1]
        ref = torch.from_numpy(pair.reference)
        out_ = run_scalmu(net, problem(pair), **kw)
        loss = _loss(out_.z, ref, cfg.loss)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        rec: dict[str, Any] = {"step": step, "loss": float(loss.detach()),
                               "psnr": _psnr(out_.z.detach().numpy(), pair.reference),
                               "lr": sched.get_last_lr()[0],
                               "seconds": time.perf_counter() - t0}
        if step % cfg.validate_every == 0 or step == cfg.steps:
            rec.update(validate())
            rec["layers"] = net.layer_values()
            if rec.get("val_psnr", -np.inf) > best:
                best = rec["val_psnr"]
                save_weights(out / "best.safetensors", net, cfg, {"step": step, **rec})
            log(f"step {step}: loss {rec['loss']:.4f} val_psnr {rec.get('val_psnr', 0):.2f} "
                f"({rec['seconds']:.0f} s)")
        if step % cfg.checkpoint_every == 0:
            save_weights(out / "checkpoints" / f"ckpt_{step}.safetensors", net, cfg,
                         {"step": step})
        with log_path.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        last = rec
    save_weights(out / "model.safetensors", net, cfg, {"step": cfg.steps, **last})
    return {"steps": cfg.steps, "seconds": time.perf_counter() - t0, "best_val_psnr": best,
            "initial": first, "last": {k: v for k, v in last.items() if k != "layers"}}
