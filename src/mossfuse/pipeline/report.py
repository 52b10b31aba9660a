"""Fuse a user's own real LR-HSI / HR-MSI pair and write an offline HTML quality report.

:func:`fuse_with_report` is the library side of ``mossfuse fuse --report DIR --register``. A
real pair has no ground truth and usually no known degradation, so the function

1. reads both files (:func:`mossfuse.data.io.read_cube`: wavelengths, CRS, no-data masks);
2. estimates what is not given (SRF, PSF) with
   :func:`mossfuse.physics.estimation.resolve_degradation` on the largest no-data-free,
   LR-cell-aligned rectangle of the pair, and warns when the estimate is implausible;
3. measures the co-registration (:mod:`mossfuse.pipeline.coregistration`) and, with
   ``register=True``, moves the LR-HSI onto the HR-MSI and estimates the degradation again;
4. fuses with the chosen method, the estimated degradation passed in ``FusionInputs``, and
   writes the result (georeferencing via :func:`mossfuse.engine.streaming.hr_output_meta`) and
   the estimated SRF/PSF (CSV + PNG) beside it;
5. scores the result without reference (D_lambda, D_s, QNR; Alparone et al. 2008) and by a
   reduced-resolution check (Wald's protocol on the user's own pair: the LR-HSI degraded by r
   and the HR-MSI degraded to LR are fused and compared with the LR-HSI);
6. writes ``report_dir/index.html`` with PNG figures (no script, no network).

Convention
----------
- Inputs are checked first by :mod:`mossfuse.pipeline.checks` (size policy: no padding or
  cropping; georeferenced extents, CRS and pixel-size ratio; a known SRF against the band
  metadata).
- No-data: pixels that are NaN in a file or marked in ``meta["nodata_mask"]`` (a file's no-data
  value, or ``hsi_nodata``/``msi_nodata``: pixels whose bands all equal it) are excluded
  from the estimation (by the rectangle), from the co-registration (filled with band means),
  from QNR (its ``nodata_mask``) and from the reduced-resolution check (the same rectangle).
  For the fusion itself, MSI holes are filled with the LR-HSI projected by the estimated SRF
  (upsampled by pixel replication) and LR-HSI holes with band means: the fused values there
  carry no MSI detail; the mask is reported.
- Co-registration: the blind PSF search may move the kernel's peak by whole HR pixels (a
  sampling-phase error), which absorbs part of a translation. The reported total shift is the
  residual measured by phase correlation plus the PSF's centre of mass off its centre tap
  (divided by r); ``register=True`` moves the LR-HSI by that total and estimates the PSF
  again, centred (``max_offset=0``).
- Every file is written through :func:`mossfuse._atomic.atomic_path`; the output and the
  SRF/PSF files beside it take their names together
  (:func:`~mossfuse.engine.sidecars.staged_degradation_files`).
- SRF plausibility (when the HSI wavelengths and the MSI band names are known): the share of
  a band's SRF mass inside the band's nominal range (:data:`BAND_RANGES_NM`) must be at least
  ``0.5``. PSF plausibility: the equivalent Gaussian sigma must not exceed the ratio.
"""

from __future__ import annotations

import datetime
import html
import json
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path
from mossfuse.engine.sidecars import staged_degradation_files
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.degradation import BAND_RANGES_NM, Degradation
from mossfuse.physics.degradation import degradation_warnings as _degradation_warnings
from mossfuse.physics.degradation import srf_warnings as _srf_warnings
from mossfuse.physics.spectral import spectral_degrade
from mossfuse.pipeline.checks import (
    check_srf_metadata,
    load_srf_named,
    output_meta,
)
from mossfuse.pipeline.coregistration import ShiftEstimate, estimate_shift, register_pair
from mossfuse.provenance import jsonable, library_versions

__all__ = ["BAND_RANGES_NM", "fuse_with_report", "largest_valid_rectangle", "qnr_block_geometry"]

_SHIFT_WARN_LR = 0.2


