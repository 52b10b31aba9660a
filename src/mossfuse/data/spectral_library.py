"""Reflectance spectra to paint synthetic scenes with.

Two sources:

- :func:`reflectance_library`: measured reflectances shipped by colour-science (no download):
  the ColorChecker Classic (BabelColor average; Ohta 1997 = ISO 17321-1), the preferred memory
  colour chart (Luo 2024), the CIE test colour samples (CIE 13.3 / CIE 2024, TCS01-15), the NIST
  CQS samples (Ohno & Davis, v7.4 and v9.0) and the 190 RAW-to-ACES training patches (Dyer et al.
  2017). About 300 spectra after removing exact duplicates.
- :func:`spectra_from_cube`: spectra drawn from a user's own LR-HSI (its pixels, or NMF
  endmembers), so that synthetic training scenes match that user's sensor and scene content.

Convention
----------
A library holds ``spectra`` of shape ``(n_spectra, B)`` float32 in [0, 1] (reflectance factor),
sampled at ``wavelengths_nm`` ``(B,)``. Resampling is linear interpolation of the measured
curve at the band centres (point sampling, as :func:`mossfuse.physics.spectral.resample_curves`),
holding the end value outside the measured range (colour-science's default extrapolation);
all shipped sets cover 400-700 nm, most 380-780 nm. Values are clipped to [0, 1]: five of the
190 ACES patches are fluorescent and exceed 1 (max 1.44) in a few bands.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from mossfuse.errors import MossfuseInputError, check_cube

DEFAULT_WAVELENGTHS_NM = np.arange(400.0, 701.0, 10.0)


@dataclass
class SpectralLibrary:
    """A set of reflectance spectra on one wavelength grid.

    Attributes:
        spectra: ``(n_spectra, B)`` float32 in [0, 1].
        names: ``n_spectra`` labels (``"<set>/<patch>"``).
        wavelengths_nm: ``(B,)`` band centres (nm), or None when unknown.
        source: where the spectra came from.
    """

    spectra: np.ndarray
    names: list[str]
    wavelengths_nm: np.ndarray | None
    source: str
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        self.spectra = np.asarray(self.spectra, dtype=np.float32)
        if self.spectra.ndim != 2 or self.spectra.shape[0] == 0:
            raise MossfuseInputError(
                f"spectral library '{self.source}' must be (n_spectra, bands) with n >= 1; "
                f"got shape {self.spectra.shape}"
            )
        if len(self.names) != self.spectra.shape[0]:
            raise MossfuseInputError(
                f"spectral library '{self.source}': {len(self.names)} names for "
                f"{self.spectra.shape[0]} spectra"
            )
        if self.wavelengths_nm is not None:
            self.wavelengths_nm = np.asarray(self.wavelengths_nm, dtype=np.float64).ravel()
            if self.wavelengths_nm.size != self.spectra.shape[1]:
                raise MossfuseInputError(
                    f"spectral library '{self.source}' has {self.spectra.shape[1]} bands but "
                    f"{self.wavelengths_nm.size} wavelengths"
                )

    def __len__(self) -> int:
        return self.spectra.shape[0]

    @property
    def bands(self) -> int:
        return self.spectra.shape[1]


@functools.lru_cache(maxsize=1)
def _colour_sets() -> tuple[tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]], ...]:
    """``(set name, {patch: (wavelengths_nm, values)})`` for every measured set used (cached:
    colour-science loads some sets lazily, which takes about a second)."""
    import colour
    from colour.characterisation.aces_it import read_training_data_rawtoaces_v1
    from colour.quality import SDS_TCS, SDS_VS

    sets = [
        ("ColorChecker BabelColor", colour.SDS_COLOURCHECKERS["BabelColor Average"]),
        ("ColorChecker Ohta", colour.SDS_COLOURCHECKERS["ColorChecker N Ohta"]),
        ("PMC", colour.SDS_COLOURCHECKERS["PMC"]),
        ("CIE TCS", SDS_TCS["CIE 2024"]),
        ("NIST CQS 7.4", SDS_VS["NIST CQS 7.4"]),
        ("NIST CQS 9.0", SDS_VS["NIST CQS 9.0"]),
    ]
    msds = read_training_data_rawtoaces_v1()
    aces = {
        label: (np.asarray(msds.wavelengths), np.asarray(msds.values)[:, j])
        for j, label in enumerate(msds.labels)
    }
    out = [(name, {k: (np.asarray(sd.wavelengths), np.asarray(sd.values)) for k, sd in s.items()})
           for name, s in sets]
    out.append(("RAW-to-ACES 190", aces))
    return tuple(out)


def reflectance_library(
    wavelengths_nm: np.ndarray | None = None, *, deduplicate: bool = True
) -> SpectralLibrary:
    """The measured reflectances shipped by colour-science, on a given grid.

    Args:
        wavelengths_nm: ``(B,)`` band centres in nm; default 400, 410, ..., 700 (31 bands).
        deduplicate: drop spectra identical (to 1e-6) to an earlier one after resampling
            (colour-science ships some sets twice under different names).

    Returns:
        :class:`SpectralLibrary` with ``spectra (n, B)`` float32 in [0, 1] (see Convention).

    >>> lib = reflectance_library()
    >>> lib.spectra.shape[1], len(lib) > 250, float(lib.spectra.max()) <= 1.0
    (31, True, True)
    """
    wl = DEFAULT_WAVELENGTHS_NM if wavelengths_nm is None else wavelengths_nm
    wl = np.asarray(wl, dtype=np.float64).ravel()
    if wl.size == 0 or not np.all(np.isfinite(wl)):
        raise MossfuseInputError(f"wavelengths_nm must be finite and non-empty; got {wl}")
    rows, names = [], []
    for set_name, sds in _colour_sets():
        for patch, (w, v) in sds.items():
            order = np.argsort(w)
            rows.append(np.interp(wl, w[order], v[order]))
            names.append(f"{set_name}/{patch}")
    spectra = np.clip(np.stack(rows), 0.0, 1.0)
    if deduplicate:
        same = np.max(np.abs(spectra[:, None, :] - spectra[None, :, :]), axis=2) < 1e-6
        # keep i unless it equals an earlier spectrum j < i
        keep = [i for i in range(len(spectra)) if not same[i, :i].any()]
        spectra = spectra[keep]
        names = [names[i] for i in keep]
    return SpectralLibrary(spectra, names, wl, "colour-science measured reflectances")


def nmf_multiplicative(
    data: np.ndarray, k: int, rng: np.random.Generator, n_iter: int = 300, eps: float = 1e-9
) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative factorisation ``data ~= W @ H`` by Lee & Seung's multiplicative updates
    (Frobenius loss; "Algorithms for non-negative matrix factorization", NIPS 2001).

    Args:
        data: ``(B, P)`` non-negative (bands x pixels).
        k: number of components.
        rng: initialises ``W`` from random data columns and ``H`` uniformly.

    Returns:
        ``W (B, k)``, ``H (k, P)``, float64, non-negative.
    """
    x = np.asarray(data, dtype=np.float64)
    n_bands, n_pix = x.shape
    cols = rng.choice(n_pix, size=k, replace=n_pix < k)
    w = x[:, cols] + 1e-3 * rng.random((n_bands, k)) + eps
    h = rng.random((k, n_pix)) * (x.mean() / max(w.mean(), eps)) / k + eps
    for _ in range(n_iter):
        h *= (w.T @ x) / (w.T @ w @ h + eps)
        w *= (x @ h.T) / (w @ (h @ h.T) + eps)
    return w, h


