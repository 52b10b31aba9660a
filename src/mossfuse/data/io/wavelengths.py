"""Band centres: command-line specs (:func:`parse_wavelengths`) and the wavelength fields of
every format (``.mat``/``.npz`` variables, ENVI headers, GeoTIFF tags), parsed in one place.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse.errors import MossfuseInputError

#: Variable names that hold a wavelength vector (nm) beside a cube in .mat/.npz files.
WAVELENGTH_KEYS = ("wavelengths_nm", "wavelengths", "wavelength")
#: Unit names read as micrometres (converted to nm).
MICROMETRE_UNITS = ("micrometers", "micrometer", "um", "µm", "microns")


def parse_wavelengths(spec: str | Path, bands: int | None = None) -> np.ndarray:
    """Band centres (nm) from a command-line spec.

    ``spec`` is one of: ``"START:STOP:COUNT"`` (``COUNT`` evenly spaced centres from ``START`` to
    ``STOP`` inclusive, e.g. ``380:1050:48``); a comma-separated list (``"450,550,650"``); or a
    text/CSV file with one centre per line (the first number of each line: extra columns such as
    a FWHM are ignored, and so are header lines without a number). Values below 100 are taken as
    micrometres and converted to nm.

    Raises:
        MossfuseInputError: unparseable spec, no number, non-increasing centres, or (with
            ``bands``) a count that differs from the cube's band count.

    >>> parse_wavelengths("400:700:4").tolist()
    [400.0, 500.0, 600.0, 700.0]
    >>> parse_wavelengths("0.45,0.55").tolist()
    [450.0, 550.0]
    """
    text = str(spec).strip()
    where_ = Path(text) if Path(text).is_file() else None
    try:
        if where_ is not None:
            vals = []
            for line in where_.read_text(encoding="utf-8", errors="replace").splitlines():
                tok = line.replace(",", " ").replace(";", " ").replace("\t", " ").split()
                if tok:
                    with contextlib.suppress(ValueError):
                        vals.append(float(tok[0]))
            wl = np.asarray(vals, dtype=np.float64)
        elif text.count(":") == 2:
            a, b, n = text.split(":")
            count = int(n)
            if count < 1:
                raise ValueError("COUNT must be >= 1")
            wl = np.linspace(float(a), float(b), count)
        else:
            wl = np.asarray([float(v) for v in text.split(",") if v.strip()], dtype=np.float64)
    except ValueError as exc:
        raise MossfuseInputError(
            f"cannot read wavelengths from {text!r} ({exc}); expected START:STOP:COUNT (e.g. "
            "380:1050:48), a comma-separated list in nm, or a text/CSV file with one per line"
        ) from exc
    if wl.size == 0:
        raise MossfuseInputError("no wavelength found (expected one number per line)", where_)
    if not np.all(np.isfinite(wl)) or (wl.size > 1 and not np.all(np.diff(wl) > 0)):
        raise MossfuseInputError(
            f"wavelengths must be finite and increasing; got {wl[:6].tolist()}...", where_
        )
    if wl.max() < 100.0:  # micrometres
        wl = wl * 1000.0
    if bands is not None and wl.size != bands:
        raise MossfuseInputError(
            f"got {wl.size} wavelengths for a cube of {bands} bands", where_
        )
    return wl


def check_wavelengths(wl: Any, bands: int, path: Path | None) -> np.ndarray:
    arr = np.asarray(wl, dtype=np.float64).ravel()
    if arr.size != bands:
        raise MossfuseInputError(
            f"got {arr.size} wavelengths for a cube of {bands} bands", path
        )
    return arr


def from_arrays(arrays: Mapping[str, np.ndarray], bands: int) -> np.ndarray | None:
    for k in WAVELENGTH_KEYS:
        if k in arrays:
            wl = np.asarray(arrays[k], dtype=np.float64).ravel()
            if wl.size == bands:
                return wl
    return None


def from_envi_header(md: Mapping[str, Any], bands: int) -> np.ndarray | None:
    """Band centres (nm) of an ENVI header's ``wavelength`` (and ``wavelength units``); None
    when absent or of another length than ``bands``."""
    if "wavelength" not in md:
        return None
    wl = np.asarray([float(w) for w in md["wavelength"]], dtype=np.float64)
    units = str(md.get("wavelength units", "nm")).strip().lower()
    if units in MICROMETRE_UNITS:
        wl = wl * 1000.0
    return wl if wl.size == bands else None


def from_geotiff_tags(tags: Mapping[str, str], band_tags: Sequence[Mapping[str, str]],
                      bands: int) -> np.ndarray | None:
    """Band centres (nm) of GeoTIFF tags: the dataset's ``wavelengths_nm`` (comma list), else
    every band's ``wavelength`` (and ``wavelength_units``); None when absent, unparseable or
    of another length than ``bands``."""
    wl = None
    try:
        if "wavelengths_nm" in tags:
            wl = np.asarray([float(w) for w in tags["wavelengths_nm"].split(",")])
        elif band_tags and all("wavelength" in t for t in band_tags):
            wl = np.asarray([float(t["wavelength"]) for t in band_tags])
            units = band_tags[0].get("wavelength_units", "nm").strip().lower()
            if units in MICROMETRE_UNITS:
                wl = wl * 1000.0
    except ValueError:
        return None
    return wl if wl is not None and wl.size == bands else None


def geotiff_tags(wl: np.ndarray) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The tags :func:`from_geotiff_tags` reads back: ``(dataset tags, per-band tags)``."""
    wl = np.asarray(wl, dtype=np.float64).ravel()
    return ({"wavelengths_nm": ",".join(f"{v:.10g}" for v in wl)},
            [{"wavelength": f"{v:.10g}", "wavelength_units": "nm"} for v in wl])
