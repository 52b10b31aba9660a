"""Real-scene fusion with :func:`mossfuse.pipeline.fuse_with_report` on the shared real pairs.

Cases
-----
- ``houston``: DFC2018 Houston crop, 48-band CASI LR-HSI 128 x 128 + RGB 512 x 512, ratio 4,
  no reference. The RGB's black no-data patch (all three channels 0) is written as NaN, so it
  is masked in the estimation, the co-registration and QNR. Methods ``gsa`` and ``cnmf``, blind.
- ``paris``: Hyperion (128 bands) + ALI (9 bands), both 72 x 72 at 30 m. Reduced-resolution
  protocol of the HySure paper's Paris example (Simoes et al., TGRS 2015; ``demo_paris_hs_ms.m``):
  ``HSim`` blurred by the 5 x 5 Starck-Murtagh (B3-spline) filter, circular borders, and
  downsampled by 3 (here: sample phase 1, the centre of each 3 x 3 cell; no noise added), kept
  as the reference. Also run with the variance-matched Gaussian (sigma 1 px, 5 x 5). The blind
  SRF is compared with ``R_HysureParis`` (max abs error after normalising rows to sum 1).
- ``paris-pan``: the real Hyperion (128 bands, 72 x 58) + ALI panchromatic (216 x 174) pair at
  ratio 3, read straight from ``paris_data_hs_pan.mat`` (keys, common divisor 2.3), no
  reference: blind fusion, QNR and the reduced-resolution check only.

The inputs are written to a scratch folder (``--work``, default a temporary folder outside
the repository) as a user would have them (GeoTIFF / .npz); no copy of the data is kept in the
repository. Reports (index.html + PNGs) go to ``WORK/<case>/<method>/report``.

Usage::

    python benchmarks/real/run.py [--data ../shared/data] [--work /tmp/mossfuse_real]
        [--cases houston,paris,paris-pan] [--methods gsa,cnmf] [--register]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mossfuse.data.io import load_mat_variables, read_cube, write_cube
from mossfuse.data.remote_sensing import load_houston2018, load_paris
from mossfuse.metrics import evaluate
from mossfuse.physics.psf import gaussian_kernel
from mossfuse.physics.spatial import spatial_degrade
from mossfuse.pipeline import fuse_with_report

REPO = Path(__file__).resolve().parents[2]
STARCK_MURTAGH = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def _houston(data: Path, work: Path, methods: list[str], register: bool) -> list[dict]:
    hsi, rgb = load_houston2018(data / "remote_sensing")
    folder = work / "houston"
    lr_path, hr_path = folder / "lr_hsi.tif", folder / "hr_rgb.tif"
    write_cube(hsi.cube, lr_path, wavelengths=hsi.wavelengths_nm)
    cube = rgb.cube.copy()
    cube[:, rgb.meta["nodata_mask"]] = np.nan  # the black no-data patch
    write_cube(cube, hr_path, meta={"band_names": ("R", "G", "B")})
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        s = fuse_with_report(lr_path, hr_path, folder / method / "fused.tif", method=method,
                             report_dir=folder / method / "report", register=register)
        rows.append({"case": "houston" + " +reg" * register, "method": method,
                     "seconds": time.perf_counter() - t0, "summary": s})
    return rows


def _paris(data: Path, work: Path, methods: list[str], register: bool) -> list[dict]:
    hs, ms = load_paris(data / "remote_sensing")
    r_ref = load_mat_variables(data / "srf" / "fusion_R_matrices" / "R_HysureParis.mat")["R"]
    rows = []
    kernels = (("starck-murtagh", STARCK_MURTAGH), ("gaussian-s1", gaussian_kernel(5, 1.0)))
    for name, kernel in kernels:
        folder = work / f"paris_{name}"
        lr = np.asarray(spatial_degrade(hs.cube.astype(np.float64), kernel, 3, 1, centre=2,
                                        padding="circular"), dtype=np.float32)
        lr_path, hr_path = folder / "lr_hsi.npz", folder / "hr_msi.npz"
        write_cube(np.clip(lr, 0, 1), lr_path)
        write_cube(ms.cube, hr_path)
        for method in methods:
            t0 = time.perf_counter()
            out = folder / method / "fused.npz"
            s = fuse_with_report(lr_path, hr_path, out, method=method,
                                 report_dir=folder / method / "report", register=register)
            secs = time.perf_counter() - t0
            fused = read_cube(out, allow_unnormalized=True).cube
            rep = evaluate(fused, hs.cube, profile="standard", ratio=3)
            est = np.asarray(s["degradation"]["srf"], dtype=np.float64)
            rn = lambda m: m / np.maximum(m.sum(1, keepdims=True), 1e-12)  # noqa: E731
            srf_err = float(np.abs(rn(est) - rn(np.asarray(r_ref, np.float64))).max())
            rows.append({"case": f"paris ({name})" + " +reg" * register, "method": method,
                         "seconds": secs, "summary": s, "reference_metrics": rep.values,
                         "srf_max_abs_vs_R_HysureParis": srf_err})
    return rows


def _paris_pan(data: Path, work: Path, methods: list[str], register: bool) -> list[dict]:
    """The real Hyperion + ALI panchromatic pair at ratio 3, read from the .mat as a user
    would (``mossfuse fuse --hsi-key HSim --msi-key PCim --hsi-scale 2.3 --msi-scale 2.3``)."""
    mat = data / "remote_sensing" / "paris_hyperion_ali" / "paris_data_hs_pan.mat"
    folder = work / "paris_pan"
    rows = []
    for method in methods:
        t0 = time.perf_counter()
        s = fuse_with_report(mat, mat, folder / method / "fused.tif", method=method,
                             report_dir=folder / method / "report", register=register,
                             hsi_key="HSim", msi_key="PCim", hsi_scale=2.3, msi_scale=2.3)
        rows.append({"case": "paris-pan" + " +reg" * register, "method": method,
                     "seconds": time.perf_counter() - t0, "summary": s})
    return rows


def _table(rows: list[dict]) -> str:
    lines = ["| case | method | s | sigma | resid | shift LR (dy, dx) | D_lambda | D_s | QNR | "
             "RR PSNR | RR SAM | RR ERGAS | ref PSNR | ref SSIM | ref SAM | ref ERGAS | "
             "SRF err | warnings |", "|" + "---|" * 18]
    for row in rows:
        s = row["summary"]
        nr, rr = s["no_reference"], s["reduced_resolution"]
        ref = row.get("reference_metrics", {})
        co = s["coregistration"]
        shift = co.get("total_shift_lr_px", ["-", "-"])
        f = lambda v: "-" if v is None or isinstance(v, str) else f"{v:.4g}"  # noqa: E731
        lines.append(
            f"| {row['case']} | {row['method']} | {row['seconds']:.1f} | "
            f"{s['degradation']['sigma']:.2f} | {f(s['degradation']['residual'])} | "
            f"({f(shift[0])}, {f(shift[1])}) | {f(nr.get('d_lambda'))} | {f(nr.get('d_s'))} | "
            f"{f(nr.get('qnr'))} | {f(rr.get('psnr'))} | {f(rr.get('sam'))} | "
            f"{f(rr.get('ergas'))} | {f(ref.get('psnr'))} | {f(ref.get('ssim'))} | "
            f"{f(ref.get('sam'))} | {f(ref.get('ergas'))} | "
            f"{f(row.get('srf_max_abs_vs_R_HysureParis'))} | {len(s['warnings'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the cases and print a Markdown table (and write ``WORK/results.json``)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--cases", default="houston,paris,paris-pan")
    ap.add_argument("--methods", default="gsa,cnmf")
    ap.add_argument("--register", action="store_true", help="register=True (--register)")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("MOSSFUSE_THREADS", "1")))
    work = args.work or Path(tempfile.mkdtemp(prefix="mossfuse_real_"))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    rows: list[dict] = []
    t0 = time.perf_counter()
    for case in args.cases.split(","):
        run = {"houston": _houston, "paris": _paris, "paris-pan": _paris_pan}[case.strip()]
        rows += run(args.data, work, methods, args.register)
    (work / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cores, torch "
          f"threads {torch.get_num_threads()}; total {time.perf_counter() - t0:.0f} s")
    print(f"work folder (reports): {work}")
    print(_table(rows))
    for row in rows:
        for w in row["summary"]["warnings"]:
            print(f"- {row['case']} / {row['method']}: {w}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