def spectra_from_cube(
    lr_hsi: np.ndarray,
    n: int,
    method: str = "pixels",
    rng: np.random.Generator | None = None,
    *,
    wavelengths_nm: np.ndarray | None = None,
    max_pixels: int = 20000,
) -> SpectralLibrary:
    """Spectra drawn from a given cube (typically the user's LR-HSI), to paint synthetic
    training scenes that match the user's sensor.

    Args:
        lr_hsi: ``(B, h, w)`` float in [0, 1].
        n: number of spectra.
        method: ``"pixels"``: ``n`` random pixels (distinct while ``n <= h w``);
            ``"nmf"``: ``n`` endmembers of a non-negative factorisation
            (:func:`nmf_multiplicative` on at most ``max_pixels`` random pixels). NMF has a scale
            ambiguity: each endmember is scaled by the 95th percentile of its abundances (so a
            pixel made of that material at a typical high abundance reproduces), then clipped to
            [0, 1].
        rng: random generator (default ``np.random.default_rng(0)``).
        wavelengths_nm: ``(B,)`` band centres recorded in the library.

    Returns:
        :class:`SpectralLibrary` with ``spectra (n, B)`` float32 in [0, 1].
    """
    cube = check_cube(lr_hsi, "LR-HSI")
    rng = np.random.default_rng(0) if rng is None else rng
    if n < 1:
        raise MossfuseInputError(f"n must be >= 1; got {n}")
    n_bands, h, w = cube.shape
    flat = cube.reshape(n_bands, h * w)
    if method == "pixels":
        idx = rng.choice(h * w, size=n, replace=n > h * w)
        spectra = flat[:, idx].T
        names = [f"pixel({i // w},{i % w})" for i in idx]
    elif method == "nmf":
        pix = rng.choice(h * w, size=min(max_pixels, h * w), replace=False)
        wmat, hmat = nmf_multiplicative(np.clip(flat[:, pix], 0, None), n, rng)
        scale = np.percentile(hmat, 95, axis=1)
        spectra = (wmat * np.maximum(scale, 1e-12)).T
        names = [f"nmf{j}" for j in range(n)]
    else:
        raise MossfuseInputError(f"method must be 'pixels' or 'nmf'; got {method!r}")
    return SpectralLibrary(
        np.clip(spectra, 0.0, 1.0), names, wavelengths_nm, f"spectra_from_cube[{method}]"
    )
