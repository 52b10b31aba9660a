"""The estimated degradation beside a fused output: CSV + PNG files and plausibility warnings.

A blind fusion (no SRF or PSF given) runs on an estimate: the classical estimator's
(:func:`mossfuse.physics.estimation.resolve_degradation`, used by methods with
``uses_degradation``) or the one a method learns itself (MossFuse:
``FusionResult.estimated_srf`` / ``estimated_psf``). :class:`DegradationEstimate` holds what was
estimated, :func:`mossfuse.engine.sidecars.staged_degradation_files` writes it beside the output and
:meth:`DegradationEstimate.warnings` says when it is implausible. Used by ``mossfuse fuse``
(whole-scene and tiled) and by :func:`mossfuse.pipeline.fuse_with_report`.

Convention
----------
- Files, for an output ``<dir>/<stem>.<ext>`` (:func:`degradation_paths`):
  ``<stem>.srf.csv`` (header ``wavelength_nm`` or ``hsi_band``, then one column per MSI band
  name, ``band0..`` when unnamed; one row per HSI band, i.e. the ``(b, B)`` SRF transposed:
  the curve format that ``--srf`` reads back when the wavelengths are known),
  ``<stem>.srf.png`` (the SRF rows), ``<stem>.psf.csv`` (the ``k x k`` kernel, no header) and
  ``<stem>.psf.png``. Only the estimated parts are written: a given SRF or PSF is not.
- All files are written to temporary names and renamed together when the enclosing block
  succeeds (:func:`mossfuse._atomic.atomic_path`): an error leaves none of them, and no
  ``.partial`` file.
- Plausibility (warnings, never errors): an SRF row that is zero; an SRF row with less than
  half of its mass inside the nominal range of its MSI band (:data:`BAND_RANGES_NM`; needs the
  HSI wavelengths, and band names or a 3-band MSI taken as R, G, B); a PSF whose equivalent
  Gaussian sigma exceeds the ratio; a degradation-fit residual above 0.15; a PSF peak moved by
  2 HR px or more (the limit of the phase search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.physics.spectral import SpectralResponse

if TYPE_CHECKING:  # torch modules, imported when a degradation is applied
    from mossfuse.physics.forward import FusionForwardModel
    from mossfuse.physics.protocols import Protocol
    from mossfuse.physics.spatial import SpatialDegradation

__all__ = [
    "BAND_RANGES_NM",
    "Degradation",
    "DegradationEstimate",
    "degradation_paths",
    "degradation_warnings",
    "srf_warnings",
    "write_psf_csv",
    "write_srf_csv",
]

#: Nominal ranges (nm) of common MSI band names, for the SRF plausibility check.
BAND_RANGES_NM: dict[str, tuple[float, float]] = {
    "B": (400.0, 540.0), "BLUE": (400.0, 540.0),
    "G": (470.0, 620.0), "GREEN": (470.0, 620.0),
    "R": (560.0, 720.0), "RED": (560.0, 720.0),
    "NIR": (720.0, 1000.0),
    "COASTAL": (400.0, 460.0), "YELLOW": (570.0, 650.0), "REDEDGE": (680.0, 760.0),
    "RED EDGE": (680.0, 760.0), "NIR1": (750.0, 900.0), "NIR2": (840.0, 1050.0),
}
SRF_MASS_MIN = 0.5
RESIDUAL_MAX = 0.15


@dataclass
class Degradation:
    """A concrete degradation: ``(k, k)`` kernel, geometry (ratio, sampling phase, centre tap,
    padding) and SRF (``srf.matrix`` is ``(b, B)``)."""

    kernel: np.ndarray
    ratio: int
    phase: int
    centre: int
    srf: SpectralResponse
    padding: str = "valid"

    @classmethod
    def from_protocol(cls, protocol: Protocol,
                      hsi_wavelengths_nm: np.ndarray | None) -> Degradation:
        """The PSF kernel, geometry and SRF ``protocol`` applies to an HSI grid (band
        centres in nm; None: the SRF's own grid)."""
        from mossfuse.physics.srf_library import load_srf

        srf = load_srf(protocol.srf, hsi_wavelengths_nm)
        return cls(protocol.psf.kernel(), protocol.ratio, protocol.phase,
                   protocol.psf.centre_index, srf, protocol.padding)

    def spatial(self) -> SpatialDegradation:
        from mossfuse.physics.spatial import SpatialDegradation

        return SpatialDegradation(
            self.kernel, self.ratio, self.phase, centre=self.centre, padding=self.padding
        )

    def forward_model(self) -> FusionForwardModel:
        from mossfuse.physics.forward import FusionForwardModel

        return FusionForwardModel(self.spatial(), self.srf.matrix)


# --------------------------------------------------------------------------------------------
# Plausibility
# --------------------------------------------------------------------------------------------
def srf_warnings(srf: np.ndarray, wavelengths: np.ndarray | None,
                 band_names: Sequence[str], notes: list[str]) -> list[str]:
    """Warnings on an estimated ``(b, B)`` SRF (zero rows, mass outside a band's nominal
    range); what could not be checked is appended to ``notes``."""
    warns: list[str] = []
    srf = np.asarray(srf, dtype=np.float64)
    for j, row in enumerate(srf):
        if row.sum() <= 1e-8:
            warns.append(f"estimated SRF row {j} is zero: MSI band {j} is not explained by the "
                         "HSI bands (wrong pair, wrong band order or a saturated band?)")
    if wavelengths is None:
        notes.append("SRF plausibility by wavelength skipped: the HSI wavelengths are unknown")
        return warns
    names = [str(n).strip().upper() for n in band_names]
    if not names and srf.shape[0] == 3:
        names = ["R", "G", "B"]
        notes.append("MSI band names unknown: a 3-band MSI is assumed to be R, G, B")
    if len(names) != srf.shape[0]:
        notes.append("SRF plausibility by wavelength skipped: MSI band names unknown")
        return warns
    wl = np.asarray(wavelengths, dtype=np.float64)
    for j, name in enumerate(names):
        rng = BAND_RANGES_NM.get(name)
        if rng is None or srf[j].sum() <= 1e-8:
            continue
        inside = (wl >= rng[0]) & (wl <= rng[1])
        share = float(srf[j][inside].sum() / srf[j].sum())
        if share < SRF_MASS_MIN:
            centroid = float((srf[j] * wl).sum() / srf[j].sum())
            warns.append(
                f"estimated SRF of MSI band '{band_names[j] if band_names else name}' has only "
                f"{share:.0%} of its mass in {rng[0]:.0f}-{rng[1]:.0f} nm (centroid "
                f"{centroid:.0f} nm): wrong band order, wrong wavelengths, a misregistered "
                "pair, or an MSI that is not linear in the HSI (a gamma-encoded, display-ready "
                "RGB; haze in the HSI)?"
            )
    return warns


def degradation_warnings(deg: Any, r: int) -> list[str]:
    """Warnings on an estimated degradation ``deg`` (``sigma``, None when no PSF was
    estimated; ``info``): PSF wider than the ratio, large fit residual, a PSF peak at the limit
    of the phase search."""
    warns = []
    sigma = getattr(deg, "sigma", None)
    if sigma is not None and sigma > r:
        warns.append(f"estimated PSF sigma {sigma:.2f} px exceeds the ratio {r}: the pair "
                     "may be misregistered or the ratio wrong")
    info = getattr(deg, "info", None) or {}
    resid = info.get("residual")
    if resid is not None and resid > RESIDUAL_MAX:
        warns.append(f"relative residual of the degradation fit is {resid:.2f} (> "
                     f"{RESIDUAL_MAX}): the two images do not relate by one SRF and PSF "
                     "(registration, illumination or acquisition time differ?)")
    off = info.get("offset")
    if off is not None and max(abs(int(o)) for o in off) >= 2:
        warns.append(f"the PSF peak moved by {tuple(int(o) for o in off)} HR px (the limit of "
                     "the search): an integer misregistration of the pair")
    return warns


@dataclass
class DegradationEstimate:
    """What a blind fusion estimated (``srf``/``psf`` None: given, or not estimated).

    Attributes:
        srf: ``(b, B)`` estimated SRF, or None.
        psf: ``(k, k)`` estimated kernel, or None.
        ratio: r.
        wavelengths_nm: HSI band centres (None: unknown; the SRF CSV then has band indices).
        band_names: MSI band names (may be empty).
        source: ``"classical estimator"`` or ``"<method> (learned)"``, for messages.
        info: the estimator's ``info`` (``residual``, ``offset``), when known.
    """

    srf: np.ndarray | None
    psf: np.ndarray | None
    ratio: int
    wavelengths_nm: np.ndarray | None = None
    band_names: tuple[str, ...] = ()
    source: str = "classical estimator"
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.srf is not None:
            self.srf = np.asarray(self.srf, dtype=np.float32)
        if self.psf is not None:
            self.psf = np.asarray(self.psf, dtype=np.float32)
        self.band_names = tuple(str(n) for n in self.band_names or ())

    @property
    def empty(self) -> bool:
        return self.srf is None and self.psf is None

    @property
    def sigma(self) -> float | None:
        """Equivalent isotropic Gaussian sigma (px) of ``psf`` about its mean."""
        if self.psf is None:
            return None
        from mossfuse.physics.psf import kernel_moments

        return float(kernel_moments(self.psf)["sigma"])

    def warnings(self) -> tuple[list[str], list[str]]:
        """``(warnings, notes)``: the plausibility warnings of the module Convention and what
        could not be checked."""
        notes: list[str] = []
        warns = degradation_warnings(self, self.ratio)
        if self.srf is not None:
            warns += srf_warnings(self.srf, self.wavelengths_nm, self.band_names, notes)
        return warns, notes

    @classmethod
    def from_result(cls, result: Any, *, ratio: int, srf_given: bool, psf_given: bool,
                    wavelengths_nm: np.ndarray | None = None,
                    band_names: Sequence[str] = (), method: str = "") -> DegradationEstimate:
        """The parts of a :class:`~mossfuse.methods.base.FusionResult`'s ``estimated_srf`` /
        ``estimated_psf`` that were not given (``info["degradation"]`` of the classical
        methods supplies the residual and offset)."""
        srf = None if srf_given else getattr(result, "estimated_srf", None)
        psf = None if psf_given else getattr(result, "estimated_psf", None)
        deg_info = dict((getattr(result, "info", None) or {}).get("degradation") or {})
        learned = deg_info == {} and not (srf is None and psf is None)
        source = f"{method} (learned)" if learned and method else "classical estimator"
        return cls(srf, psf, int(ratio), wavelengths_nm, tuple(band_names), source,
                   {k: deg_info[k] for k in ("residual", "offset") if k in deg_info})


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
def degradation_paths(out: str | Path) -> dict[str, Path]:
    """``srf_csv``, ``srf_png``, ``psf_csv``, ``psf_png`` beside the output file ``out``."""
    stem = Path(out).with_suffix("")
    return {
        "srf_csv": Path(f"{stem}.srf.csv"), "srf_png": Path(f"{stem}.srf.png"),
        "psf_csv": Path(f"{stem}.psf.csv"), "psf_png": Path(f"{stem}.psf.png"),
    }


def _srf_text(srf: np.ndarray, wavelengths: np.ndarray | None,
              band_names: Sequence[str]) -> str:
    srf = np.asarray(srf, dtype=np.float64)
    names = list(band_names) if len(band_names) == srf.shape[0] else []
    names = names or [f"band{j}" for j in range(srf.shape[0])]
    head = ["wavelength_nm" if wavelengths is not None else "hsi_band", *names]
    col = (np.asarray(wavelengths, dtype=np.float64) if wavelengths is not None
           else np.arange(srf.shape[1], dtype=np.float64))
    lines = [",".join(head)]
    for i in range(srf.shape[1]):
        lines.append(",".join([f"{col[i]:.6g}", *(f"{srf[j, i]:.8g}" for j in range(len(names)))]))
    return "\n".join(lines) + "\n"


def _psf_text(psf: np.ndarray) -> str:
    rows = [",".join(f"{v:.8g}" for v in row) for row in np.asarray(psf, dtype=np.float64)]
    return "\n".join(rows) + "\n"


def write_srf_csv(path: str | Path, srf: np.ndarray, wavelengths: np.ndarray | None,
                  band_names: Sequence[str]) -> Path:
    """Write a ``(b, B)`` SRF as curves (see module Convention), atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(_srf_text(srf, wavelengths, band_names), encoding="utf-8")
    return Path(path)


def write_psf_csv(path: str | Path, psf: np.ndarray) -> Path:
    """Write a ``(k, k)`` kernel as ``k`` rows of ``k`` values, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(_psf_text(psf), encoding="utf-8")
    return Path(path)
