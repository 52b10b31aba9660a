"""The loop: :class:`Trainer` (inputs, sampler, batcher, optimisers, schedule, validation,
checkpoints, the run folder) and :func:`train`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mossfuse._atomic import atomic_path
from mossfuse.data.crops import SamplingGeometry
from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.network import MossFuseNet
from mossfuse.methods.mossfuse.train.checkpoints import (
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    save_model,
)
from mossfuse.methods.mossfuse.train.config import TrainConfig
from mossfuse.methods.mossfuse.train.evaluation import Evaluator
from mossfuse.methods.mossfuse.train.processes import dist_info
from mossfuse.methods.mossfuse.train.sampling import CropSampler, PairBatcher
from mossfuse.methods.mossfuse.train.schedule import network_lr
from mossfuse.methods.mossfuse.train.step import (
    TrainState,
    check_finite,
    degradation_step,
    make_degradation,
    train_step,
    wrap_distributed,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained state, the last logged record, the best
    validation metrics, and where the files went."""

    state: TrainState
    steps: int
    last: dict[str, float]
    history: list[dict[str, Any]]
    best: dict[str, float] | None = None
    out_dir: Path | None = None
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (losses, PSF estimate, timings, files)."""
        est = self.state.degradation.export()
        return {
            "steps": self.steps,
            "seconds": self.seconds,
            "last": self.last,
            "best_validation": self.best,
            "psf_sigma_px": est["sigma"],
            "psf_eigenvalues_px2": list(est["eigenvalues"]),
            "out_dir": None if self.out_dir is None else str(self.out_dir),
            **self.info,
        }


def adapt_model_config(cfg: MossFuseConfig, inputs: FusionInputs) -> MossFuseConfig:
    """``cfg`` with the band counts, ratio and sampling phase of ``inputs`` (the phase is set
    only when it differs from the degradation module's default, the PSF centre)."""
    update: dict[str, Any] = {"hsi_bands": int(inputs.lr_hsi.shape[0]),
                              "msi_bands": int(inputs.hr_msi.shape[0]),
                              "ratio": int(inputs.ratio), "phase": None}
    base = MossFuseConfig(**{**cfg.model_dump(), **update})
    phase = cfg.phase if inputs.phase is None else int(inputs.phase)
    if phase is None or phase == make_degradation(base).phase:
        return base
    return MossFuseConfig(**{**base.model_dump(), "phase": phase})


def warm_start_targets(inputs: Sequence[FusionInputs], kind: str) -> list[np.ndarray] | None:
    """The warm start's targets (``TrainConfig.warm_start``): a blind classical fusion of each
    training pair from its own LR-HSI and HR-MSI (``"gsa"``: GSA, Aiazzi et al. 2007, with
    the blind PSF/SRF estimate); None for ``"none"``. No reference is involved: the inputs
    are made blind first."""
    if kind == "none":
        return None
    if kind != "gsa":
        raise MossfuseInputError(f"unknown warm start {kind!r}; expected 'none' or 'gsa'")
    from mossfuse.methods.gsa import GSA

    method = GSA()
    return [np.clip(method.fuse(x.blind()).hr_hsi, 0.0, 1.0).astype(np.float32)
            for x in inputs]


def model_geometry(deg: DegradationModule) -> SamplingGeometry:
    """The sampling geometry the degradation module models (what flips must preserve)."""
    return SamplingGeometry(deg.ratio, deg.phase, deg.psf_size, deg.centre)


class Trainer:
    """Train a MossFuse model on pairs of inputs (see :mod:`mossfuse.methods.mossfuse.train`).

    Args:
        model_cfg: the network/degradation/loss config.
        train_cfg: how to train.
        inputs: the training pairs (``FusionInputs`` only; single-scene mode: exactly one).
        out_dir: run folder (None: nothing is written, no checkpoints).
        evaluator: optional validation callable (:class:`Evaluator`).
        net, degradation: start from these modules (fine-tuning) instead of a seeded init.
    """

    def __init__(
        self, model_cfg: MossFuseConfig, train_cfg: TrainConfig, inputs: Sequence[FusionInputs],
        out_dir: str | Path | None = None, *, evaluator: Evaluator | None = None,
        net: MossFuseNet | None = None, degradation: DegradationModule | None = None,
    ):
        self.cfg, self.tc = model_cfg, train_cfg
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.evaluator = evaluator
        self.dist = dist_info()
        inputs = list(inputs)
        if train_cfg.mode == "single-scene" and len(inputs) != 1:
            raise MossfuseInputError(
                f"single-scene mode trains on exactly one pair; got {len(inputs)}"
            )
        self._check_inputs(inputs)
        self.device = self._device()
        if net is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(train_cfg.seed)
                net = MossFuseNet(model_cfg)
        degradation = degradation if degradation is not None else make_degradation(model_cfg)
        net.to(self.device)
        degradation.to(self.device)
        tc = train_cfg
        self.state = TrainState.create(
            model_cfg, net, degradation, optimizer=tc.optimizer, betas=tc.betas, eps=tc.eps,
            weight_decay=tc.weight_decay, lr=self.base_lr, lr_degradation=self.base_lr_deg,
        )
        if tc.channels_last:
            net.to(memory_format=torch.channels_last)
        self.batcher = PairBatcher(inputs, model_geometry(degradation),
                                   warm_start_targets(inputs, tc.warm_start))
        r = model_cfg.ratio
        for name, v in (("crop", tc.crop), ("crop_stride", tc.crop_stride)):
            if v is not None and v % r:
                raise MossfuseInputError(
                    f"{name} {v} is not a multiple of the ratio {r} (HR px; the LR crop is "
                    f"{name} / r)"
                )
        lr_crop = None if tc.crop is None else tc.crop // r
        stride = tc.crop_stride // r if tc.crop_stride else max(1, (lr_crop or 1) // 2)
        self.sampler = CropSampler(self.batcher.lr_shapes, lr_crop, stride, tc.sampling,
                                   tc.shuffle, tc.augment, tc.seed)
        if tc.crop is None and tc.batch_size // self.dist.world_size > 1:
            if len({s for s in self.batcher.lr_shapes}) > 1:
                raise MossfuseInputError(
                    "crop=None (whole images) with a batch > 1 needs scenes of equal size"
                )
        self.net_steps = tc.network_steps(self.sampler.epoch_size)
        self.total_steps = tc.degradation_warmup_steps + self.net_steps

    # --- setup -------------------------------------------------------------------------------
    @property
    def base_lr(self) -> float:
        return self.cfg.lr if self.tc.lr is None else self.tc.lr

    @property
    def base_lr_deg(self) -> float:
        return self.cfg.lr_degradation if self.tc.lr_degradation is None else self.tc.lr_degradation

    def _device(self) -> torch.device:
        want = self.tc.device
        if want == "cuda" or (want == "auto" and torch.cuda.is_available()):
            if not torch.cuda.is_available():
                raise MossfuseInputError("device 'cuda' requested but CUDA is not available")
            return torch.device("cuda", self.dist.local_rank)
        return torch.device("cpu")

    def _check_inputs(self, inputs: list[FusionInputs]) -> None:
        cfg = self.cfg
        phase_model = make_degradation(cfg).phase
        for i, x in enumerate(inputs):
            if not isinstance(x, FusionInputs):
                raise TypeError(
                    f"training input {i} is a {type(x).__name__}; the trainer takes only "
                    "FusionInputs, never a reference (pass case.inputs.blind())"
                )
            if x.lr_hsi.shape[0] != cfg.hsi_bands or x.hr_msi.shape[0] != cfg.msi_bands:
                raise MossfuseInputError(
                    f"training input {i} has B={x.lr_hsi.shape[0]}, b={x.hr_msi.shape[0]} bands; "
                    f"the model is configured for B={cfg.hsi_bands}, b={cfg.msi_bands}"
                )
            if int(x.ratio) != cfg.ratio:
                raise MossfuseInputError(
                    f"training input {i} has ratio {x.ratio}; the model is configured for "
                    f"ratio {cfg.ratio}"
                )
            if x.phase is not None and x.phase != phase_model:
                raise MossfuseInputError(
                    f"training input {i} is sampled at phase {x.phase}; the model's degradation "
                    f"module samples at {phase_model} (set the model config's phase)"
                )

    def lrs(self, step: int) -> tuple[float, float]:
        """(network lr, degradation lr) at global step ``step``."""
        tc = self.tc
        warm = tc.degradation_warmup_steps
        if step < warm:
            return 0.0, tc.lr_degradation_warmup or self.base_lr_deg
        lr = network_lr(tc, self.base_lr, step - warm, self.net_steps)
        lr_deg = self.base_lr_deg
        if tc.degradation_schedule == "follow":
            lr_deg *= lr / self.base_lr
        return lr, lr_deg

    # --- validation --------------------------------------------------------------------------
    def fuse(self, inputs: FusionInputs) -> np.ndarray:
        """Fuse one pair with the current weights (eval-mode BatchNorm, fused inference path,
        clipped to [0, 1]); what the evaluator is given."""
        if not isinstance(inputs, FusionInputs):
            raise TypeError(f"fuse takes FusionInputs; got {type(inputs).__name__}")
        net = self.state.net
        was_training = net.training
        net.eval()
        try:
            fused = net.inference_path()
            with torch.inference_mode():
                out = fused(
                    torch.from_numpy(np.ascontiguousarray(inputs.hr_msi))[None].to(self.device),
                    torch.from_numpy(np.ascontiguousarray(inputs.lr_hsi))[None].to(self.device),
                )[0].clamp_(0.0, 1.0)
            return out.float().cpu().numpy()
        finally:
            net.train(was_training)

    def _validate(self) -> dict[str, float]:
        t0 = time.perf_counter()
        metrics = self.evaluator(self.fuse) if self.evaluator is not None else {}
        metrics = {f"val_{k}": float(v) for k, v in metrics.items()}
        metrics["val_seconds"] = time.perf_counter() - t0
        return metrics

    # --- files -------------------------------------------------------------------------------
    def _config_doc(self) -> dict[str, Any]:
        return {"model": self.cfg.model_dump(mode="json"),
                "train": self.tc.model_dump(mode="json"),
                "world_size": self.dist.world_size,
                "network_steps": self.net_steps, "total_steps": self.total_steps,
                "epoch_size": self.sampler.epoch_size}

    def _prepare_out_dir(self, resume: bool) -> dict[str, Any] | None:
        """Check/restore the run folder; returns the checkpoint's training section when
        resuming from one."""
        assert self.out_dir is not None
        stem = latest_checkpoint(self.out_dir)
        if stem is None:
            if (self.out_dir / "train_log.jsonl").exists() and not resume:
                raise MossfuseInputError(
                    "the output folder already holds a training run; pass resume=True "
                    "(--resume) to continue it, or choose another folder", self.out_dir
                )
            return None
        if not resume:
            raise MossfuseInputError(
                "the output folder already holds training checkpoints; pass resume=True "
                "(--resume) to continue, or choose another folder", self.out_dir
            )
        doc = json.loads(stem.with_suffix(".json").read_text())
        if MossFuseConfig(**doc["config"]) != self.cfg:
            raise MossfuseInputError(
                "the model config differs from the checkpoint's; resume with the same config",
                stem.with_suffix(".json"),
            )
        old = TrainConfig(**doc["training"]["train_config"])
        changed = [k for k in TrainConfig.model_fields
                   if getattr(old, k) != getattr(self.tc, k)]
        bad = [k for k in changed if k not in TrainConfig.RESUMABLE_CHANGES]
        if bad:
            was = {k: getattr(old, k) for k in bad}
            raise MossfuseInputError(
                f"cannot resume with different {bad} (checkpoint: {was}); only "
                f"{sorted(TrainConfig.RESUMABLE_CHANGES)} may change", stem.with_suffix(".json"),
            )
        if {"steps", "epochs"} & set(changed) and self.tc.lr_schedule == "cosine":
            log.warning("resuming with a new length changes the rest of the cosine schedule")
        training = load_checkpoint(stem, self.state)
        return training

    def _rewrite_log(self, keep_upto: int) -> list[dict[str, Any]]:
        assert self.out_dir is not None
        path = self.out_dir / "train_log.jsonl"
        if not path.exists():
            return []
        kept = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [r for r in kept if r.get("step", 0) <= keep_upto]
        with atomic_path(path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        return kept

    def _write_json(self, name: str, doc: dict[str, Any]) -> None:
        assert self.out_dir is not None
        with atomic_path(self.out_dir / name) as tmp:
            tmp.write_text(json.dumps(doc, indent=2))

    def _prune(self, ckpt_dir: Path) -> None:
        stems = sorted({p.name.split(".")[0] for p in ckpt_dir.glob("ckpt_*.json")})
        for stem in stems[: -self.tc.keep_checkpoints]:
            for p in ckpt_dir.glob(f"{stem}.*"):
                p.unlink(missing_ok=True)

    # --- the loop ----------------------------------------------------------------------------
    def run(self, resume: bool = False, *, session_steps: int | None = None,
            session_seconds: float | None = None) -> TrainResult:
        """Train to ``total_steps`` (continuing from the last checkpoint with ``resume``).

        ``session_steps`` / ``session_seconds`` end this session early (after that many steps
        or once that much wall time has passed, whichever comes first) with a checkpoint; a
        later ``resume=True`` call with the same configuration continues the same run, so the
        learning-rate schedule, the crop order and the optimiser state span sessions exactly
        (a schedule over ``total_steps`` built up in pieces). They are not part of the
        configuration: each session may give different ones.
        """
        if session_steps is not None and session_steps < 1:
            raise MossfuseInputError(f"session_steps must be >= 1; got {session_steps}")
        if session_seconds is not None and not session_seconds > 0:
            raise MossfuseInputError(f"session_seconds must be > 0; got {session_seconds}")
        tc, st, main = self.tc, self.state, self.dist.is_main
        old_threads = torch.get_num_threads()
        threads = tc.threads
        if threads is None and self.dist.world_size > 1 and self.device.type == "cpu":
            threads = max(1, (os.cpu_count() or 1) // self.dist.local_world_size)
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            return self._run(resume, main, session_steps, session_seconds)
        finally:
            if threads is not None:
                torch.set_num_threads(old_threads)
            if st.world_size > 1:
                # leave the model plain (DDP wrapper dropped; the BN subclass stays harmless)
                st.ddp, st.world_size, st.group = None, 1, None

    def _session_over(self, steps_done: int, session_steps: int | None, t_start: float,
                      session_seconds: float | None) -> bool:
        """Whether this session's limit is reached (the same answer on every process: rank 0's
        clock decides for all under torch.distributed)."""
        over = session_steps is not None and steps_done >= session_steps
        if session_seconds is not None:
            over = over or time.perf_counter() - t_start >= session_seconds
            if self.dist.world_size > 1:
                import torch.distributed as dist

                flag = torch.tensor([1.0 if over else 0.0], device=self.device)
                dist.broadcast(flag, src=0)
                over = bool(flag.item())
        return over

    def _run(self, resume: bool, main: bool, session_steps: int | None = None,
             session_seconds: float | None = None) -> TrainResult:
        tc, st = self.tc, self.state
        history: list[dict[str, Any]] = []
        best: dict[str, float] | None = None
        elapsed_before = 0.0
        ckpt_dir = None
        if self.out_dir is not None:
            ckpt_dir = self.out_dir / "checkpoints"
            training = self._prepare_out_dir(resume)
            if training is not None:
                best = training.get("best")
                elapsed_before = float(training.get("seconds", 0.0))
            if main:
                history = self._rewrite_log(st.steps)
                self._write_json("train_config.json", self._config_doc())
        wrap_distributed(
            st, device_ids=[self.device.index] if self.device.type == "cuda" else None
        )
        log_path = None if self.out_dir is None or not main else self.out_dir / "train_log.jsonl"
        bar = None
        if tc.progress and main:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total_steps, initial=st.steps, desc="mossfuse train",
                       dynamic_ncols=True)
        t_start = time.perf_counter()
        first_step = st.steps
        last: dict[str, float] = {}
        stopped_early = False
        try:
            while st.steps < self.total_steps:
                step = st.steps
                lr, lr_deg = self.lrs(step)
                st.set_lr(lr, lr_deg)
                specs = self.sampler.batch(step, tc.batch_size, self.dist.rank,
                                           self.dist.world_size)
                net_step = step - tc.degradation_warmup_steps
                warm = 0 <= net_step < tc.warm_start_steps
                batch = self.batcher.make(specs, self.device, warm=warm)
                if tc.channels_last:
                    batch = {k: v.contiguous(memory_format=torch.channels_last)
                             for k, v in batch.items()}
                t0 = time.perf_counter()
                if step < tc.degradation_warmup_steps:
                    values = degradation_step(st, batch)
                else:
                    values = train_step(
                        st, batch, grad_clip_norm=tc.grad_clip_norm,
                        update_degradation=tc.degradation_after_warmup == "joint",
                        autocast=tc.autocast,
                        warm_weight=tc.warm_start_weight if warm else 0.0,
                    )
                check_finite(values, step)
                record: dict[str, Any] = {
                    "step": st.steps, **values, "lr": lr, "lr_degradation": lr_deg,
                    "psf_sigma": st.degradation.export()["sigma"],
                    "step_seconds": time.perf_counter() - t0,
                    "seconds": elapsed_before + time.perf_counter() - t_start,
                }
                done = st.steps >= self.total_steps
                session_end = not done and self._session_over(
                    st.steps - first_step, session_steps, t_start, session_seconds)
                # the network does not change during the degradation warm-up: no validation
                if self.evaluator is not None and main and (done or (
                    tc.validate_every and st.steps % tc.validate_every == 0
                    and st.steps > tc.degradation_warmup_steps
                )):
                    record.update(self._validate())
                    psnr = record.get("val_psnr")
                    if psnr is not None and (best is None or psnr > best["val_psnr"]):
                        best = {k: v for k, v in record.items() if k.startswith("val_")}
                        best["step"] = st.steps
                        if self.out_dir is not None:
                            save_model(self.out_dir / "best", st, {"validation": best})
                last = record
                if (st.steps % tc.log_every == 0 or done or session_end
                        or "val_seconds" in record):
                    history.append(record)
                    if log_path is not None:
                        with log_path.open("a") as f:
                            f.write(json.dumps(record) + "\n")
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(_postfix(record), refresh=False)
                if ckpt_dir is not None and main and (
                    done or session_end
                    or (tc.checkpoint_every and st.steps % tc.checkpoint_every == 0)
                ):
                    save_checkpoint(ckpt_dir, st, tc, {"seconds": record["seconds"],
                                                       "best": best})
                    self._prune(ckpt_dir)
                if session_end:
                    stopped_early = True
                    break
        finally:
            if bar is not None:
                bar.close()
        seconds = elapsed_before + time.perf_counter() - t_start
        result = TrainResult(st, st.steps, last, history, best, self.out_dir, seconds,
                             {"network_steps": self.net_steps, "total_steps": self.total_steps,
                              "epoch_size": self.sampler.epoch_size,
                              "world_size": self.dist.world_size,
                              "complete": not stopped_early})
        if self.out_dir is not None and main:
            save_model(self.out_dir / "model", st, {"training_summary": result.summary()})
            self._write_json("summary.json", result.summary())
        return result


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    keys = ("ma", "sc", "sct", "de", "lr", "psf_sigma", "val_psnr")
    return {k: f"{record[k]:.3g}" for k in keys if k in record}


def train(
    model_cfg: MossFuseConfig, train_cfg: TrainConfig, inputs: Sequence[FusionInputs],
    out_dir: str | Path | None = None, *, evaluator: Evaluator | None = None,
    resume: bool = False, net: MossFuseNet | None = None,
    degradation: DegradationModule | None = None, session_steps: int | None = None,
    session_seconds: float | None = None,
) -> TrainResult:
    """Train MossFuse (see :class:`Trainer`); under ``torchrun`` (or
    :func:`run_local_processes`) every process calls this with the same arguments.
    ``session_steps`` / ``session_seconds``: stop this session early with a checkpoint and
    continue later with ``resume=True`` (:meth:`Trainer.run`).

    >>> import numpy as np
    >>> from mossfuse.data.scene import FusionInputs
    >>> rng = np.random.default_rng(0)
    >>> x = FusionInputs(rng.random((8, 4, 4), dtype="f4"), rng.random((3, 16, 16), dtype="f4"),
    ...                  4)
    >>> res = train(MossFuseConfig(hsi_bands=8, ratio=4, channels=8, heads=2),
    ...             TrainConfig(mode="single-scene", crop=8, steps=2, progress=False), [x])
    >>> res.steps
    2
    """
    trainer = Trainer(model_cfg, train_cfg, inputs, out_dir, evaluator=evaluator, net=net,
                      degradation=degradation)
    return trainer.run(resume=resume, session_steps=session_steps,
                       session_seconds=session_seconds)