# --------------------------------------------------------------------------------------------
# Geometry helpers
# --------------------------------------------------------------------------------------------
def largest_valid_rectangle(valid: np.ndarray) -> tuple[int, int, int, int]:
    """``(row0, row1, col0, col1)`` of the largest all-True axis-aligned rectangle of a 2-D
    bool array (histogram-stack algorithm, ``O(h w)``); ``(0, 0, 0, 0)`` when none.

    >>> v = np.ones((4, 5), bool); v[0, :] = False; v[:, 4] = False
    >>> largest_valid_rectangle(v)
    (1, 4, 0, 4)
    """
    v = np.asarray(valid, dtype=bool)
    h, w = v.shape
    heights = np.zeros(w, dtype=int)
    best, best_rect = 0, (0, 0, 0, 0)
    for i in range(h):
        heights = np.where(v[i], heights + 1, 0)
        stack: list[int] = []
        for j in range(w + 1):
            cur = heights[j] if j < w else 0
            while stack and heights[stack[-1]] >= cur:
                top = stack.pop()
                left = stack[-1] + 1 if stack else 0
                area = int(heights[top]) * (j - left)
                if area > best:
                    best = area
                    best_rect = (i - int(heights[top]) + 1, i + 1, left, j)
            stack.append(j)
    return best_rect


