"""Cube types: a scene (array + wavelengths + metadata) and the inputs of a fusion method.

:class:`FusionInputs` is what every method receives. It has no field for a reference image, so
a method cannot see the ground truth: the evaluator holds it separately
(:class:`mossfuse.physics.protocols.SimulatedCase`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mossfuse.errors import MossfuseInputError, check_cube


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


def infer_ratio(
    lr_hw: tuple[int, int], hr_hw: tuple[int, int], ratio: int | None = None,
    lr_path: str | None = None, hr_path: str | None = None,
) -> int:
    """The resolution ratio r of an LR-HSI of ``lr_hw`` and an HR-MSI of ``hr_hw`` pixels.

    ``ratio=None`` infers it (one integer for both axes); a given ratio is checked. Raises
    :class:`MossfuseInputError` naming both files when the sizes do not fit.
    """
    (h, w), (H, W) = lr_hw, hr_hw
    if ratio is None:
        if h == 0 or w == 0 or H % h or W % w or H // h != W // w:
            raise MossfuseInputError(
                f"HR-MSI size {H} x {W} ({hr_path}) is not an integer multiple of LR-HSI size "
                f"{h} x {w} ({lr_path}) with one ratio for both axes"
            )
        ratio = H // h
    if (H, W) != (ratio * h, ratio * w):
        raise MossfuseInputError(
            f"HR-MSI size {H} x {W} ({hr_path}) is not ratio {ratio} x LR-HSI size {h} x {w} "
            f"({lr_path}); expected {ratio * h} x {ratio * w}"
        )
    return int(ratio)


@dataclass(frozen=True)
class FusionInputs:
    """Everything a fusion method may see.

    Attributes:
        lr_hsi: ``(B, h, w)`` float32 in [0, 1].
        hr_msi: ``(b, H, W)`` float32 in [0, 1], ``H = r h`` and ``W = r w``.
        ratio: r.
        hsi_wavelengths_nm: ``(B,)`` or None.
        msi_band_names: names of the ``b`` MSI bands.
        srf: known ``(b, B)`` SRF, or None (blind).
        psf: known ``(k, k)`` kernel, or None (blind).
        phase: HR index of the first LR sample (the sampling phase), per the protocol.
        psf_centre: centre tap of ``psf``.
    """

    lr_hsi: np.ndarray
    hr_msi: np.ndarray
    ratio: int
    hsi_wavelengths_nm: np.ndarray | None = None
    msi_band_names: tuple[str, ...] = ()
    srf: np.ndarray | None = None
    psf: np.ndarray | None = None
    phase: int | None = None
    psf_centre: int | None = None

    def __post_init__(self):
        lr = check_cube(self.lr_hsi, "LR-HSI")
        hr = check_cube(self.hr_msi, "HR-MSI")
        object.__setattr__(self, "lr_hsi", lr)
        object.__setattr__(self, "hr_msi", hr)
        r = int(self.ratio)
        if r < 1:
            raise MossfuseInputError(f"ratio must be a positive integer; got {self.ratio}")
        if hr.shape[1] != r * lr.shape[1] or hr.shape[2] != r * lr.shape[2]:
            raise MossfuseInputError(
                f"HR-MSI size {hr.shape[1:]} is not ratio {r} x LR-HSI size {lr.shape[1:]}; "
                f"expected {(r * lr.shape[1], r * lr.shape[2])}"
            )
        if self.srf is not None:
            srf = np.asarray(self.srf, dtype=np.float32)
            if srf.shape != (hr.shape[0], lr.shape[0]):
                raise MossfuseInputError(
                    f"SRF shape {srf.shape} does not match {hr.shape[0]} MSI bands x "
                    f"{lr.shape[0]} HSI bands"
                )
            object.__setattr__(self, "srf", srf)
        if self.psf is not None:
            object.__setattr__(self, "psf", np.asarray(self.psf, dtype=np.float32))

    @property
    def known_degradation(self) -> bool:
        return self.srf is not None and self.psf is not None

    def blind(self) -> FusionInputs:
        """The same inputs with the degradation hidden (PSF and SRF set to None)."""
        return FusionInputs(
            self.lr_hsi, self.hr_msi, self.ratio, self.hsi_wavelengths_nm, self.msi_band_names,
            None, None, self.phase, None,
        )
