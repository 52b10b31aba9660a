"""Cube types: a scene (array + wavelengths + metadata) and the inputs of a fusion method.

:class:`FusionInputs` is what every method receives. It has no field for a reference image, so
a method cannot see the ground truth: the evaluator holds it separately
(:class:`mossfuse.physics.protocols.SimulatedCase`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mossfuse.errors import MossfuseInputError, check_cube

if TYPE_CHECKING:  # physics is a layer above data: the type is only named here
    from mossfuse.physics.degradation import Degradation


@dataclass
class Scene:
    """A cube ``(bands, H, W)`` float32 with its band centres (nm) and free-form metadata.

    ``meta`` may hold ``crs``/``transform`` (GeoTIFF), ``band_names``, ``source`` (file path),
    ``scale`` (the divisor used to normalise integer data) and anything a reader finds.
    """

    cube: np.ndarray
    wavelengths_nm: np.ndarray | None = None
    name: str = "scene"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        self.cube = np.asarray(self.cube)
        if self.cube.ndim != 3:
            raise MossfuseInputError(
                f"scene '{self.name}' must be (bands, H, W); got shape {self.cube.shape}",
                self.meta.get("source"),
            )
        if self.wavelengths_nm is not None:
            self.wavelengths_nm = np.asarray(self.wavelengths_nm, dtype=np.float64).ravel()
            if self.wavelengths_nm.size != self.cube.shape[0]:
                raise MossfuseInputError(
                    f"scene '{self.name}' has {self.cube.shape[0]} bands but "
                    f"{self.wavelengths_nm.size} wavelengths",
                    self.meta.get("source"),
                )

    @property
    def bands(self) -> int:
        return self.cube.shape[0]

    @property
    def shape_hw(self) -> tuple[int, int]:
        return self.cube.shape[1], self.cube.shape[2]


def check_pair_sizes(lr_hw: Sequence[int], hr_hw: Sequence[int], ratio: int | None = None,
                     lr_path: str | Path | None = None,
                     hr_path: str | Path | None = None) -> int:
    """The ratio ``r`` of an LR-HSI of ``lr_hw`` and an HR-MSI of ``hr_hw`` pixels (given, or
    ``H / h``), checked: the one size check of the package (files, streams, arrays).

    Size policy (no padding, no cropping): ``H = r h`` and ``W = r w`` exactly, any
    ``h, w >= 1``; the grids share their upper-left corner. Raises
    :class:`MossfuseInputError` naming the files, with the crop that would make the pair fit.

    >>> check_pair_sizes((5, 7), (15, 21))
    3
    """
    (h, w), (hh, ww) = (int(v) for v in lr_hw), (int(v) for v in hr_hw)
    if min(h, w, hh, ww) < 1:
        raise MossfuseInputError(f"empty image: LR-HSI {h} x {w}, HR-MSI {hh} x {ww}", lr_path)
    if ratio is not None and int(ratio) < 1:
        raise MossfuseInputError(f"ratio must be a positive integer; got {ratio}")
    ry, rx = hh / h, ww / w
    if ratio is None:
        if hh % h == 0 and ww % w == 0 and ry == rx:
            return int(ry)
        r_guess = max(1, int(min(ry, rx)))
        raise MossfuseInputError(
            f"HR-MSI size {hh} x {ww} is not an integer multiple of the LR-HSI size {h} x {w} "
            f"({lr_path}) with one ratio for both axes (ratios {ry:.4g}, {rx:.4g}); mossfuse "
            f"neither pads nor crops: crop the pair so that H = r h and W = r w, e.g. for r = "
            f"{r_guess}: HR-MSI {r_guess * h} x {r_guess * w} (top-left kept), or pass --ratio",
            hr_path,
        )
    r = int(ratio)
    if (hh, ww) != (r * h, r * w):
        raise MossfuseInputError(
            f"HR-MSI size {hh} x {ww} is not ratio {r} x LR-HSI size {h} x {w} ({lr_path}); "
            f"expected {r * h} x {r * w}; mossfuse neither pads nor crops: crop the pair to "
            f"H = r h, W = r w (the grids share their top-left corner)",
            hr_path,
        )
    return r


#: Former name of :func:`check_pair_sizes`.
infer_ratio = check_pair_sizes


@dataclass(frozen=True)
class FusionInputs:
    """Everything a fusion method may see.

    Attributes:
        lr_hsi: ``(B, h, w)`` float32 in [0, 1].
        hr_msi: ``(b, H, W)`` float32 in [0, 1], ``H = r h`` and ``W = r w``.
        ratio: r.
        hsi_wavelengths_nm: ``(B,)`` or None.
        msi_band_names: names of the ``b`` MSI bands.
        degradation: what is known of the degradation, a
            :class:`~mossfuse.physics.degradation.Degradation` (its ``srf`` ``(b, B)``,
            ``psf`` ``(k, k)``, ``phase`` and ``centre``; None parts: unknown), or None when
            nothing is known (blind, phase unknown). ``srf``, ``psf``, ``phase`` and
            ``psf_centre`` read it.
    """

    lr_hsi: np.ndarray
    hr_msi: np.ndarray
    ratio: int
    hsi_wavelengths_nm: np.ndarray | None = None
    msi_band_names: tuple[str, ...] = ()
    degradation: Degradation | None = None

    def __post_init__(self):
        lr = check_cube(self.lr_hsi, "LR-HSI")
        hr = check_cube(self.hr_msi, "HR-MSI")
        object.__setattr__(self, "lr_hsi", lr)
        object.__setattr__(self, "hr_msi", hr)
        object.__setattr__(self, "ratio", check_pair_sizes(lr.shape[1:], hr.shape[1:], self.ratio))
        deg = self.degradation
        if deg is None:
            return
        if deg.ratio != self.ratio:
            raise MossfuseInputError(
                f"the degradation ({deg.source}) has ratio {deg.ratio}; the inputs have ratio "
                f"{self.ratio}"
            )
        if deg.srf is not None and deg.srf.shape != (hr.shape[0], lr.shape[0]):
            raise MossfuseInputError(
                f"SRF shape {deg.srf.shape} does not match {hr.shape[0]} MSI bands x "
                f"{lr.shape[0]} HSI bands"
            )

    @property
    def srf(self) -> np.ndarray | None:
        """Known ``(b, B)`` SRF, or None (blind)."""
        return None if self.degradation is None else self.degradation.srf

    @property
    def psf(self) -> np.ndarray | None:
        """Known ``(k, k)`` kernel, or None (blind)."""
        return None if self.degradation is None else self.degradation.psf

    @property
    def phase(self) -> int | None:
        """HR index of the first LR sample (the sampling phase), or None (unknown)."""
        return None if self.degradation is None else self.degradation.phase

    @property
    def psf_centre(self) -> int | None:
        """Centre tap of ``psf``, or None (its default centre)."""
        return None if self.degradation is None else self.degradation.centre

    @property
    def known_degradation(self) -> bool:
        return self.srf is not None and self.psf is not None

    def blind(self) -> FusionInputs:
        """The same inputs with the degradation hidden (PSF and SRF set to None; the sampling
        phase is kept)."""
        deg = self.degradation
        if deg is not None and deg.phase is not None:
            deg = replace(deg, psf=None, srf=None, centre=None, srf_name=None, info={},
                          psf_sigma=None)
        else:
            deg = None
        return FusionInputs(
            self.lr_hsi, self.hr_msi, self.ratio, self.hsi_wavelengths_nm, self.msi_band_names,
            deg,
        )
