"""Named SRFs and loaders for measured sensor responses.

Sources handled:
- the Nikon D700 matrix of the NSSR code (Dong et al., "Hyperspectral image super-resolution via
  non-negative structured sparse representation", IEEE TIP 2016, ``create_P``), the SRF of the
  ``mossfuse-x32`` protocol. Its 93 published integers are constants of that protocol and are
  embedded below so that the protocol works without any download; a test checks them against
  ``../shared/data/srf/camera/nikon_d700_nssr_createP_3x31_rownormalized.csv``;
- CSV files ``wavelength[_nm], <band>, <band>, ...`` (one row per wavelength: camera and satellite
  curves) and the 28-camera table (``camera, channel, <wavelengths>...``);
- ``.npz`` with ``cameras``, ``wavelengths_nm``, ``srf`` (28, 3, n);
- ``.mat`` holding a ready ``(b, B)`` matrix (``R``), a ``(B, b)`` matrix (``srf``, DAEM: columns
  B, G, R) or curves with a wavelength column (``ikonos_sp``);
- colour-science's camera sensitivities (``colour.MSDS_CAMERA_SENSITIVITIES``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from mossfuse.errors import MossfuseInputError
from mossfuse.physics.spectral import SensitivityCurves, SpectralResponse, normalize_rows

CAVE_WAVELENGTHS_NM = np.arange(400.0, 701.0, 10.0)

# Dong et al. 2016 (NSSR), create_P: Nikon D700 on 400:10:700 nm, rows R, G, B (integers).
_NIKON_D700_NSSR_INT = np.array(
    [
        [2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 6, 11, 17, 21, 22, 21, 20, 20, 19, 19,
         18, 18, 17, 17],
        [1, 1, 1, 1, 1, 1, 2, 4, 6, 8, 11, 16, 19, 21, 20, 18, 16, 14, 11, 7, 5, 3, 2, 2, 1, 1, 2,
         2, 2, 2, 2],
        [7, 10, 15, 19, 25, 29, 30, 29, 27, 22, 16, 9, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1,
         1, 1, 1, 1],
    ],
    dtype=np.float64,
)


def nikon_d700_nssr() -> SpectralResponse:
    """The ``mossfuse-x32`` SRF: Nikon D700 (NSSR ``create_P``), 3 x 31, rows R, G, B, each row
    summing to 1, on 400, 410, ..., 700 nm."""
    return SpectralResponse(
        normalize_rows(_NIKON_D700_NSSR_INT), CAVE_WAVELENGTHS_NM, ["R", "G", "B"],
        "nikon_d700_nssr",
    )


def colour_camera(name: str) -> SensitivityCurves:
    """Camera sensitivities shipped by colour-science (e.g. ``"Nikon 5100 (NPL)"``)."""
    import colour

    lib = colour.MSDS_CAMERA_SENSITIVITIES
    if name not in lib:
        raise MossfuseInputError(
            f"colour-science has no camera '{name}'; available: {sorted(lib.keys())}"
        )
    msds = lib[name]
    return SensitivityCurves(
        np.asarray(msds.wavelengths, dtype=np.float64),
        np.asarray(msds.values, dtype=np.float64).T,
        list(msds.labels),
        f"colour:{name}",
    )


def _read_csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
    if len(rows) < 2:
        raise MossfuseInputError("SRF CSV has no data rows", path)
    return rows


def load_sensitivity_csv(path: str | Path, camera: str | None = None) -> SensitivityCurves:
    """Read a curve CSV: ``wavelength[_nm], band1, band2, ...`` (one row per wavelength), or the
    28-camera table ``camera, channel, w1, w2, ...`` (then ``camera`` picks a row triple)."""
    path = Path(path)
    rows = _read_csv_rows(path)
    head = [h.strip() for h in rows[0]]
    try:
        if head[0].lower() == "camera":
            wl = np.array([float(v) for v in head[2:]])
            cams = sorted({r[0] for r in rows[1:]})
            if camera is None or camera not in cams:
                raise MossfuseInputError(
                    f"pick a camera with camera=...; got {camera!r}, available: {cams}", path
                )
            sel = [r for r in rows[1:] if r[0] == camera]
            return SensitivityCurves(
                wl, np.array([[float(v) for v in r[2:]] for r in sel]),
                [r[1] for r in sel], f"{path.stem}:{camera}",
            )
        if not head[0].lower().startswith("wavelength"):
            raise MossfuseInputError(
                f"first column must be 'wavelength' or 'wavelength_nm'; got '{head[0]}'", path
            )
        data = np.array([[float(v) for v in r] for r in rows[1:]])
    except ValueError as exc:
        raise MossfuseInputError(f"non-numeric value in SRF CSV ({exc})", path) from exc
    return SensitivityCurves(data[:, 0], data[:, 1:].T, head[1:], path.stem)


def load_srf(
    source: str | Path,
    hsi_wavelengths_nm: np.ndarray | None = None,
    *,
    camera: str | None = None,
    normalize: bool = True,
    matrix_key: str | None = None,
) -> SpectralResponse:
    """Load an SRF by name or file and return the ``(b, B)`` matrix for an HSI grid.

    Args:
        source: ``"nikon_d700_nssr"``, ``"colour:<camera>"``, or a ``.csv``/``.txt``/``.npz``/
            ``.mat``/``.npy`` file. A file holding curves with wavelengths is resampled onto
            ``hsi_wavelengths_nm`` (required then); a file holding a bare matrix is used as is
            (its column count must equal the HSI band count).
        camera: row group of the multi-camera tables.
        normalize: rows sum to one (default).
        matrix_key: variable name inside a ``.mat`` file.
    """
    src = str(source)
    if src == "nikon_d700_nssr":
        srf = nikon_d700_nssr()
        if hsi_wavelengths_nm is not None and not np.allclose(
            np.asarray(hsi_wavelengths_nm, dtype=float), CAVE_WAVELENGTHS_NM
        ):
            raise MossfuseInputError(
                "nikon_d700_nssr is defined on 400:10:700 nm (31 bands) only; got a different "
                "HSI grid"
            )
        return srf
    if src.startswith("colour:"):
        curves = colour_camera(src.split(":", 1)[1])
        return _curves_to_srf(curves, hsi_wavelengths_nm, normalize, src)
    path = Path(src)
    if not path.exists():
        raise MossfuseInputError(
            "SRF file not found (expected a path, 'nikon_d700_nssr' or 'colour:<camera>')", path
        )
    suffix = path.suffix.lower()
    if suffix in {".csv", ".txt"} and path.name != "camspec_database.txt":
        return _curves_to_srf(
            load_sensitivity_csv(path, camera), hsi_wavelengths_nm, normalize, str(path)
        )
    if path.name == "camspec_database.txt":
        return _curves_to_srf(
            load_camspec_txt(path, camera), hsi_wavelengths_nm, normalize, str(path)
        )
    if suffix == ".npz":
        z = np.load(path, allow_pickle=False)
        cams = [str(c) for c in z["cameras"]]
        if camera not in cams:
            raise MossfuseInputError(f"pick camera=...; got {camera!r}, available: {cams}", path)
        names = [str(c) for c in z["channel_order"]] if "channel_order" in z else ["R", "G", "B"]
        curves = SensitivityCurves(
            z["wavelengths_nm"], z["srf"][cams.index(camera)], names, f"{path.stem}:{camera}"
        )
        return _curves_to_srf(curves, hsi_wavelengths_nm, normalize, str(path))
    if suffix == ".npy":
        return _matrix_srf(np.load(path), hsi_wavelengths_nm, normalize, path)
    if suffix == ".mat":
        return _load_mat_srf(path, hsi_wavelengths_nm, normalize, matrix_key)
    raise MossfuseInputError(
        f"unknown SRF format '{suffix}'; expected .csv, .npz, .mat, .npy", path
    )


def _curves_to_srf(curves, hsi_wavelengths_nm, normalize, label) -> SpectralResponse:
    if hsi_wavelengths_nm is None:
        raise MossfuseInputError(
            f"SRF '{label}' holds curves on a wavelength grid: give the HSI band centres "
            "(hsi_wavelengths_nm / --hsi-wavelengths) to resample it"
        )
    return curves.to_srf(hsi_wavelengths_nm, normalize=normalize)


def _matrix_srf(mat, hsi_wavelengths_nm, normalize, path, names=None) -> SpectralResponse:
    m = np.asarray(mat, dtype=np.float64)
    if m.ndim != 2:
        raise MossfuseInputError(f"SRF matrix must be 2-D; got shape {m.shape}", path)
    if m.shape[0] > m.shape[1]:  # stored (B, b): columns are MSI bands
        m = m.T
    srf = SpectralResponse(m, hsi_wavelengths_nm, names or [], Path(path).stem)
    return srf.normalized() if normalize else srf


def _load_mat_srf(path, hsi_wavelengths_nm, normalize, key) -> SpectralResponse:
    from mossfuse.data.io import load_mat_variables

    variables = load_mat_variables(path)
    arrays = {k: v for k, v in variables.items() if np.ndim(v) == 2}
    if key is None:
        if len(arrays) != 1:
            raise MossfuseInputError(
                f"give matrix_key; 2-D variables found: {sorted(arrays)}", path
            )
        key = next(iter(arrays))
    if key not in arrays:
        raise MossfuseInputError(f"no 2-D variable '{key}'; found {sorted(arrays)}", path)
    m = np.asarray(arrays[key], dtype=np.float64)
    if key == "ikonos_sp":  # column 0 = wavelength (nm), then pan, blue, green, red, nir
        curves = SensitivityCurves(
            m[:, 0], m[:, 1:].T, ["pan", "blue", "green", "red", "nir"][: m.shape[1] - 1],
            "ikonos_HySure",
        )
        return _curves_to_srf(curves, hsi_wavelengths_nm, normalize, str(path))
    names = ["B", "G", "R"] if key == "srf" and m.shape == (31, 3) else None
    return _matrix_srf(m, hsi_wavelengths_nm, normalize, path, names)


def load_camspec_txt(path: str | Path, camera: str | None) -> SensitivityCurves:
    """Read Jiang et al.'s ``camspec_database.txt`` (camera name line, then R, G, B lines of 33
    values on 400:10:720 nm)."""
    path = Path(path)
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    wl = np.arange(400.0, 721.0, 10.0)
    cams: dict[str, np.ndarray] = {}
    i = 0
    while i < len(lines):
        parts = lines[i].split()
        try:
            [float(p) for p in parts]
            numeric = True
        except ValueError:
            numeric = False
        if not numeric and i + 3 < len(lines):
            try:
                rows = [[float(v) for v in lines[i + j].split()] for j in (1, 2, 3)]
            except ValueError:
                i += 1
                continue
            if all(len(r) == wl.size for r in rows):
                cams[lines[i]] = np.array(rows)
                i += 4
                continue
        i += 1
    if camera not in cams:
        raise MossfuseInputError(
            f"pick camera=...; got {camera!r}, available: {sorted(cams)}", path
        )
    return SensitivityCurves(wl, cams[camera], ["R", "G", "B"], f"camspec:{camera}")
