"""Which crops a step trains on: :class:`CropSampler` (crop ``i`` depends only on ``(seed, i)``)
and :class:`PairBatcher`, which keeps nothing of an input but its LR-HSI, HR-MSI, ratio and
phase (PSF/SRF are dropped: blind).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mossfuse.data.crops import SamplingGeometry, augment_pair
from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError


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


@dataclass(frozen=True)
class _Pair:
    lr_hsi: np.ndarray
    hr_msi: np.ndarray
    warm_target: np.ndarray | None = None


class PairBatcher:
    """Cuts and augments the crops of a batch from the training pairs.

    It accepts only :class:`~mossfuse.data.scene.FusionInputs` (a ``SimulatedCase``, a
    ``Scene`` or a bare array is refused) and keeps of each nothing but the LR-HSI and the
    HR-MSI: no reference can reach a training batch, and the PSF/SRF are dropped (blind).

    Args:
        inputs: the training pairs (same ratio; band counts as the model).
        geometry: the sampling geometry flips must preserve (:func:`augment_pair`).
        warm_targets: optional ``(B, H, W)`` HR arrays, one per pair, computed from that
            pair's inputs alone (a classical fusion: ``TrainConfig.warm_start``); cropped and
            augmented like the HR-MSI, given as ``"warm_target"``.
    """

    def __init__(self, inputs: Sequence[FusionInputs], geometry: SamplingGeometry,
                 warm_targets: Sequence[np.ndarray] | None = None):
        if warm_targets is not None and len(warm_targets) != len(inputs):
            raise MossfuseInputError(
                f"{len(warm_targets)} warm-start targets for {len(inputs)} training pairs"
            )
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
            target = None
            if warm_targets is not None:
                target = np.asarray(warm_targets[i], dtype=np.float32)
                want = (x.lr_hsi.shape[0], *x.hr_msi.shape[1:])
                if target.shape != want:
                    raise MossfuseInputError(
                        f"warm-start target {i} has shape {target.shape}; expected {want}"
                    )
            pairs.append(_Pair(x.lr_hsi, x.hr_msi, target))
        self._pairs = tuple(pairs)
        self.geometry = geometry

    @property
    def lr_shapes(self) -> list[tuple[int, int]]:
        return [p.lr_hsi.shape[1:] for p in self._pairs]

    @property
    def has_warm_targets(self) -> bool:
        return all(p.warm_target is not None for p in self._pairs)

    def crop(self, spec: CropSpec, warm: bool = False) -> tuple[np.ndarray, ...]:
        """``(lr (B, n, m), hr (b, r n, r m))`` of one spec, augmented; with ``warm`` also the
        warm-start target's crop ``(B, r n, r m)`` (the same HR window and augmentation)."""
        p, r = self._pairs[spec.scene], self.geometry.ratio
        lr = p.lr_hsi[:, spec.row : spec.row + spec.size_rows,
                      spec.col : spec.col + spec.size_cols]
        window = (slice(None), slice(r * spec.row, r * (spec.row + spec.size_rows)),
                  slice(r * spec.col, r * (spec.col + spec.size_cols)))
        hr = p.hr_msi[window]
        n_msi = hr.shape[0]
        if warm:
            if p.warm_target is None:
                raise MossfuseInputError("this batcher was built without warm-start targets")
            hr = np.concatenate([hr, p.warm_target[window]])
        if spec.k_rot or spec.flip:
            lr, hr = augment_pair(lr, hr, self.geometry, spec.k_rot, spec.flip)
        if warm:
            return lr, hr[:n_msi], hr[n_msi:]
        return lr, hr

    def make(self, specs: Sequence[CropSpec], device: torch.device | str = "cpu", *,
             warm: bool = False) -> dict[str, torch.Tensor]:
        """``{"hr_msi": (N, b, H, W), "lr_hsi": (N, B, h, w)}`` float32 tensors (with ``warm``
        also ``"warm_target": (N, B, H, W)``)."""
        crops = [self.crop(s, warm) for s in specs]
        names = ("lr_hsi", "hr_msi", "warm_target")[: len(crops[0])]
        return {name: torch.from_numpy(
                    np.stack([c[k] for c in crops]).astype(np.float32, copy=False)).to(device)
                for k, name in enumerate(names)}
