"""Validation: an evaluator receives a ``fuse(inputs) -> (B, H, W) array`` function and returns
metrics; :class:`ReferenceEvaluator` alone holds the references (the trainer never does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np

from mossfuse.data.scene import FusionInputs, Scene
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.degradation import Degradation

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
        inputs.hsi_wavelengths_nm, inputs.msi_band_names,
        None if inputs.phase is None else Degradation(None, None, r, inputs.phase),
    )
    return cropped, np.ascontiguousarray(reference[sl])


def simulate_training_inputs(scenes: Iterable[Scene], protocol: Any) -> list[FusionInputs]:
    """The blind inputs (``case.inputs.blind()``) of each scene under ``protocol``; the
    references are dropped as soon as each pair is simulated."""
    return [protocol.simulate(scene).inputs.blind() for scene in scenes]
