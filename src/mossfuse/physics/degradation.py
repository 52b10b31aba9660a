"""One degradation value: PSF, SRF, ratio, sampling phase, centre tap and padding.

:class:`Degradation` is the one type for a degradation in the package, known or estimated:
a simulation protocol's (:meth:`Degradation.from_protocol`, which
:meth:`mossfuse.physics.protocols.Protocol.degradation` returns), the classical estimator's
(:func:`mossfuse.physics.estimation.estimate_degradation` / ``resolve_degradation``, used by
methods with ``uses_degradation``), the one a method learns itself (MossFuse:
``FusionResult.estimated_srf`` / ``estimated_psf``, :meth:`Degradation.from_result`) and what
a method is given (``FusionInputs.degradation``; a tiled run settles one for the scene,
:func:`mossfuse.engine.tiling.resolve_tile_degradation`). Parts that are unknown are None.

A blind fusion (no SRF or PSF given) runs on an estimate: :meth:`Degradation.save` writes it
beside the output (:func:`mossfuse.engine.sidecars.staged_degradation_files` adds the PNG
figures and renames them with the output), :meth:`Degradation.load` reads the files back and
:meth:`Degradation.warnings` says when it is implausible. Used by ``mossfuse fuse``
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
- Arrays: ``psf`` ``(k, k)`` and ``srf`` ``(b, B)`` are float32; the geometry is that of
  :mod:`mossfuse.physics.spatial` (LR sample ``i`` on HR pixel ``phase + r i``, kernel tap
  ``centre`` on it). Reading a file back (:meth:`Degradation.load`) gives the values to the 8
  significant digits written.
- Plausibility (warnings, never errors): an SRF row that is zero; an SRF row with less than
  half of its mass inside the nominal range of its MSI band (:data:`BAND_RANGES_NM`; needs the
  HSI wavelengths, and band names or a 3-band MSI taken as R, G, B); a PSF whose equivalent
  Gaussian sigma exceeds the ratio; a degradation-fit residual above 0.15; a PSF peak moved by
  2 HR px or more (the limit of the phase search).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.errors import MossfuseInputError

if TYPE_CHECKING:  # torch modules, imported when a degradation is applied
    from mossfuse.physics.forward import FusionForwardModel
    from mossfuse.physics.protocols import Protocol
    from mossfuse.physics.spatial import SpatialDegradation

__all__ = [
    "BAND_RANGES_NM",
    "Degradation",
    "degradation_paths",
    "degradation_warnings",
    "read_psf_csv",
    "read_srf_csv",
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


def degradation_warnings(deg: Degradation, r: int) -> list[str]:
    """Warnings on an estimated degradation ``deg`` (its ``sigma``, None when no PSF was
    estimated, and ``info``): PSF wider than the ratio, large fit residual, a PSF peak at the
    limit of the phase search."""
    warns = []
    sigma = deg.sigma
    if sigma is not None and sigma > r:
        warns.append(f"estimated PSF sigma {sigma:.2f} px exceeds the ratio {r}: the pair "
                     "may be misregistered or the ratio wrong")
    info = deg.info or {}
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


@dataclass(eq=False)
class Degradation:
    """One degradation: PSF, SRF and the sampling geometry, known or estimated, with where it
    came from (the one type for it in the package; module Convention).

    ``None`` parts are unknown (blind, or not estimated). Built by :meth:`from_protocol` (a
    simulation protocol), returned by the classical estimator
    (:func:`~mossfuse.physics.estimation.estimate_degradation`), by :meth:`from_result` (what a
    fusion estimated or learned), by :meth:`load` (the files beside an output) and by
    ``FusionInputs.degradation`` (what a method is given).

    Attributes:
        psf: ``(k, k)`` float32 kernel, or None.
        srf: ``(b, B)`` float32 SRF (rows: MSI bands in input order), or None.
        ratio: r.
        phase: sampling phase (HR index of LR sample 0), or None (unknown).
        centre: centre tap of ``psf`` used by the spatial operator, or None (unknown: the
            kernel's default centre).
        padding: border mode of the spatial operator (``valid`` unless a protocol says
            otherwise).
        wavelengths_nm: ``(B,)`` HSI band centres the SRF columns refer to (None: unknown;
            the SRF file then has band indices).
        band_names: names of the ``b`` MSI bands, in row order (may be empty).
        srf_name: where the SRF came from (library name or file), when known.
        source: what it is, for messages: ``"given"``, ``"protocol <name>"``, ``"classical
            estimator"`` or ``"<method> (learned)"``.
        info: how it was obtained (the estimator's ``estimated`` flags, ``residual``,
            ``offset``, evaluations ...).
        psf_sigma: the equivalent sigma of ``psf`` as its producer measured it (the
            estimator: on its float64 kernel; MossFuse: its module's); None: computed from
            ``psf`` (:attr:`sigma`).
    """

    psf: np.ndarray | None
    srf: np.ndarray | None
    ratio: int
    phase: int | None = None
    centre: int | None = None
    padding: str = "valid"
    wavelengths_nm: np.ndarray | None = field(default=None, repr=False)
    band_names: tuple[str, ...] = ()
    srf_name: str | None = None
    source: str = "given"
    info: dict[str, Any] = field(default_factory=dict)
    psf_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.srf is not None:
            self.srf = np.asarray(self.srf, dtype=np.float32)
            if self.srf.ndim != 2:
                raise MossfuseInputError(f"SRF must be a (b, B) matrix; got shape "
                                         f"{self.srf.shape}")
        if self.psf is not None:
            self.psf = np.asarray(self.psf, dtype=np.float32)
        self.ratio = int(self.ratio)
        if self.phase is not None:
            self.phase = int(self.phase)
        if self.centre is not None:
            self.centre = int(self.centre)
        if self.wavelengths_nm is not None:
            self.wavelengths_nm = np.asarray(self.wavelengths_nm, dtype=np.float64)
        self.band_names = tuple(str(n) for n in self.band_names or ())

    def __eq__(self, other: object) -> bool:
        """Equal fields, arrays compared by value (shape and entries)."""
        if not isinstance(other, Degradation):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if a is None or b is None or not np.array_equal(a, b):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    # ----------------------------------------------------------------------------------------
    @property
    def empty(self) -> bool:
        """Neither a PSF nor an SRF."""
        return self.srf is None and self.psf is None

    @property
    def known(self) -> bool:
        """Both the PSF and the SRF."""
        return self.srf is not None and self.psf is not None

    @property
    def sigma(self) -> float | None:
        """Equivalent isotropic Gaussian sigma (px) of ``psf`` about its mean
        (:func:`~mossfuse.physics.psf.kernel_moments`; ``psf_sigma`` when set); None without
        a PSF. For a truncated kernel it is below the Gaussian's parameter (``wald-x8``: 7
        taps, sigma 2 -> 1.64)."""
        if self.psf_sigma is not None:
            return float(self.psf_sigma)
        if self.psf is None:
            return None
        from mossfuse.physics.psf import kernel_moments

        c = None if self.centre is None else (self.centre, self.centre)
        return float(kernel_moments(self.psf, c)["sigma"])

    def spatial(self) -> SpatialDegradation:
        """The spatial operator ``S`` this degradation describes (a torch module;
        :func:`~mossfuse.physics.spatial.spatial_degrade` with ``psf``, ``ratio``, ``phase``,
        ``centre`` and ``padding`` is its numpy equivalent)."""
        from mossfuse.physics.spatial import SpatialDegradation

        if self.psf is None or self.phase is None:
            raise MossfuseInputError(f"the degradation ({self.source}) has no "
                                     f"{'PSF' if self.psf is None else 'sampling phase'}: "
                                     "no spatial operator")
        return SpatialDegradation(self.psf, self.ratio, self.phase, centre=self.centre,
                                  padding=self.padding)

    def forward_model(self) -> FusionForwardModel:
        """``X -> (LR-HSI, HR-MSI)``: :meth:`spatial` and ``srf`` (both needed)."""
        from mossfuse.physics.forward import FusionForwardModel

        if self.srf is None:
            raise MossfuseInputError(f"the degradation ({self.source}) has no SRF: no "
                                     "forward model")
        return FusionForwardModel(self.spatial(), self.srf)

    def warnings(self) -> tuple[list[str], list[str]]:
        """``(warnings, notes)``: the plausibility warnings of the module Convention and what
        could not be checked."""
        notes: list[str] = []
        warns = degradation_warnings(self, self.ratio)
        if self.srf is not None:
            warns += srf_warnings(self.srf, self.wavelengths_nm, self.band_names, notes)
        return warns, notes

    def estimated(self) -> Degradation:
        """The parts ``info["estimated"]`` flags as estimated (the others None): what is
        written beside an output. ``psf_sigma`` is dropped: the sigma is then that of the
        float32 kernel in the file."""
        flags = self.info.get("estimated", {})
        return replace(self, srf=self.srf if flags.get("srf") else None,
                       psf=self.psf if flags.get("psf") else None, psf_sigma=None)

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_protocol(cls, protocol: Protocol,
                      hsi_wavelengths_nm: np.ndarray | None) -> Degradation:
        """The PSF kernel, geometry and SRF ``protocol`` applies to an HSI grid (band
        centres in nm; None: the SRF's own grid)."""
        from mossfuse.physics.srf_library import load_srf

        srf = load_srf(protocol.srf, hsi_wavelengths_nm)
        return cls(protocol.psf.kernel(), srf.matrix, protocol.ratio, protocol.phase,
                   protocol.psf.centre_index, protocol.padding, srf.wavelengths_nm,
                   tuple(srf.band_names), srf.name, f"protocol {protocol.name}")

    @classmethod
    def from_result(cls, result: Any, *, ratio: int, srf_given: bool, psf_given: bool,
                    wavelengths_nm: np.ndarray | None = None,
                    band_names: Sequence[str] = (), method: str = "") -> Degradation:
        """The parts of a :class:`~mossfuse.methods.base.FusionResult`'s ``estimated_srf`` /
        ``estimated_psf`` that were not given (``info["degradation"]`` of the classical
        methods supplies the residual and offset)."""
        srf = None if srf_given else getattr(result, "estimated_srf", None)
        psf = None if psf_given else getattr(result, "estimated_psf", None)
        deg_info = dict((getattr(result, "info", None) or {}).get("degradation") or {})
        learned = deg_info == {} and not (srf is None and psf is None)
        source = f"{method} (learned)" if learned and method else "classical estimator"
        return cls(psf, srf, int(ratio), wavelengths_nm=wavelengths_nm,
                   band_names=tuple(band_names), source=source,
                   info={k: deg_info[k] for k in ("residual", "offset") if k in deg_info})

    # ----------------------------------------------------------------------------------------
    def save(self, out: str | Path) -> dict[str, Path]:
        """Write ``<stem>.srf.csv`` and ``<stem>.psf.csv`` of the output file ``out`` (the
        parts this degradation has; module Convention), renamed together once both are
        complete. The PNG figures are :func:`mossfuse.engine.sidecars.
        staged_degradation_files`'.

        Returns:
            ``{"srf_csv": path, "psf_csv": path}`` for the parts written.
        """
        paths = degradation_paths(out)
        written: dict[str, Path] = {}
        with contextlib.ExitStack() as stack:
            for key, text in self.csv_texts().items():
                tmp = stack.enter_context(atomic_path(paths[key]))
                tmp.write_text(text, encoding="utf-8")
                written[key] = paths[key]
        return written

    def csv_texts(self) -> dict[str, str]:
        """``{"srf_csv": text, "psf_csv": text}`` of the files :meth:`save` writes."""
        texts: dict[str, str] = {}
        if self.srf is not None:
            texts["srf_csv"] = _srf_text(self.srf, self.wavelengths_nm, self.band_names)
        if self.psf is not None:
            texts["psf_csv"] = _psf_text(self.psf)
        return texts

    @classmethod
    def load(cls, source: str | Path | Mapping[str, str | Path], *, ratio: int,
             phase: int | None = None, centre: int | None = None) -> Degradation:
        """Read back what :meth:`save` wrote.

        Args:
            source: the output file (its ``<stem>.srf.csv`` / ``<stem>.psf.csv`` are read,
                those that exist), or ``{"srf_csv": path, "psf_csv": path}`` (either may be
                missing).
            ratio: r (the files do not hold it); phase, centre: the geometry, when known.

        Returns:
            :class:`Degradation` with ``source`` ``"file"``; the wavelengths when the SRF file
            has them, the band names unless they were written as ``band0..``.

        Raises:
            MossfuseInputError: no file found, or a file not in the format of the module
                Convention.
        """
        if isinstance(source, Mapping):
            paths = {k: Path(v) for k, v in source.items() if k in ("srf_csv", "psf_csv")}
        else:
            paths = {k: p for k, p in degradation_paths(source).items()
                     if k.endswith("_csv") and p.exists()}
        if not paths:
            raise MossfuseInputError("no degradation files (.srf.csv / .psf.csv) beside it",
                                     None if isinstance(source, Mapping) else source)
        srf = wl = psf = None
        names: tuple[str, ...] = ()
        if "srf_csv" in paths:
            srf, wl, names = read_srf_csv(paths["srf_csv"])
        if "psf_csv" in paths:
            psf = read_psf_csv(paths["psf_csv"])
        return cls(psf, srf, ratio, phase, centre, wavelengths_nm=wl, band_names=names,
                   source="file")


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


def read_srf_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...]]:
    """Read an SRF file written by :func:`write_srf_csv`: ``(srf (b, B) float32, wavelengths
    (B,) or None, band names)`` (names ``band0..`` read back as none)."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        head = [h.strip() for h in lines[0].split(",")]
        data = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]], np.float64)
    except (OSError, IndexError, ValueError) as exc:
        raise MossfuseInputError(f"not an SRF file of mossfuse ({exc})", path) from exc
    if head[0] not in ("wavelength_nm", "hsi_band") or data.ndim != 2 or \
            data.shape[1] != len(head) or len(head) < 2:
        raise MossfuseInputError("not an SRF file of mossfuse (header 'wavelength_nm' or "
                                 "'hsi_band', then one column per MSI band)", path)
    names = tuple(head[1:])
    if names == tuple(f"band{j}" for j in range(len(names))):
        names = ()
    wl = data[:, 0] if head[0] == "wavelength_nm" else None
    return data[:, 1:].T.astype(np.float32), wl, names


def read_psf_csv(path: str | Path) -> np.ndarray:
    """Read a ``(k, k)`` kernel written by :func:`write_psf_csv` (float32)."""
    path = Path(path)
    try:
        rows = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        psf = np.array([[float(v) for v in ln.split(",")] for ln in rows], np.float64)
    except (OSError, ValueError) as exc:
        raise MossfuseInputError(f"not a PSF file of mossfuse ({exc})", path) from exc
    if psf.ndim != 2 or psf.shape[0] != psf.shape[1]:
        raise MossfuseInputError(f"a PSF file holds a k x k kernel; got {psf.shape}", path)
    return psf.astype(np.float32)