def qnr_block_geometry(h: int, w: int, ratio: int, target: int = 32) -> tuple[int, int, int]:
    """``(block_lr, h_crop, w_crop)`` for QNR on an LR grid ``h x w`` at ``ratio``.

    :func:`mossfuse.metrics.no_reference.qnr` needs disjoint blocks tiling both grids: an HR
    block of ``ratio * block_lr`` px and an LR block of ``block_lr >= 2`` px. The block nearest
    ``target / ratio`` that divides ``h`` and ``w`` is taken; when none does, ``max(2, target //
    ratio)`` and the LR grid cropped (top-left) to multiples of it.

    >>> qnr_block_geometry(128, 128, 4), qnr_block_geometry(24, 24, 3)
    ((8, 128, 128), (12, 24, 24))
    """
    ideal = target / ratio
    cands = [k for k in range(2, min(h, w) + 1) if h % k == 0 and w % k == 0]
    cands = [k for k in cands if min(h, w) // k >= 2] or cands
    if cands:
        k = min(cands, key=lambda c: (abs(c - ideal), -c))
        return k, h, w
    k = max(2, int(target // ratio))
    k = min(k, max(2, min(h, w) // 2))
    return k, (h // k) * k, (w // k) * k


def _psf_centroid(deg: Degradation) -> tuple[float, float]:
    """``(dy, dx)`` in HR px of the PSF's centre of mass from its centre tap."""
    from mossfuse.physics.psf import kernel_moments

    mx, my = kernel_moments(deg.psf, (deg.centre, deg.centre))["mean_offset"]
    return float(my), float(mx)


def _with_psf_offset(shift: ShiftEstimate, deg: Degradation, r: int) -> ShiftEstimate:
    """The total translation: the measured residual plus the shift the estimated PSF absorbed
    (its centre of mass ``d`` HR px off the centre tap, from the peak-offset search, is a
    displacement of ``d / r`` LR px)."""
    import dataclasses

    off = _psf_centroid(deg)
    total = (shift.shift_lr[0] + off[0] / r, shift.shift_lr[1] + off[1] / r)
    return dataclasses.replace(shift, shift_lr=total, shift_hr=(total[0] * r, total[1] * r))


def _mask_of(scene: Any) -> np.ndarray:
    m = ~np.isfinite(scene.cube).all(axis=0)
    extra = scene.meta.get("nodata_mask")
    if extra is not None and np.shape(extra) == m.shape:
        m |= np.asarray(extra, dtype=bool)
    return m


def _fill_means(cube: np.ndarray, bad: np.ndarray) -> np.ndarray:
    x = np.asarray(cube, dtype=np.float32).copy()
    if bad.any():
        if bad.all():
            raise MossfuseInputError("every pixel of the LR-HSI is no-data")
        for c in range(x.shape[0]):
            x[c][bad] = float(np.mean(x[c][~bad]))
    return np.clip(x, 0.0, 1.0)


def _upsample(cube: np.ndarray, r: int) -> np.ndarray:
    return np.repeat(np.repeat(cube, r, axis=-2), r, axis=-1)


def _lr_invalid(lr_bad: np.ndarray, hr_bad: np.ndarray, r: int) -> np.ndarray:
    """LR cells to avoid: LR no-data, or any MSI no-data within one cell around the cell
    (a margin for any PSF that fits the cell's neighbourhood)."""
    import scipy.ndimage

    h, w = lr_bad.shape
    cell = hr_bad.reshape(h, r, w, r).any(axis=(1, 3))
    return lr_bad | scipy.ndimage.binary_dilation(cell, np.ones((3, 3), bool))


# --------------------------------------------------------------------------------------------
# Plausibility
# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# Writing helpers
# --------------------------------------------------------------------------------------------
def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Quality checks
# --------------------------------------------------------------------------------------------
def _no_reference(fused: np.ndarray, lr: np.ndarray, hr: np.ndarray, deg: Degradation, r: int,
                  hr_bad: np.ndarray, lr_bad: np.ndarray) -> dict[str, Any]:
    from mossfuse.metrics.no_reference import qnr

    h, w = lr.shape[1:]
    k, hc, wc = qnr_block_geometry(h, w, r)
    if hc < 2 * k or wc < 2 * k:
        return {"skipped": f"LR-HSI {h} x {w} too small for QNR blocks of {k} LR px"}
    from mossfuse.metrics.no_reference import degrade_msi

    hr_mask = hr_bad | _upsample(lr_bad, r)
    lr_mask = lr_bad.copy()
    if hr_bad.any():  # LR pixels that take PSF weight from an MSI hole
        lr_mask |= degrade_msi(hr_bad[None].astype(np.float64), ratio=r, kernel=deg.psf,
                               phase=deg.phase, centre=deg.centre)[0] > 1e-3
    rep = qnr(
        fused[:, : hc * r, : wc * r], lr[:, :hc, :wc], hr[:, : hc * r, : wc * r], ratio=r,
        kernel=deg.psf, phase=deg.phase, centre=deg.centre, block_size=k * r,
        block_size_lr=k, nodata_mask=hr_mask[: hc * r, : wc * r] if hr_mask.any() else None,
        mask_lr=lr_mask[:hc, :wc] if hr_mask.any() else None,
        max_bands=64 if lr.shape[0] > 64 else None,
    )
    out: dict[str, Any] = dict(rep.values)
    out["details"] = {"block_size_hr": k * r, "block_size_lr": k, "lr_crop": [hc, wc],
                      **{kk: rep.details[kk] for kk in ("excluded_hr_pixels",
                                                        "excluded_lr_pixels")}}
    if rep.details.get("bands_used") and len(rep.details["bands_used"]) < lr.shape[0]:
        out["details"]["bands_used"] = len(rep.details["bands_used"])
    return out


def _reduced_resolution(method: Any, lr: np.ndarray, hr: np.ndarray, deg: Degradation, r: int,
                        rect: tuple[int, int, int, int], wavelengths: np.ndarray | None,
                        band_names: tuple[str, ...]) -> dict[str, Any]:
    """Wald's protocol on the user's pair: fuse (S(LR-HSI), S(HR-MSI)) and compare with the
    LR-HSI on the no-data-free rectangle ``rect`` (LR px) cropped to multiples of r."""
    from mossfuse.data.scene import FusionInputs
    from mossfuse.metrics import evaluate
    from mossfuse.physics.spatial import spatial_degrade

    r0, r1, c0, c1 = rect
    hh, ww = ((r1 - r0) // r) * r, ((c1 - c0) // r) * r
    if hh < 2 * r or ww < 2 * r:
        return {"skipped": f"the no-data-free LR area is {r1 - r0} x {c1 - c0} px; the reduced-"
                           f"resolution check needs at least {2 * r} x {2 * r} after cropping "
                           f"to multiples of r={r}"}
    ref = lr[:, r0 : r0 + hh, c0 : c0 + ww].astype(np.float64)
    hr_crop = hr[:, r0 * r : (r0 + hh) * r, c0 * r : (c0 + ww) * r].astype(np.float64)
    kw = dict(centre=deg.centre)
    try:
        lr_msi = np.asarray(spatial_degrade(hr_crop, deg.psf.astype(np.float64), r, deg.phase,
                                            **kw))
        lr_lr = np.asarray(spatial_degrade(ref, deg.psf.astype(np.float64), r, deg.phase, **kw))
    except MossfuseInputError as exc:
        return {"skipped": f"the PSF does not fit the reduced grid: {exc}"}
    inputs = FusionInputs(
        np.clip(lr_lr, 0, 1).astype(np.float32), np.clip(lr_msi, 0, 1).astype(np.float32), r,
        wavelengths, band_names, degradation=deg,
    )
    pred = method.fuse(inputs).hr_hsi
    metrics = None if min(hh, ww) >= 11 else ["psnr", "sam", "ergas", "rmse", "cc"]
    rep = evaluate(pred, ref.astype(np.float32), profile="standard", ratio=r, metrics=metrics)
    out: dict[str, Any] = dict(rep.values)
    out["details"] = {"lr_window": [int(r0), int(r0 + hh), int(c0), int(c0 + ww)],
                      "reduced_lr_size": list(lr_lr.shape[1:]), "profile": "standard"}
    if metrics is not None:
        out["details"]["note"] = "SSIM/UIQI/Q2n left out: window smaller than 11 px"
    return out


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _figures(report_dir: Path, lr: np.ndarray, hr: np.ndarray, fused: np.ndarray, deg: Degradation,
             r: int, wavelengths: np.ndarray | None, band_names: Sequence[str],
             hr_bad: np.ndarray, dpi: int) -> dict[str, str]:
    from mossfuse.viz import (
        hsi_rgb_gain,
        hsi_to_rgb,
        msi_to_rgb,
        save_comparison_figure,
        save_srf_psf_figure,
    )

    files: dict[str, str] = {}
    up = _upsample(lr, r)
    gain = hsi_rgb_gain(up, wavelengths)
    msi_rgb = msi_to_rgb(np.where(hr_bad[None], 0.0, hr), band_names)
    panels = {
        f"LR-HSI x{r} (nearest)": hsi_to_rgb(up, wavelengths, gain=gain),
        "HR-MSI": msi_rgb,
        "fused": hsi_to_rgb(fused, wavelengths, gain=gain),
    }
    save_comparison_figure(report_dir / "composites.png", panels,
                           title="composites (HSI: CIE D65 rendering, or false colour "
                                 "without wavelengths)", dpi=dpi)
    files["composites"] = "composites.png"
    save_srf_psf_figure(report_dir / "srf.png", None, deg.srf, None, None, wavelengths,
                        band_names, title="estimated SRF", dpi=dpi)
    files["srf"] = "srf.png"
    save_srf_psf_figure(report_dir / "psf.png", None, None, None, deg.psf, None,
                        title=f"PSF (sigma {deg.sigma:.2f} px)", dpi=dpi)
    files["psf"] = "psf.png"
    _spectra_figure(report_dir / "spectra.png", lr, fused, r, wavelengths, dpi)
    files["spectra"] = "spectra.png"
    return files


def _spectra_figure(path: Path, lr: np.ndarray, fused: np.ndarray, r: int,
                    wavelengths: np.ndarray | None, dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h, w = lr.shape[1:]
    pix = [(h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    wl = np.arange(lr.shape[0]) if wavelengths is None else np.asarray(wavelengths)
    fig = Figure(figsize=(12, 2.8), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(pix), squeeze=False)[0]
    for ax, (y, x) in zip(axes, pix, strict=True):
        ax.plot(wl, lr[:, y, x], color="black", lw=2, label="LR-HSI pixel")
        cell = fused[:, y * r : (y + 1) * r, x * r : (x + 1) * r].reshape(lr.shape[0], -1)
        ax.plot(wl, cell.mean(1), lw=1.2, ls="--", label="fused, cell mean")
        ax.plot(wl, cell[:, 0], lw=0.8, label="fused, one HR px")
        ax.set_title(f"LR pixel (y={y}, x={x})", fontsize=9)
        ax.set_xlabel("wavelength (nm)" if wavelengths is not None else "band", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return path


def _table(rows: Sequence[tuple[str, Any]], table_id: str = "") -> str:
    ident = f' id="{table_id}"' if table_id else ""
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table{ident}>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return str(v)


def _details(nr: Mapping[str, Any]) -> str:
    d = nr.get("details")
    if not d:
        return "not computed"
    return (f"blocks {d['block_size_hr']} HR px / {d['block_size_lr']} LR px on the LR crop "
            f"{d['lr_crop'][0]} x {d['lr_crop'][1]}; excluded no-data pixels: "
            f"{d['excluded_hr_pixels']} HR, {d['excluded_lr_pixels']} LR")


def _hwb(shape: Sequence[int]) -> str:
    """A library ``(bands, H, W)`` shape as the CLI shows shapes: ``H x W x bands``."""
    b, h, w = (int(n) for n in shape)
    return f"({h}, {w}, {b}) (H x W x bands)"


def _html(summary: dict[str, Any], files: Mapping[str, str]) -> str:
    esc = html.escape
    # warnings in the warning colour; "none" in the body colour
    warn_list = (f'<ul class="warn">{"".join(f"<li>{esc(w)}</li>" for w in summary["warnings"])}'
                 "</ul>" if summary["warnings"] else "<ul><li>none</li></ul>")
    note_items = "".join(f"<li>{esc(n)}</li>" for n in summary["notes"]) or "<li>none</li>"
    metric_rows: list[tuple[str, Any]] = []
    nr = summary["no_reference"]
    if "skipped" in nr:
        metric_rows.append(("QNR", f"skipped: {nr['skipped']}"))
    else:
        metric_rows += [("D_lambda (0 best)", nr["d_lambda"]), ("D_s (0 best)", nr["d_s"]),
                        ("QNR (1 best)", nr["qnr"])]
    rr = summary["reduced_resolution"]
    if "skipped" in rr:
        metric_rows.append(("reduced-resolution check", f"skipped: {rr['skipped']}"))
    else:
        metric_rows += [(f"reduced resolution: {k}", v) for k, v in rr.items()
                        if k != "details"]
    deg = summary["degradation"]
    co = summary["coregistration"]
    if "skipped" in co:
        co_rows: list[tuple[str, Any]] = [("co-registration", f"skipped: {co['skipped']}")]
    else:
        co_rows = [("total shift (LR px, dy dx; correction)", co["total_shift_lr_px"]),
                   ("of which in the PSF's centroid (LR px)", co["psf_offset_lr_px"]),
                   ("residual seen by phase correlation (LR px)", co["shift_lr_px"]),
                   ("band spread (LR px)", co["spread_lr_px"]),
                   ("registered", summary["registered"])]
    if "residual_shift_lr_px" in co:
        co_rows.append(("residual after registration (LR px)", co["residual_shift_lr_px"]))
    imgs = "".join(
        f'<figure><img src="{esc(f)}" alt="{esc(k)}"><figcaption>{esc(k)}</figcaption></figure>'
        for k, f in files.items()
    )
    versions = _table(list(summary["versions"].items()))
    inputs = _table([
        ("LR-HSI", f"{summary['inputs']['lr_path']} {_hwb(summary['inputs']['lr_shape'])}"),
        ("HR-MSI", f"{summary['inputs']['hr_path']} {_hwb(summary['inputs']['hr_shape'])}"),
        ("ratio", summary["ratio"]), ("method", summary["method"]),
        ("HSI wavelengths known", summary["inputs"]["wavelengths_known"]),
        ("no-data pixels (LR, HR)", (summary["inputs"]["lr_nodata"],
                                     summary["inputs"]["hr_nodata"])),
        ("output", summary["output"]),
    ])
    deg_rows = _table([
        ("SRF", "estimated" if deg["estimated"]["srf"] else "given"),
        ("PSF", "estimated" if deg["estimated"]["psf"] else "given"),
        ("PSF sigma (px)", deg["sigma"]), ("PSF size", deg["psf_size"]),
        ("phase / centre", (deg["phase"], deg["centre"])),
        ("fit residual", deg.get("residual", "n/a")),
        ("estimation window (LR rows, cols)", deg.get("window", "n/a")),
    ])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mossfuse report: {esc(summary['inputs']['lr_name'])}</title>
<style>
body{{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:.5em 0}}th,td{{border:1px solid #bbb;padding:2px 8px;
text-align:left;font-size:13px}}img{{max-width:100%}}.warn li{{color:#a40}}
code{{background:#f4f4f4;padding:2px 4px}}
</style></head><body>
<h1>Fusion report</h1>
<p>Generated {esc(summary['created'])} by mossfuse in {summary['seconds']:.1f} s.</p>
<h2>Inputs</h2>{inputs}
<h2>Warnings</h2>{warn_list}
<h2>Notes</h2><ul>{note_items}</ul>
<h2>Quality (no reference)</h2>{_table(metric_rows, "metrics")}
<p>D_lambda, D_s, QNR: Alparone et al. 2008 (HSI-MSI form; {esc(_details(nr))}).
Reduced resolution: Wald's protocol on this pair (the LR-HSI degraded by r with the estimated
PSF is fused with the MSI degraded to LR, then compared with the LR-HSI; profile
<code>standard</code>).</p>
<h2>Degradation</h2>{deg_rows}
<h2>Co-registration</h2>{_table(co_rows, "coregistration")}
<h2>Figures</h2>{imgs}
<h2>Call</h2><p><code>{esc(summary['call'])}</code></p>
<p>command line: <code>{esc(summary['argv'])}</code></p>
<h2>Versions</h2>{versions}
</body></html>
"""


# --------------------------------------------------------------------------------------------
# Main entry point
# --------------------------------------------------------------------------------------------
def fuse_with_report(
    lr_path: str | Path,
    hr_path: str | Path,
    out_path: str | Path,
    *,
    method: Any = "cnmf",
    report_dir: str | Path | None = None,
    register: bool = False,
    hsi_key: str | None = None,
    msi_key: str | None = None,
    ratio: int | None = None,
    srf: str | Path | np.ndarray | None = None,
    psf: np.ndarray | None = None,
    method_config: Mapping[str, Any] | None = None,
    estimation: Mapping[str, Any] | None = None,
    wald_check: bool = True,
    dpi: int = 80,
    hsi_scale: float | None = None,
    msi_scale: float | None = None,
    hsi_wavelengths: Sequence[float] | np.ndarray | None = None,
    hsi_nodata: float | None = None,
    msi_nodata: float | None = None,
) -> dict[str, Any]:
    """Fuse a real LR-HSI / HR-MSI pair with blind degradation estimation and quality report.

    Args:
        lr_path, hr_path: the LR-HSI and HR-MSI files (any :func:`read_cube` format).
        out_path: fused cube file (format from its extension); beside it
            ``<stem>.srf.csv``/``.srf.png`` and ``<stem>.psf.csv``/``.psf.png``.
        method: a registered method name.
        report_dir: folder for ``index.html``, its PNGs and ``summary.json`` (None: none).
        register: correct the measured translation of the LR-HSI before fusing.
        hsi_key, msi_key: variables in ``.mat``/``.npz`` inputs.
        ratio: r (default: from the sizes).
        srf: known SRF: a file or library name (:func:`mossfuse.physics.load_srf`) or a
            ``(b, B)`` array; None = estimated.
        psf: known ``(k, k)`` kernel (centre tap ``k // 2``-style default centre); None =
            estimated.
        method_config: the method's config (dict).
        estimation: keyword arguments of
            :func:`mossfuse.physics.estimation.estimate_degradation`.
        wald_check: run the reduced-resolution check (costs a second, smaller fusion).
        dpi: resolution of the PNGs.
        hsi_scale, msi_scale: divisors of the stored values (``read_cube(scale=)``).
        hsi_wavelengths: HSI band centres (nm), overriding the file's.
        hsi_nodata, msi_nodata: stored value marking no-data pixels (all bands equal to it;
            ``read_cube(nodata=)``), e.g. ``msi_nodata=0`` for a black no-data patch.

    Returns:
        A JSON-friendly summary: ``output``, ``ratio``, ``degradation`` (SRF, PSF, sigma, ...),
        ``coregistration``, ``no_reference`` (``d_lambda``, ``d_s``, ``qnr``),
        ``reduced_resolution`` (standard-profile metrics, or ``skipped``), ``warnings``,
        ``notes``, ``files`` and ``report`` (the HTML path or None).

    Raises:
        MossfuseInputError: unreadable input, sizes not related by one ratio, georeferenced
            extents that do not match (:func:`~mossfuse.pipeline.checks.check_pair_geometry`),
            an SRF that contradicts the band metadata, or no usable area.
    """
    from mossfuse.pipeline.pair import read_pair

    pair = read_pair(lr_path, hr_path, ratio=ratio, hsi_key=hsi_key, msi_key=msi_key,
                     hsi_scale=hsi_scale, msi_scale=msi_scale, hsi_wavelengths=hsi_wavelengths,
                     hsi_nodata=hsi_nodata, msi_nodata=msi_nodata)
    return fuse_pair_with_report(pair, out_path, method=method, report_dir=report_dir,
                                 register=register, srf=srf, psf=psf,
                                 method_config=method_config, estimation=estimation,
                                 wald_check=wald_check, dpi=dpi)


def fuse_pair_with_report(
    pair: Any,
    out_path: str | Path,
    *,
    method: Any = "cnmf",
    report_dir: str | Path | None = None,
    register: bool = False,
    srf: str | Path | np.ndarray | None = None,
    psf: np.ndarray | None = None,
    method_config: Mapping[str, Any] | None = None,
    estimation: Mapping[str, Any] | None = None,
    wald_check: bool = True,
    dpi: int = 80,
) -> dict[str, Any]:
    """:func:`fuse_with_report` on a pair already read and checked
    (:func:`mossfuse.pipeline.pair.read_pair`); ``method`` is a name or an instance."""
    import torch

    from mossfuse.data.io import write_cube
    from mossfuse.data.scene import FusionInputs
    from mossfuse.methods import FusionMethod, get_method
    from mossfuse.physics.estimation import resolve_degradation

    t0 = time.perf_counter()
    lr_path, hr_path, out_path = pair.lr_path, pair.hr_path, Path(out_path)
    method_name = method.name if isinstance(method, FusionMethod) else str(method)
    call = (f"fuse_with_report({str(lr_path)!r}, {str(hr_path)!r}, {str(out_path)!r}, "
            f"method={method_name!r}, report_dir="
            f"{None if report_dir is None else str(report_dir)!r}, register={register}, "
            f"ratio={pair.ratio}, srf={'<array>' if isinstance(srf, np.ndarray) else srf!r}, "
            f"psf={'<array>' if psf is not None else None})")
    lr_scene, hr_scene, r = pair.lr, pair.hr, pair.ratio
    wl = lr_scene.wavelengths_nm
    band_names = tuple(pair.msi_band_names)
    warnings_: list[str] = []
    notes: list[str] = []
    lr_bad, hr_bad = _mask_of(lr_scene), _mask_of(hr_scene)
    lr = _fill_means(lr_scene.cube, lr_bad)
    hr_raw = np.where(hr_bad[None], 0.0, np.nan_to_num(hr_scene.cube)).astype(np.float32)
    srf_matrix = None
    if isinstance(srf, np.ndarray):
        srf_matrix = np.asarray(srf, dtype=np.float32)
        check_srf_metadata(srf_matrix, "srf", hr_scene.bands, lr_scene.bands,
                           hr_path=hr_path, hsi_wavelengths=wl)
    elif srf is not None:
        loaded = load_srf_named(srf, wl)
        srf_matrix = loaded.matrix
        check_srf_metadata(srf_matrix, srf, hr_scene.bands, lr_scene.bands, loaded.band_names,
                           band_names, hr_path, wl)
    method_obj = (method if isinstance(method, FusionMethod)
                  else get_method(method, dict(method_config) if method_config else None))
    est_kw = dict(estimation or {})

    def estimate(lr_arr: np.ndarray, **extra: Any
                 ) -> tuple[Degradation, tuple[int, int, int, int]]:
        invalid = _lr_invalid(lr_bad, hr_bad, r)
        rect = (0, lr.shape[1], 0, lr.shape[2])
        if invalid.any():
            rect = largest_valid_rectangle(~invalid)
        r0, r1, c0, c1 = rect
        if (r1 - r0) < 4 or (c1 - c0) < 4:
            h, w = lr.shape[1:]
            if min(h, w) < 4:
                raise MossfuseInputError(
                    f"the LR-HSI is {h} x {w} px: too small to estimate the SRF and PSF (at "
                    "least 4 x 4 LR px needed): fuse without --report/--register", lr_path)
            raise MossfuseInputError(
                f"no no-data-free area of at least 4 x 4 LR px to estimate the degradation "
                f"(largest: {r1 - r0} x {c1 - c0} of {h} x {w})", hr_path)
        sub = FusionInputs(
            lr_arr[:, r0:r1, c0:c1], hr_raw[:, r0 * r : r1 * r, c0 * r : c1 * r], r, wl,
            band_names, degradation=Degradation(psf, srf_matrix, r),
        )
        with torch.no_grad():
            return resolve_degradation(sub, **{**extra, **est_kw}), rect

    deg, rect = estimate(lr)
    if rect != (0, lr.shape[1], 0, lr.shape[2]):
        notes.append(f"degradation estimated on the no-data-free LR window rows {rect[0]}:"
                     f"{rect[1]}, cols {rect[2]}:{rect[3]}")
    shift: ShiftEstimate | None = None
    try:
        shift = estimate_shift(lr, hr_raw, deg.srf, deg.psf, ratio=r, phase=deg.phase,
                               centre=deg.centre, hr_mask=hr_bad, lr_mask=lr_bad)
        co: dict[str, Any] = shift.to_dict()
        shift = _with_psf_offset(shift, deg, r)
        co["psf_offset_lr_px"] = [o / r for o in _psf_centroid(deg)]
        co["total_shift_lr_px"] = [float(v) for v in shift.shift_lr]
    except MossfuseInputError as exc:
        co = {"skipped": str(exc)}
        notes.append(f"co-registration check skipped: {exc}")
    registered = False
    if shift is None:
        pass
    elif register:
        if shift.magnitude_lr >= 0.05:
            lr = _fill_means(register_pair(lr, shift), np.zeros(lr_bad.shape, bool))
            registered = True
            # the registration took the integer phase too: the PSF is now searched centred
            deg, rect = estimate(lr, max_offset=0)
            resid: ShiftEstimate = estimate_shift(
                lr, hr_raw, deg.srf, deg.psf, ratio=r, phase=deg.phase, centre=deg.centre,
                hr_mask=hr_bad, lr_mask=lr_bad)
            resid = _with_psf_offset(resid, deg, r)
            co["residual_shift_lr_px"] = [float(v) for v in resid.shift_lr]
        else:
            notes.append(f"registration skipped: the measured shift {shift.magnitude_lr:.3f} LR "
                         "px is below 0.05 px")
    elif shift.magnitude_lr > _SHIFT_WARN_LR:
        warnings_.append(
            f"the LR-HSI is shifted by {shift.shift_lr[0]:+.2f}, {shift.shift_lr[1]:+.2f} LR px "
            f"({shift.shift_hr[0]:+.1f}, {shift.shift_hr[1]:+.1f} HR px) relative to the HR-MSI; "
            "consider register=True (--register)")
    if shift is not None and shift.spread > 0.5:
        warnings_.append(f"the MSI bands disagree on the shift by {shift.spread:.2f} LR px: the "
                         "co-registration estimate is unreliable")
    warnings_ += _degradation_warnings(deg, r)
    warnings_ += _srf_warnings(deg.srf, wl, band_names, notes)

    # fusion inputs: holes filled (see module Convention)
    hr = hr_raw.copy()
    if hr_bad.any():
        up = _upsample(lr, r)
        proj = spectral_degrade(up, deg.srf.astype(up.dtype))
        hr[:, hr_bad] = np.clip(proj[:, hr_bad], 0.0, 1.0)
        notes.append(f"{int(hr_bad.sum())} HR-MSI no-data pixels filled with the SRF projection "
                     "of the LR-HSI for the fusion; no MSI detail there")
    if lr_bad.any():
        notes.append(f"{int(lr_bad.sum())} LR-HSI no-data pixels filled with band means")
    inputs = FusionInputs(lr, hr, r, wl, band_names, degradation=deg)
    with torch.no_grad():
        result = method_obj.fuse(inputs)
    fused = np.asarray(result.hr_hsi, dtype=np.float32)
    est = Degradation(deg.psf, deg.srf, r, wavelengths_nm=wl, band_names=band_names)
    with staged_degradation_files(out_path, est, dpi=dpi, psf_title="PSF") as deg_files:
        write_cube(fused, out_path, wavelengths=wl,
                   meta=output_meta(lr_scene.meta, hr_scene.meta, r, fused.shape[0]))
    files = {"output": str(out_path), **deg_files}
    no_ref = _no_reference(fused, lr, hr, deg, r, hr_bad, lr_bad)
    if wald_check:
        with torch.no_grad():
            reduced = _reduced_resolution(method_obj, lr, hr, deg, r, rect, wl, band_names)
    else:
        reduced = {"skipped": "not requested"}
    if "skipped" in reduced:
        notes.append(f"reduced-resolution check skipped: {reduced['skipped']}")
    summary: dict[str, Any] = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "call": call,
        "argv": " ".join(sys.argv),
        "method": method_name,
        "ratio": r,
        "output": str(out_path),
        "inputs": {
            "lr_path": str(lr_path), "hr_path": str(hr_path), "lr_name": lr_path.name,
            "lr_shape": list(lr_scene.cube.shape), "hr_shape": list(hr_scene.cube.shape),
            "wavelengths_known": wl is not None, "msi_band_names": list(band_names),
            "lr_nodata": int(lr_bad.sum()), "hr_nodata": int(hr_bad.sum()),
        },
        "degradation": {
            "estimated": deg.info.get("estimated", {}), "srf": deg.srf, "psf": deg.psf,
            "sigma": float(deg.sigma), "phase": int(deg.phase), "centre": int(deg.centre),
            "psf_size": int(deg.psf.shape[0]), "residual": deg.info.get("residual"),
            "offset": deg.info.get("offset"), "window": list(rect),
        },
        "coregistration": co,
        "registered": registered,
        "no_reference": no_ref,
        "reduced_resolution": reduced,
        "warnings": warnings_,
        "notes": notes,
        "files": files,
        "versions": library_versions(),
        "report": None,
    }
    summary["seconds"] = time.perf_counter() - t0
    if report_dir is not None:
        rd = Path(report_dir)
        figs = _figures(rd, lr, hr_raw, fused, deg, r, wl, band_names, hr_bad, dpi)
        summary["files"].update({f"report_{k}": str(rd / v) for k, v in figs.items()})
        summary["report"] = str(rd / "index.html")
        summary["seconds"] = time.perf_counter() - t0
        summary = jsonable(summary)
        _write_text(rd / "summary.json", json.dumps(summary, indent=1))
        _write_text(rd / "index.html", _html(summary, figs))
    return jsonable(summary)
