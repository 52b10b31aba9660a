"""The MossFuse training loop: crops, augmentation, schedules, checkpoints, validation, DDP.

Reads top-down: :class:`TrainConfig` (saved with every checkpoint), the crop sampler and the
batcher (which see **only** :class:`~mossfuse.data.scene.FusionInputs`), validation (an
evaluator that alone holds references), learning-rate schedules, checkpoints, processes
(``torch.distributed``), and :func:`train` / :class:`Trainer`.

Two modes, one loop:

- ``"dataset"``: many LR-HSI/HR-MSI pairs (e.g. the CAVE training scenes simulated by a
  protocol); one model for all of them, as the paper trains.
- ``"single-scene"``: self-supervised fit on one user pair (MossFuse's losses need no
  reference), then fuse that pair.

Separation of the reference
---------------------------
:func:`train` takes a sequence of ``FusionInputs`` and an optional *evaluator*: a callable
that receives a ``fuse(inputs) -> (B, H, W) array`` function and returns metrics. The
evaluator (e.g. :class:`ReferenceEvaluator`) holds its (inputs, reference) pairs privately;
the trainer never receives a reference, and the batch code (:class:`PairBatcher`) keeps
nothing of an input but its LR-HSI, HR-MSI, ratio and phase (PSF/SRF are dropped: blind).

Determinism and resuming
------------------------
Which crop (scene, position, rotation, flip) global sample ``i`` is depends only on
``(seed, i)`` (:class:`CropSampler`), and the learning rates only on the step; step ``s``
uses samples ``[s N, (s + 1) N)`` of the global batch ``N``, rank ``k`` of ``W`` the slice
``[k N / W, (k + 1) N / W)``. A checkpoint holds the weights (BatchNorm statistics
included), both optimiser states, the step and the torch RNG state, so ``resume=True``
continues exactly (bit-identical with one thread on the same machine).

Files in ``out_dir``
--------------------
``train_config.json`` (model + training config), ``train_log.jsonl`` (one JSON object per
logged step: ``step``, the loss terms, ``lr``, ``lr_degradation``, ``psf_sigma``, ``seconds``,
``step_seconds``, and ``val_*`` metrics when computed), ``checkpoints/ckpt_<step>.{safetensors,
json,train.safetensors}`` with ``checkpoints/latest.json`` pointing at the newest complete one,
``best.{safetensors,json}`` (best validation PSNR) and ``model.{safetensors,json}`` at the end.
Every ``.safetensors``/``.json`` pair loads with :meth:`MossFuse.load
<mossfuse.methods.mossfuse.method.MossFuse.load>`. All files are written atomically.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import torch
import torch.distributed as dist
from pydantic import BaseModel, ConfigDict, Field, model_validator
from safetensors.torch import load_file, save_file

from mossfuse._atomic import atomic_path
from mossfuse.data.crops import SamplingGeometry, augment_pair
from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.methods.mossfuse.config import MossFuseConfig
from mossfuse.methods.mossfuse.degradation import DegradationModule
from mossfuse.methods.mossfuse.network import MossFuseNet, count_parameters
from mossfuse.methods.mossfuse.training import (
    TrainState,
    check_finite,
    degradation_step,
    make_degradation,
    train_step,
    wrap_distributed,
)

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1  # the weights' format: mossfuse.methods.mossfuse.method.CHECKPOINT_FORMAT
TRAINING_FORMAT = 1


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
class TrainConfig(BaseModel):
    """How to train (saved with every checkpoint). Defaults follow the authors' release where
    it has one (right column); see ``docs/training.md`` for a CPU recipe.

    =============================  =============================================================
    option                         meaning (release value)
    =============================  =============================================================
    mode                           ``"dataset"`` or ``"single-scene"`` (one pair; checked)
    crop                           HR crop side in px, a multiple of r (128; LR crop 128/r);
                                   None = whole images
    crop_stride                    HR px between grid crops, multiple of r (None = crop/2 rounded
                                   down to a multiple of r: 64, i.e. 49 crops per 512 image)
    sampling                       ``"grid"`` (every grid crop once per epoch; release) or
                                   ``"random"`` (uniform scene, uniform LR-aligned position)
    batch_size                     global batch (2); split evenly over the ranks under DDP
    steps / epochs                 network steps, or epochs of the grid (one of them; default
                                   1000 steps; release 500 epochs). Degradation warm-up steps
                                   come on top.
    shuffle                        shuffle the grid each epoch (False)
    augment                        random rot90 + flip per crop, geometry kept exact (True)
    lr, lr_schedule, lr_min        network lr (None = the model config's, 9e-5), ``"constant"``
                                   (release) or ``"cosine"`` to ``lr_min`` (paper: 1e-3 -> 1e-6)
    warmup_steps                   linear lr warm-up of the network (0)
    lr_degradation                 degradation lr (None = model config's, 9e-5)
    degradation_schedule           ``"constant"`` or ``"follow"`` (scaled like the network lr)
    degradation_warmup_steps       degradation-only steps first (0): ``L_DE`` needs no network
    lr_degradation_warmup          lr of those steps (None = lr_degradation)
    degradation_after_warmup       ``"joint"`` (keeps training, release) or ``"frozen"``
                                   (held fixed after the warm-up, or from the start if there
                                   is none)
    known_degradation              the degradation module was set to the true PSF/SRF
                                   (``mossfuse train --known-degradation``; a comparison run,
                                   recorded): needs ``"frozen"`` and no warm-up
    optimizer, betas, eps          ``"adam"`` (0.9, 0.999), 1e-8; or ``"adamw"``
    weight_decay                   network only (0)
    grad_clip_norm                 clip the network's gradient norm (None)
    seed                           init and crop order
    checkpoint_every               steps between checkpoints (0: only at the end)
    keep_checkpoints               how many step checkpoints to keep (the newest)
    validate_every                 steps between validations (0: only at the end; none
                                   during the degradation warm-up)
    log_every                      steps between log lines (1)
    threads                        torch intra-op threads (None: leave; under CPU DDP
                                   ``cores // local ranks``)
    device                         ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``
    progress                       tqdm bar with the loss terms (rank 0 only)
    =============================  =============================================================
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["dataset", "single-scene"] = "dataset"
    crop: int | None = Field(128, ge=1)
    crop_stride: int | None = Field(None, ge=1)
    sampling: Literal["grid", "random"] = "grid"
    batch_size: int = Field(2, ge=1)
    steps: int | None = Field(None, ge=0)
    epochs: float | None = Field(None, gt=0)
    shuffle: bool = False
    augment: bool = True

    lr: float | None = Field(None, gt=0)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    lr_min: float = Field(1e-6, ge=0)
    warmup_steps: int = Field(0, ge=0)
    lr_degradation: float | None = Field(None, gt=0)
    degradation_schedule: Literal["constant", "follow"] = "constant"
    degradation_warmup_steps: int = Field(0, ge=0)
    lr_degradation_warmup: float | None = Field(None, gt=0)
    degradation_after_warmup: Literal["joint", "frozen"] = "joint"
    known_degradation: bool = False

    optimizer: Literal["adam", "adamw"] = "adam"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip_norm: float | None = Field(None, gt=0)

    seed: int = 0
    checkpoint_every: int = Field(500, ge=0)
    keep_checkpoints: int = Field(2, ge=1)
    validate_every: int = Field(0, ge=0)
    log_every: int = Field(1, ge=1)
    threads: int | None = Field(None, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give steps or epochs, not both")
        if self.known_degradation and (self.degradation_after_warmup != "frozen"
                                       or self.degradation_warmup_steps):
            raise ValueError("known_degradation needs degradation_after_warmup='frozen' and "
                             "degradation_warmup_steps=0 (the true PSF/SRF is not trained)")
        return self

    #: Fields that may change when resuming (they do not change the trajectory, except that a
    #: new length changes a cosine schedule's remaining course: warned).
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset({
        "steps", "epochs", "checkpoint_every", "keep_checkpoints", "validate_every",
        "log_every", "threads", "device", "progress",
    })

    def network_steps(self, epoch_size: int) -> int:
        """Network steps to run: ``steps``, or ``ceil(epochs * epoch_size / batch_size)``."""
        if self.epochs is not None:
            return math.ceil(self.epochs * epoch_size / self.batch_size)
        return 1000 if self.steps is None else self.steps


#: Named training recipes: ``{"model": MossFuseConfig fields, "train": TrainConfig fields}``
#: (``mossfuse train --recipe NAME``; a ``--config`` file and explicit options override them).
#:
#: ``paper``: the recipe the MossFuse paper states (Sec. 4.1): 300 epochs of 128 px crops (the
#: release's grid, stride crop / 2 = 64: 49 crops per 512 px image, batch 2, no shuffling, random
#: rot90/flips), Adam with a cosine schedule 1e-3 -> 1e-6, loss weights alpha1..3 = 0.1 / 1 / 1
#: with L_SCT on. The paper gives one schedule; the degradation module follows it (starts at
#: 1e-3, scaled like the network's lr). On CUDA when present (``device="auto"``).
RECIPES: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "model": {"use_sct_loss": True, "alpha_sc": 0.1, "alpha_sct": 1.0, "alpha_de": 1.0},
        "train": {"epochs": 300, "crop": 128, "crop_stride": None, "sampling": "grid",
                  "batch_size": 2, "shuffle": False, "augment": True, "lr": 1e-3,
                  "lr_schedule": "cosine", "lr_min": 1e-6, "warmup_steps": 0,
                  "lr_degradation": 1e-3, "degradation_schedule": "follow",
                  "degradation_warmup_steps": 0, "degradation_after_warmup": "joint",
                  "optimizer": "adam", "device": "auto"},
    },
}


def recipe(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(model fields, train fields)`` of a named recipe (copies), see :data:`RECIPES`."""
    if name not in RECIPES:
        raise MossfuseInputError(f"unknown training recipe {name!r}; available: {sorted(RECIPES)}")
    return dict(RECIPES[name]["model"]), dict(RECIPES[name]["train"])


# --------------------------------------------------------------------------------------------
# Which crop each sample is
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CropSpec:
    """One training sample: scene index, LR top-left ``(row, col)``, LR side ``size`` (the
    HR crop is ``[r row, r (row + size))``), quarter turns and flip."""

    scene: int
    row: int
    col: int
    size_rows: int
    size_cols: int
    k_rot: int = 0
    flip: bool = False


class CropSampler:
    """Deterministic stream of :class:`CropSpec`: sample ``i`` depends only on ``(seed, i)``.

    Args:
        lr_shapes: ``(h, w)`` of every scene's LR-HSI.
        lr_crop: LR crop side (None: whole images).
        lr_stride: LR px between grid positions.
        sampling: ``"grid"`` or ``"random"`` (see :class:`TrainConfig`).
        shuffle: permute the grid each epoch (seeded by ``(seed, epoch)``).
        augment: draw a rotation (0-3 quarter turns) and a flip per sample.
        seed: the seed.
    """

    def __init__(
        self, lr_shapes: Sequence[tuple[int, int]], lr_crop: int | None, lr_stride: int,
        sampling: str = "grid", shuffle: bool = False, augment: bool = True, seed: int = 0,
    ):
        if not lr_shapes:
            raise MossfuseInputError("no training scenes")
        self.lr_shapes = [tuple(int(v) for v in s) for s in lr_shapes]
        self.lr_crop, self.lr_stride = lr_crop, max(1, int(lr_stride))
        self.sampling, self.shuffle, self.augment, self.seed = sampling, shuffle, augment, seed
        self._grid: list[tuple[int, int]] = []  # (rows, cols) of positions per scene
        for h, w in self.lr_shapes:
            if lr_crop is None:
                self._grid.append((1, 1))
                continue
            if lr_crop > min(h, w):
                raise MossfuseInputError(
                    f"crop of {lr_crop} LR px is larger than a scene's LR-HSI ({h} x {w}); "
                    "use a smaller crop (or crop=None for whole images)"
                )
            self._grid.append(((h - lr_crop) // self.lr_stride + 1,
                               (w - lr_crop) // self.lr_stride + 1))
        counts = [r * c for r, c in self._grid]
        self._offsets = np.cumsum([0, *counts])
        self.epoch_size = int(self._offsets[-1])
        self._perm: dict[int, np.ndarray] = {}

    def _permutation(self, epoch: int) -> np.ndarray:
        perm = self._perm.get(epoch)
        if perm is None:
            perm = np.random.default_rng([self.seed, epoch, 1]).permutation(self.epoch_size)
            self._perm = {epoch: perm}  # keep one epoch's permutation
        return perm

    def sample(self, index: int) -> CropSpec:
        """The crop of global sample ``index``."""
        if self.sampling == "random":
            rng = np.random.default_rng([self.seed, index, 3])
            scene = int(rng.integers(len(self.lr_shapes)))
            h, w = self.lr_shapes[scene]
            n_r, n_c = (h, w) if self.lr_crop is None else (self.lr_crop, self.lr_crop)
            row, col = int(rng.integers(h - n_r + 1)), int(rng.integers(w - n_c + 1))
        else:
            epoch, j = divmod(index, self.epoch_size)
            if self.shuffle:
                j = int(self._permutation(epoch)[j])
            scene = int(np.searchsorted(self._offsets, j, side="right") - 1)
            pos = j - int(self._offsets[scene])
            h, w = self.lr_shapes[scene]
            n_r, n_c = (h, w) if self.lr_crop is None else (self.lr_crop, self.lr_crop)
            gr, gc = divmod(pos, self._grid[scene][1])
            row, col = gr * self.lr_stride, gc * self.lr_stride
        k_rot, flip = 0, False
        if self.augment:
            aug = np.random.default_rng([self.seed, index, 2]).integers(0, (4, 2))
            k_rot, flip = int(aug[0]), bool(aug[1])
            if n_r != n_c and k_rot % 2:  # a non-square crop would change shape
                k_rot -= 1
        return CropSpec(scene, row, col, n_r, n_c, k_rot, flip)

    def batch(self, step: int, batch_size: int, rank: int = 0, world_size: int = 1
              ) -> list[CropSpec]:
        """The crops of rank ``rank``'s shard of the global batch of ``step``."""
        if batch_size % world_size:
            raise MossfuseInputError(
                f"batch size {batch_size} is not divisible by the {world_size} processes"
            )
        per = batch_size // world_size
        start = step * batch_size + rank * per
        return [self.sample(i) for i in range(start, start + per)]


# --------------------------------------------------------------------------------------------
# Batches: FusionInputs only
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Pair:
    lr_hsi: np.ndarray
    hr_msi: np.ndarray


class PairBatcher:
    """Cuts and augments the crops of a batch from the training pairs.

    It accepts only :class:`~mossfuse.data.scene.FusionInputs` (a ``SimulatedCase``, a
    ``Scene`` or a bare array is refused) and keeps of each nothing but the LR-HSI and the
    HR-MSI: no reference can reach a training batch, and the PSF/SRF are dropped (blind).

    Args:
        inputs: the training pairs (same ratio; band counts as the model).
        geometry: the sampling geometry flips must preserve (:func:`augment_pair`).
    """

    def __init__(self, inputs: Sequence[FusionInputs], geometry: SamplingGeometry):
        pairs = []
        for i, x in enumerate(inputs):
            if not isinstance(x, FusionInputs):
                raise TypeError(
                    f"training input {i} is a {type(x).__name__}; the trainer takes only "
                    "FusionInputs (LR-HSI, HR-MSI, ratio), never a reference or a simulated "
                    "case (pass case.inputs.blind())"
                )
            if int(x.ratio) != geometry.ratio:
                raise MossfuseInputError(
                    f"training input {i} has ratio {x.ratio}; the model is built for "
                    f"{geometry.ratio}"
                )
            pairs.append(_Pair(x.lr_hsi, x.hr_msi))
        self._pairs = tuple(pairs)
        self.geometry = geometry

    @property
    def lr_shapes(self) -> list[tuple[int, int]]:
        return [p.lr_hsi.shape[1:] for p in self._pairs]

    def crop(self, spec: CropSpec) -> tuple[np.ndarray, np.ndarray]:
        """``(lr (B, n, m), hr (b, r n, r m))`` of one spec, augmented."""
        p, r = self._pairs[spec.scene], self.geometry.ratio
        lr = p.lr_hsi[:, spec.row : spec.row + spec.size_rows,
                      spec.col : spec.col + spec.size_cols]
        hr = p.hr_msi[:, r * spec.row : r * (spec.row + spec.size_rows),
                      r * spec.col : r * (spec.col + spec.size_cols)]
        if spec.k_rot or spec.flip:
            return augment_pair(lr, hr, self.geometry, spec.k_rot, spec.flip)
        return lr, hr

    def make(self, specs: Sequence[CropSpec], device: torch.device | str = "cpu"
             ) -> dict[str, torch.Tensor]:
        """``{"hr_msi": (N, b, H, W), "lr_hsi": (N, B, h, w)}`` float32 tensors."""
        crops = [self.crop(s) for s in specs]
        lr = torch.from_numpy(np.stack([c[0] for c in crops]).astype(np.float32, copy=False))
        hr = torch.from_numpy(np.stack([c[1] for c in crops]).astype(np.float32, copy=False))
        return {"hr_msi": hr.to(device), "lr_hsi": lr.to(device)}


# --------------------------------------------------------------------------------------------
# Validation: only the evaluator holds references
# --------------------------------------------------------------------------------------------
FuseFn = Callable[[FusionInputs], np.ndarray]


class Evaluator(Protocol):
    """Called with a fuse function of the current weights; returns metrics (``psnr`` is used
    to keep the best model). It alone holds the references."""

    def __call__(self, fuse: FuseFn) -> dict[str, float]: ...


class ReferenceEvaluator:
    """Scores the current model on validation pairs with references (PSNR/SAM by default).

    The trainer calls it with a ``fuse`` function; the references never leave this object.

    Args:
        cases: ``(name, inputs, reference (B, H, W))`` triples.
        profile: metric profile name (:mod:`mossfuse.metrics.profiles`).
        metrics: metric keys of the profile to report.

    Returns (when called) the mean of each metric over the cases (``psnr``, ``sam``) and the
    per-scene values (``psnr/<name>``, ...).
    """

    def __init__(
        self, cases: Iterable[tuple[str, FusionInputs, np.ndarray]],
        profile: str = "mossfuse-paper", metrics: Sequence[str] = ("psnr", "sam"),
    ):
        self._cases = [(n, x.blind(), np.asarray(ref, dtype=np.float32)) for n, x, ref in cases]
        if not self._cases:
            raise MossfuseInputError("no validation cases")
        self.profile, self.metrics = profile, tuple(metrics)

    @property
    def names(self) -> list[str]:
        return [n for n, _, _ in self._cases]

    @classmethod
    def from_scenes(
        cls, scenes: Iterable[Scene], protocol: Any, *, crop: int | None = None, **kw: Any
    ) -> ReferenceEvaluator:
        """Simulate each reference scene with ``protocol`` (a
        :class:`~mossfuse.physics.protocols.Protocol`); ``crop`` (HR px, a multiple of r)
        keeps a centred, grid-aligned crop of each pair to make validation cheaper."""
        cases = []
        for scene in scenes:
            case = protocol.simulate(scene)
            inputs, ref = case.inputs, case.reference.cube
            if crop is not None:
                inputs, ref = centre_crop_case(inputs, ref, crop)
            cases.append((scene.name, inputs, ref))
        return cls(cases, **kw)

    def __call__(self, fuse: FuseFn) -> dict[str, float]:
        from mossfuse.metrics.profiles import get_profile

        prof = get_profile(self.profile)
        per: dict[str, list[float]] = {m: [] for m in self.metrics}
        out: dict[str, float] = {}
        for name, inputs, ref in self._cases:
            rep = prof.evaluate(fuse(inputs), ref, ratio=inputs.ratio, metrics=self.metrics)
            for m in self.metrics:
                per[m].append(rep[m])
                out[f"{m}/{name}"] = rep[m]
        return {**{m: float(np.mean(v)) for m, v in per.items()}, **out}


def centre_crop_case(
    inputs: FusionInputs, reference: np.ndarray, crop: int
) -> tuple[FusionInputs, np.ndarray]:
    """A centred crop of ``crop`` HR px (multiple of r) of a pair and its reference, cut on
    the LR grid so the sampling geometry is unchanged."""
    r = int(inputs.ratio)
    if crop % r:
        raise MossfuseInputError(f"validation crop {crop} is not a multiple of the ratio {r}")
    n = crop // r
    h, w = inputs.lr_hsi.shape[1:]
    n_r, n_c = min(n, h), min(n, w)
    a, b = (h - n_r) // 2, (w - n_c) // 2
    lr = inputs.lr_hsi[:, a : a + n_r, b : b + n_c]
    sl = (slice(None), slice(r * a, r * (a + n_r)), slice(r * b, r * (b + n_c)))
    cropped = FusionInputs(
        np.ascontiguousarray(lr), np.ascontiguousarray(inputs.hr_msi[sl]), r,
        inputs.hsi_wavelengths_nm, inputs.msi_band_names, None, None, inputs.phase, None,
    )
    return cropped, np.ascontiguousarray(reference[sl])


def simulate_training_inputs(scenes: Iterable[Scene], protocol: Any) -> list[FusionInputs]:
    """The blind inputs (``case.inputs.blind()``) of each scene under ``protocol``; the
    references are dropped as soon as each pair is simulated."""
    return [protocol.simulate(scene).inputs.blind() for scene in scenes]


# --------------------------------------------------------------------------------------------
# Learning rates
# --------------------------------------------------------------------------------------------
def network_lr(tc: TrainConfig, base: float, net_step: int, net_steps: int) -> float:
    """Network lr at network step ``net_step`` (0-based) of ``net_steps``: linear warm-up
    ``base (i + 1) / warmup``, then constant or cosine from ``base`` to ``lr_min``."""
    if net_step < tc.warmup_steps:
        return base * (net_step + 1) / tc.warmup_steps
    if tc.lr_schedule == "constant":
        return base
    span = max(1, net_steps - tc.warmup_steps)
    t = min(1.0, (net_step - tc.warmup_steps) / span)
    return tc.lr_min + 0.5 * (base - tc.lr_min) * (1.0 + math.cos(math.pi * t))


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def _weights(net: MossFuseNet, deg: DegradationModule) -> dict[str, torch.Tensor]:
    t = {f"net.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    t.update({f"degradation.{k}": v.detach().cpu().contiguous()
              for k, v in deg.state_dict().items()})
    return t


def _model_doc(cfg: MossFuseConfig, net: MossFuseNet, deg: DegradationModule) -> dict[str, Any]:
    counts = count_parameters(net, deg)
    return {
        "method": "mossfuse",
        "format_version": CHECKPOINT_FORMAT,
        "trained": True,
        "config": cfg.model_dump(mode="json"),
        "parameters": {"total": counts.total, "inference": counts.inference},
    }


def save_model(path: Path, state: TrainState, extra: dict[str, Any] | None = None) -> None:
    """``path.safetensors`` + ``path.json`` in :meth:`MossFuse.save`'s format (loadable by
    :meth:`MossFuse.load`); ``extra`` is added to the JSON."""
    doc = _model_doc(state.cfg, state.net, state.degradation)
    doc.update(extra or {})
    with atomic_path(path.with_suffix(".safetensors")) as tmp:
        save_file(_weights(state.net, state.degradation), str(tmp),
                  metadata={"method": "mossfuse"})
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(doc, indent=2))


def _optim_flat(prefix: str, opt: torch.optim.Optimizer
                ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for idx, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{idx}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{k}"] = v
    groups = json.loads(json.dumps(sd["param_groups"], default=list))
    return tensors, {"param_groups": groups, "scalars": scalars}


def _optim_load(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                doc: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(idx), {})[name] = v
    for key, v in doc["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = v
    groups = doc["param_groups"]
    for g in groups:
        if "betas" in g:
            g["betas"] = tuple(g["betas"])
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(ckpt_dir: Path, state: TrainState, tc: TrainConfig,
                    extra: dict[str, Any]) -> Path:
    """Write ``ckpt_<step>`` (weights, optimiser/RNG tensors, JSON) and then point
    ``latest.json`` at it: an interruption leaves the previous checkpoint current."""
    stem = ckpt_dir / f"ckpt_{state.steps:08d}"
    t_net, d_net = _optim_flat("opt_net", state.opt_net)
    t_deg, d_deg = _optim_flat("opt_degradation", state.opt_degradation)
    train_tensors = {**t_net, **t_deg, "rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        train_tensors["rng.cuda"] = torch.cuda.get_rng_state()
    with atomic_path(stem.with_suffix(".train.safetensors")) as tmp:
        save_file(train_tensors, str(tmp))
    training = {
        "format_version": TRAINING_FORMAT,
        "step": state.steps,
        "train_config": tc.model_dump(mode="json"),
        "opt_net": d_net,
        "opt_degradation": d_deg,
        "world_size": state.world_size,
        **extra,
    }
    save_model(stem, state, {"training": training})
    with atomic_path(ckpt_dir / "latest.json") as tmp:
        tmp.write_text(json.dumps({"checkpoint": stem.name, "step": state.steps}))
    return stem


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The stem of the newest complete checkpoint of a run folder, or None."""
    pointer = Path(out_dir) / "checkpoints" / "latest.json"
    if not pointer.is_file():
        return None
    stem = pointer.parent / json.loads(pointer.read_text())["checkpoint"]
    for suffix in (".safetensors", ".json", ".train.safetensors"):
        if not stem.with_suffix(suffix).is_file():
            raise MossfuseInputError("checkpoint file missing", stem.with_suffix(suffix))
    return stem


def load_checkpoint(stem: Path, state: TrainState) -> dict[str, Any]:
    """Restore weights, both optimiser states and the torch RNG from ``stem``; returns the
    ``training`` section of its JSON."""
    doc = json.loads(stem.with_suffix(".json").read_text())
    weights = load_file(str(stem.with_suffix(".safetensors")))
    state.net.load_state_dict({k[4:]: v for k, v in weights.items() if k.startswith("net.")})
    state.degradation.load_state_dict(
        {k[12:]: v for k, v in weights.items() if k.startswith("degradation.")}
    )
    tr = load_file(str(stem.with_suffix(".train.safetensors")))
    training = doc["training"]
    _optim_load("opt_net", state.opt_net, tr, training["opt_net"])
    _optim_load("opt_degradation", state.opt_degradation, tr, training["opt_degradation"])
    torch.set_rng_state(tr["rng.torch"])
    if "rng.cuda" in tr and torch.cuda.is_available():
        torch.cuda.set_rng_state(tr["rng.cuda"])
    state.steps = int(training["step"])
    return training


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DistInfo:
    """Rank, world size and local rank of this process (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def dist_info() -> DistInfo:
    """This process's place in an initialised ``torch.distributed`` run (else one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    world = dist.get_world_size()
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    return DistInfo(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", dist.get_rank())),
                    local_world)


def init_distributed(backend: str | None = None) -> DistInfo:
    """Initialise ``torch.distributed`` from the ``torchrun`` environment (``RANK``,
    ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``); NCCL when CUDA is available, else gloo.
    Returns one-process info when ``WORLD_SIZE`` is unset or 1."""
    if dist.is_available() and dist.is_initialized():
        return dist_info()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend)
    return dist_info()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _spawned(rank: int, world: int, port: int, backend: str, result_dir: str,
             target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "LOCAL_WORLD_SIZE": str(world)})
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        result = target(*args)
        torch.save(result, Path(result_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def run_local_processes(
    world_size: int, target: Callable[..., Any], *args: Any, backend: str | None = None
) -> list[Any]:
    """Run ``target(*args)`` in ``world_size`` local processes (``torch.multiprocessing``
    spawn) joined in a ``torch.distributed`` group on 127.0.0.1 at a free port; returns each
    rank's return value (which must pickle with ``torch.save``). ``target`` must be importable
    (a module-level function)."""
    import torch.multiprocessing as mp

    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    with tempfile.TemporaryDirectory(prefix="mossfuse-ddp-") as tmp:
        mp.spawn(_spawned, args=(world_size, free_port(), backend, tmp, target, args),
                 nprocs=world_size, join=True)
        return [torch.load(Path(tmp) / f"rank{r}.pt", weights_only=False)
                for r in range(world_size)]


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
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


def model_geometry(deg: DegradationModule) -> SamplingGeometry:
    """The sampling geometry the degradation module models (what flips must preserve)."""
    return SamplingGeometry(deg.ratio, deg.phase, deg.psf_size, deg.centre)


class Trainer:
    """Train a MossFuse model on pairs of inputs (see the module docstring).

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
        self.batcher = PairBatcher(inputs, model_geometry(degradation))
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
    def run(self, resume: bool = False) -> TrainResult:
        """Train to ``total_steps`` (continuing from the last checkpoint with ``resume``)."""
        tc, st, main = self.tc, self.state, self.dist.is_main
        old_threads = torch.get_num_threads()
        threads = tc.threads
        if threads is None and self.dist.world_size > 1 and self.device.type == "cpu":
            threads = max(1, (os.cpu_count() or 1) // self.dist.local_world_size)
        if threads is not None:
            torch.set_num_threads(threads)
        try:
            return self._run(resume, main)
        finally:
            if threads is not None:
                torch.set_num_threads(old_threads)
            if st.world_size > 1:
                # leave the model plain (DDP wrapper dropped; the BN subclass stays harmless)
                st.ddp, st.world_size, st.group = None, 1, None

    def _run(self, resume: bool, main: bool) -> TrainResult:
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
        last: dict[str, float] = {}
        try:
            while st.steps < self.total_steps:
                step = st.steps
                lr, lr_deg = self.lrs(step)
                st.set_lr(lr, lr_deg)
                specs = self.sampler.batch(step, tc.batch_size, self.dist.rank,
                                           self.dist.world_size)
                batch = self.batcher.make(specs, self.device)
                t0 = time.perf_counter()
                if step < tc.degradation_warmup_steps:
                    values = degradation_step(st, batch)
                else:
                    values = train_step(
                        st, batch, grad_clip_norm=tc.grad_clip_norm,
                        update_degradation=tc.degradation_after_warmup == "joint",
                    )
                check_finite(values, step)
                record: dict[str, Any] = {
                    "step": st.steps, **values, "lr": lr, "lr_degradation": lr_deg,
                    "psf_sigma": st.degradation.export()["sigma"],
                    "step_seconds": time.perf_counter() - t0,
                    "seconds": elapsed_before + time.perf_counter() - t_start,
                }
                done = st.steps >= self.total_steps
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
                if st.steps % tc.log_every == 0 or done or "val_seconds" in record:
                    history.append(record)
                    if log_path is not None:
                        with log_path.open("a") as f:
                            f.write(json.dumps(record) + "\n")
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(_postfix(record), refresh=False)
                if ckpt_dir is not None and main and (
                    done or (tc.checkpoint_every and st.steps % tc.checkpoint_every == 0)
                ):
                    save_checkpoint(ckpt_dir, st, tc, {"seconds": record["seconds"],
                                                       "best": best})
                    self._prune(ckpt_dir)
        finally:
            if bar is not None:
                bar.close()
        seconds = elapsed_before + time.perf_counter() - t_start
        result = TrainResult(st, st.steps, last, history, best, self.out_dir, seconds,
                             {"network_steps": self.net_steps, "total_steps": self.total_steps,
                              "epoch_size": self.sampler.epoch_size,
                              "world_size": self.dist.world_size})
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
    degradation: DegradationModule | None = None,
) -> TrainResult:
    """Train MossFuse (see :class:`Trainer`); under ``torchrun`` (or
    :func:`run_local_processes`) every process calls this with the same arguments.

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
    return trainer.run(resume=resume)


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``train_log.jsonl``."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def log_to_csv(log_path: str | Path, csv_path: str | Path) -> Path:
    """Write a ``train_log.jsonl`` as CSV (one column per key seen, empty where a record
    lacks it: warm-up steps have no network terms, most steps no ``val_*``)."""
    import csv

    records = read_log(log_path)
    keys: list[str] = []
    for r in records:
        keys += [k for k in r if k not in keys]
    csv_path = Path(csv_path)
    with atomic_path(csv_path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
    return csv_path
