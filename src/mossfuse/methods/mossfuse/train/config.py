"""How to train: :class:`TrainConfig` (saved with every checkpoint), the named recipes, and
the formats of the files a run writes.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mossfuse.errors import MossfuseInputError

CHECKPOINT_FORMAT = 1  # the weights' format: mossfuse.methods.mossfuse.method.CHECKPOINT_FORMAT


TRAINING_FORMAT = 1


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
    channels_last                  network and batches in channels-last memory format (the
                                   same model in another layout; float rounding may differ)
    autocast                       ``"none"`` (float32) or ``"bfloat16"``: the network's
                                   forward pass under ``torch.autocast`` (losses, optimiser
                                   and weights stay float32; changes the rounding)
    warm_start                     ``"none"`` or ``"gsa"``: for the first ``warm_start_steps``
                                   network steps add ``warm_start_weight * |X_hat - G|_1``,
                                   ``G`` the blind GSA fusion of the same training pair (its
                                   inputs only, never a reference)
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
    channels_last: bool = False
    autocast: Literal["none", "bfloat16"] = "none"
    warm_start: Literal["none", "gsa"] = "none"
    warm_start_steps: int = Field(0, ge=0)
    warm_start_weight: float = Field(1.0, ge=0)
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
        if (self.warm_start == "none") != (self.warm_start_steps == 0):
            raise ValueError("warm_start and warm_start_steps go together: a classical "
                             "fusion ('gsa') and a number of steps > 0, or neither")
        return self

    #: Fields that may change when resuming (they do not change the trajectory, except that a
    #: new length changes a cosine schedule's remaining course: warned).
    RESUMABLE_CHANGES: ClassVar[frozenset[str]] = frozenset({
        "steps", "epochs", "checkpoint_every", "keep_checkpoints", "validate_every",
        "log_every", "threads", "device", "progress", "channels_last",
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
