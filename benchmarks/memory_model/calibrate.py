"""Calibrate the whole-image peak-memory model of :mod:`mossfuse.engine.budget`.

For each method and HR side ``S`` a child process runs the whole-image path of
``mossfuse fuse`` (read both ``.npy`` cubes whole, ``FusionInputs`` with the ``mossfuse-x32``
known degradation, ``method.fuse``, write the ``.npy`` output) on a crop of the CAVE mosaic
(:mod:`benchmarks.tile_quality.mosaic`), and its peak resident memory is the child's own ``VmHWM``
(``/proc/self/status``, read just before it exits; ``ru_maxrss`` of a child forked from a large
parent would start at the parent's size). A second child per method does
the same imports and method construction without fusing (the fixed part). Per method the
least-squares line ``peak = a + k * (H * W * (B + b))`` (bytes, B = 31 HSI and b = 3 MSI
bands here) is written to ``table.json``/``table.md``; :mod:`mossfuse.engine.budget` reads the
coefficients from its own copy (``_MODEL``).

Usage (the command behind table.md)::

    nice -n 10 python benchmarks/memory_model/calibrate.py --workdir /tmp/mossfuse-tq \
        --sizes 256,512,1024 --big 2048 --big-methods bicubic,gsa,scalmu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "tile_quality"))
import mosaic  # noqa: E402

CHILD = r"""
import sys, time, numpy as np
from mossfuse.data.io import read_cube, write_cube
from mossfuse.data.scene import FusionInputs
from mossfuse.methods import load_method
from mossfuse.physics import get_protocol
lr_p, hr_p, out_p, name, dry = sys.argv[1:6]
method = load_method(name, None, None)
if dry == "1":
    print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0], "HWM_KB")
    sys.exit(0)
lr, hr = read_cube(lr_p), read_cube(hr_p)
deg = get_protocol("mossfuse-x32").degradation(lr.wavelengths_nm)
inputs = FusionInputs(lr_hsi=lr.cube, hr_msi=hr.cube, ratio=32, degradation=deg)
t0 = time.perf_counter()
res = method.fuse(inputs)
print(f"FUSE_SECONDS {time.perf_counter() - t0:.3f}")
write_cube(res.hr_hsi, out_p)
print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0], "HWM_KB")
"""


def run_child(lr: Path, hr: Path, out: Path, method: str, dry: bool) -> tuple[int, float]:
    """(peak RSS bytes, wall s) of one child."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(lr), str(hr), str(out), method,
                           "1" if dry else "0"], stdout=subprocess.PIPE, text=True, check=True)
    wall = time.perf_counter() - t0
    out.unlink(missing_ok=True)
    # the child's own high-water mark: ru_maxrss of a child forked from this (large) process
    # starts at this process's RSS on Linux, VmHWM belongs to the exec'd image only
    hwm_kb = int(proc.stdout.split(" HWM_KB")[0].split()[-1])
    return hwm_kb * 1024, wall


def crop_pair(paths: dict[str, Path], side: int, workdir: Path) -> tuple[Path, Path]:
    """The top-left ``side x side`` crop of the cached mosaic pair, as ``.npy`` files."""
    lr_p, hr_p = workdir / f"crop{side}_lr.npy", workdir / f"crop{side}_hr.npy"
    if not lr_p.exists():
        np.save(lr_p, np.load(paths["lr"], mmap_mode="r")[: side // 32, : side // 32])
        np.save(hr_p, np.load(paths["hr"], mmap_mode="r")[:side, :side])
    return lr_p, hr_p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mossfuse-tq"))
    ap.add_argument("--cave", type=Path, default=ROOT.parent / "shared" / "data" / "cave")
    ap.add_argument("--methods", default="bicubic,gsa,cnmf,hysure,scalmu")
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--big", type=int, default=2048, help="extra size for --big-methods")
    ap.add_argument("--big-methods", default="bicubic,gsa,scalmu")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    paths = mosaic.build(max(2048, args.big, *sizes), args.workdir, args.cave)
    rows, fits = [], {}
    for m in args.methods.split(","):
        lr, hr = crop_pair(paths, sizes[0], args.workdir)
        fixed, _ = run_child(lr, hr, args.workdir / "calib_out.npy", m, dry=True)
        pts = []
        for s in sizes + ([args.big] if m in args.big_methods.split(",") else []):
            lr, hr = crop_pair(paths, s, args.workdir)
            peak, wall = run_child(lr, hr, args.workdir / "calib_out.npy", m, dry=False)
            units = s * s * (31 + 3)
            pts.append((units, peak))
            rows.append({"method": m, "side": s, "peak_bytes": peak, "fixed_bytes": fixed,
                         "wall_s": round(wall, 2)})
            print(f"{m:8s} {s:5d}  peak {peak / 2**20:8.0f} MiB  fixed {fixed / 2**20:6.0f} "
                  f"MiB  {wall:6.1f} s", flush=True)
        x, y = np.array(pts, float).T
        k, a = np.polyfit(x, y, 1)
        fits[m] = {"fixed_bytes": fixed, "a_bytes": float(a), "k_bytes_per_px_band": float(k),
                   "max_rel_residual": float(np.max(np.abs(a + k * x - y) / y))}
    header = {
        "command": "nice -n 10 python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores "
                   "(shared), Linux",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "data": "top-left crops of the 16-scene CAVE mosaic (benchmarks/tile_quality/mosaic.py), "
                "protocol mossfuse-x32, known degradation, 31 HSI + 3 MSI bands",
        "model": "peak = a + k * H * W * (B + b)  [bytes]",
    }
    (HERE / "table.json").write_text(json.dumps({**header, "rows": rows, "fits": fits},
                                                indent=1))
    lines = ["# Whole-image peak memory per method (calibration of mossfuse.engine.budget)", ""]
    lines += [f"- {k}: `{v}`" if k == "command" else f"- {k}: {v}" for k, v in header.items()]
    lines += ["", "| method | HR side | peak RSS (MiB) | fixed (MiB) | wall (s) |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['side']} | {r['peak_bytes'] / 2**20:.0f} | "
              f"{r['fixed_bytes'] / 2**20:.0f} | {r['wall_s']} |" for r in rows]
    lines += ["", "| method | a (MiB) | k (bytes per HR px per band) | max rel. residual |",
              "|---|---|---|---|"]
    lines += [f"| {m} | {f['a_bytes'] / 2**20:.0f} | {f['k_bytes_per_px_band']:.1f} | "
              f"{f['max_rel_residual']:.3f} |" for m, f in fits.items()]
    (HERE / "table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
