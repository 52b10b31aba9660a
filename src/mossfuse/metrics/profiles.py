"""Named metric profiles: which metric formulas, with which conventions, on which data.

Papers in HSI-MSI fusion disagree silently on metric conventions (clipping, PSNR peak, ERGAS
ratio and denominator, SSIM window); mossfuse names them. A result is only comparable with
another computed under the same profile, and every :class:`MetricReport` carries its profile.

``mossfuse-paper`` (the MossFuse paper's released evaluation code)
    The prediction is first clipped to [0, 1].

    - ``psnr``: per band, MSE over all pixels, ``10 log10(1 / MSE)`` (peak fixed at 1), mean
      over bands.
    - ``ssim``: ``skimage.metrics.structural_similarity(gt, pred, channel_axis=-1,
      data_range=1, K1=0.01, K2=0.03)`` on ``H x W x C``, its defaults otherwise (7 x 7
      uniform window, sample covariance).
    - ``sam``: prediction further clipped to [1e-5, 1]; per pixel
      ``arccos(<g, p> / (|g| |p|))`` in degrees (cosine clipped to [-1, 1]), mean over pixels.
      Pixels whose ground truth is all zero have no angle: they are left out of the mean and
      counted in ``details["sam_zero_reference_pixels"]`` (never a NaN result).
    - ``ergas``: ``(100 / r) sqrt( sum_k MSE_k / mean(gt_k)^2 / (C + 1) )``: the code's
      denominator ``C + 1`` is kept (it lowers ERGAS by ``sqrt(C / (C + 1))``). The code fixes
      r = 32 (its x32 setting); here r is the ``ratio`` argument, so x32 results use 32 and the
      spec's x8 anchors use 8 (``100 / 8``).

``standard`` (the usual reference definitions)
    No clipping (the reference must be in [0, 1]; the prediction is used as is; the fraction
    of predicted values outside [0, 1] is reported in the details).

    - ``psnr``: per band, peak 1, mean over bands.
    - ``ssim``: Wang et al. 2004: Gaussian window 11 x 11, sigma 1.5, population covariance,
      K1 = 0.01, K2 = 0.03, data range 1, per band (valid window positions), mean over bands.
    - ``sam``: degrees, mean over pixels whose ground-truth spectrum is not zero (a zero
      *predicted* spectrum there counts as 90 degrees).
    - ``ergas``: Wald, ``(100 / r) sqrt( mean_k (RMSE_k / mean(gt_k))^2 )``.
    - ``rmse``: pooled over bands and pixels (data units, [0, 1] scale).
    - ``cc``: mean per-band Pearson correlation.
    - ``uiqi``: Wang-Bovik Q on sliding 32 x 32 windows (every valid position, as
      ``img_qi(gt, pred, 32)``), mean over windows and bands.
    - ``q2n``: Garzelli-Nencini Q2^n on disjoint 32 x 32 blocks, bands zero-padded to 2^n.
    On images smaller than 32 px the UIQI/Q2n block is ``min(32, H, W)`` (recorded in the
    details).

No-reference indices (QNR, D_lambda, D_s) need the fusion inputs, not a reference: see
:func:`mossfuse.metrics.no_reference.qnr`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from mossfuse.errors import MossfuseInputError
from mossfuse.metrics import full_reference as fr

__all__ = [
    "PROFILES",
    "MetricProfile",
    "MetricReport",
    "evaluate",
    "get_profile",
    "register_profile",
]


@dataclass
class MetricReport:
    """Metric values of one fused cube, with the profile that produced them.

    Attributes:
        values: metric name -> value (e.g. ``{"psnr": 25.25, "sam": 9.34}``); units: PSNR in
            dB, SAM in degrees, the others unitless.
        profile: the profile name (``"mossfuse-paper"``, ``"standard"``, ...).
        details: what a reader needs to trust the numbers: ratio, conventions, counts of
            undefined pixels, clipped fraction, block sizes.
    """

    values: dict[str, float]
    profile: str
    details: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (``values``, ``profile``, ``details``)."""
        return asdict(self)

    def __str__(self) -> str:
        vals = ", ".join(f"{k}={v:.4g}" for k, v in self.values.items())
        return f"[{self.profile}] {vals}"


ComputeFn = Callable[[np.ndarray, np.ndarray, float, tuple[str, ...]],
                     tuple[dict[str, float], dict[str, Any]]]


@dataclass(frozen=True)
class MetricProfile:
    """A named set of metric conventions.

    Attributes:
        name: registry key.
        description: one paragraph: what it reproduces.
        metrics: the metric keys it computes, in report order.
        compute: ``(pred, ref, ratio, metrics) -> (values, details)`` on checked float64
            ``(C, H, W)`` arrays.
    """

    name: str
    description: str
    metrics: tuple[str, ...]
    compute: ComputeFn

    def evaluate(
        self, pred: ArrayLike, ref: ArrayLike, *, ratio: float, metrics: Iterable[str] | None = None
    ) -> MetricReport:
        """Compute this profile's metrics (or the subset ``metrics``); see :func:`evaluate`."""
        p, r = fr.as_pair(pred, ref, ref_range=(0.0, 1.0))
        rr = fr._positive(ratio, "ratio")
        wanted = self.metrics if metrics is None else tuple(metrics)
        unknown = [m for m in wanted if m not in self.metrics]
        if unknown:
            raise MossfuseInputError(
                f"profile '{self.name}' has no metric(s) {unknown}; it computes "
                f"{list(self.metrics)}"
            )
        values, details = self.compute(p, r, rr, wanted)
        ordered = {m: float(values[m]) for m in self.metrics if m in values}
        details = {"ratio": rr, "shape": list(p.shape), **details}
        return MetricReport(values=ordered, profile=self.name, details=details)


def _out_of_range_fraction(p: np.ndarray) -> float:
    return float(np.mean((p < 0) | (p > 1)))


def _zero_ref_pixels(r: np.ndarray) -> int:
    return int(np.sum(~np.any(r != 0, axis=0)))


def _paper(p: np.ndarray, r: np.ndarray, ratio: float, wanted: tuple[str, ...]):
    details: dict[str, Any] = {
        "pred_clipped_fraction": _out_of_range_fraction(p),
        "clip": [0.0, 1.0],
    }
    p = np.clip(p, 0.0, 1.0)
    v: dict[str, float] = {}
    if "psnr" in wanted:
        v["psnr"] = fr.psnr(p, r, data_range=1.0)
    if "ssim" in wanted:
        v["ssim"] = fr.ssim(p, r, data_range=1.0, window="uniform", win_size=7,
                            sample_covariance=True, K1=0.01, K2=0.03)
    if "sam" in wanted:
        v["sam"] = fr.sam(np.clip(p, 1e-5, 1.0), r)
        details["sam_pred_clip"] = [1e-5, 1.0]
        details["sam_zero_reference_pixels"] = _zero_ref_pixels(r)
    if "ergas" in wanted:
        v["ergas"] = fr.ergas(p, r, ratio=ratio, convention="mossfuse-paper")
        details["ergas_convention"] = "mossfuse-paper: (100/r) sqrt(sum_k MSE_k/mean_k^2/(C+1))"
    return v, details


def _standard(p: np.ndarray, r: np.ndarray, ratio: float, wanted: tuple[str, ...]):
    details: dict[str, Any] = {"pred_out_of_range_fraction": _out_of_range_fraction(p)}
    block = min(32, *p.shape[1:])
    v: dict[str, float] = {}
    if "psnr" in wanted:
        v["psnr"] = fr.psnr(p, r, data_range=1.0)
    if "ssim" in wanted:
        v["ssim"] = fr.ssim(p, r, data_range=1.0, window="gaussian", sigma=1.5,
                            sample_covariance=False, K1=0.01, K2=0.03)
    if "sam" in wanted:
        v["sam"] = fr.sam(p, r, zero_pred_angle=90.0)
        details["sam_zero_reference_pixels"] = _zero_ref_pixels(r)
        details["sam_zero_prediction_pixels"] = int(
            np.sum(~np.any(p != 0, axis=0) & np.any(r != 0, axis=0))
        )
    if "ergas" in wanted:
        v["ergas"] = fr.ergas(p, r, ratio=ratio, convention="wald")
        details["ergas_convention"] = "wald: (100/r) sqrt(mean_k (RMSE_k/mean_k)^2)"
    if "rmse" in wanted:
        v["rmse"] = fr.rmse(p, r)
    if "cc" in wanted:
        per_band = fr.cc_per_band(p, r)
        details["cc_undefined_bands"] = np.flatnonzero(np.isnan(per_band)).tolist()
        v["cc"] = fr.cc(p, r)
    if "uiqi" in wanted:
        v["uiqi"] = fr.uiqi(p, r, block_size=block, stride=1)
        details["uiqi_block"] = block
    if "q2n" in wanted:
        v["q2n"] = fr.q2n(p, r, block_size=block, shift=block)
        details["q2n_block"] = block
    return v, details


PROFILES: dict[str, MetricProfile] = {
    "mossfuse-paper": MetricProfile(
        name="mossfuse-paper",
        description=(
            "The MossFuse paper's evaluation code: prediction clipped to [0, 1]; PSNR per band "
            "(peak 1) averaged; skimage SSIM (7x7 uniform, sample covariance, channel_axis=-1); "
            "SAM in degrees with the prediction clipped to [1e-5, 1]; ERGAS with 100/r and the "
            "denominator C + 1"
        ),
        metrics=("psnr", "ssim", "sam", "ergas"),
        compute=_paper,
    ),
    "standard": MetricProfile(
        name="standard",
        description=(
            "Reference definitions: no clipping; PSNR per band (peak 1) averaged; SSIM of Wang "
            "et al. 2004 (11x11 Gaussian, sigma 1.5) per band averaged; SAM in degrees over "
            "pixels with non-zero reference; Wald's ERGAS (100/r); pooled RMSE; mean per-band "
            "CC; UIQI (32x32 sliding windows); Q2n (32x32 blocks)"
        ),
        metrics=("psnr", "ssim", "sam", "ergas", "rmse", "cc", "uiqi", "q2n"),
        compute=_standard,
    ),
}


def register_profile(profile: MetricProfile) -> None:
    """Add (or replace) a profile in :data:`PROFILES`."""
    PROFILES[profile.name] = profile


def get_profile(name: str | MetricProfile) -> MetricProfile:
    """A profile by name (a :class:`MetricProfile` is returned as is)."""
    if isinstance(name, MetricProfile):
        return name
    if name not in PROFILES:
        raise MossfuseInputError(
            f"unknown metric profile '{name}'; available: {sorted(PROFILES)}"
        )
    return PROFILES[name]


def evaluate(
    pred: ArrayLike,
    ref: ArrayLike,
    *,
    profile: str | MetricProfile = "mossfuse-paper",
    ratio: float,
    metrics: Iterable[str] | None = None,
) -> MetricReport:
    """Score a fused cube against its reference under a named profile.

    Args:
        pred: ``(C, H, W)`` fused cube (float32/float64, finite; any range: the profile
            decides whether to clip).
        ref: ``(C, H, W)`` ground truth, float in [0, 1].
        profile: ``"mossfuse-paper"`` (default), ``"standard"``, or a registered name.
        ratio: resolution ratio r of the experiment (ERGAS's ``100 / r``); required, so that
            no result silently uses a ratio that is not its own.
        metrics: a subset of the profile's metrics (e.g. skip the costly ``q2n``).

    Returns:
        A :class:`MetricReport`.

    Raises:
        MossfuseInputError: unknown profile or metric, shape mismatch, NaN/Inf, non-float
            data, reference outside [0, 1], an image too small for the SSIM window.

    >>> import numpy as np
    >>> ref = np.full((3, 16, 16), 0.5)
    >>> rep = evaluate(ref + 0.1, ref, ratio=4, metrics=["psnr", "sam"])
    >>> rep.profile, round(rep["psnr"], 6), round(rep["sam"], 4)
    ('mossfuse-paper', 20.0, 0.0)
    """
    return get_profile(profile).evaluate(pred, ref, ratio=ratio, metrics=metrics)
