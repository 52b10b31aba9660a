"""Whole-image vs tiled quality per method and tile size, on mosaics of the 16 CAVE scenes.

For each method (known ``mossfuse-x32`` degradation, every method's default config):

- ``scenes``: each slot of the mosaic fused alone (its own LR/HR windows, which are exactly
  what the protocol makes of that scene alone: :mod:`mosaic`), the outputs put back in place;
- ``whole``: the whole mosaic fused at once (``method.fuse``);
- ``tiled T``: :func:`mossfuse.engine.tiling.fuse_tiled` with tiles of ``T`` HR px and the
  default overlap (``max(4 r, T / 8)``) and margin.

Each result is scored on the whole mosaic with the ``mossfuse-paper`` profile
(:func:`mossfuse.metrics.evaluate`: PSNR is the mean over bands of ``10 log10(1 / MSE_k)``, MSE
over the mosaic; SAM in degrees), plus the mean over slots of each slot's PSNR. The reference
is read by the evaluator only.

Usage (the commands behind results.md; one method per call keeps each run short, results are
merged into ``results_<side>.json``)::

    nice -n 10 python benchmarks/tile_quality/run.py --side 2048 --methods scalmu,gsa
    nice -n 10 python benchmarks/tile_quality/run.py --side 2048 --methods cnmf
    nice -n 10 python benchmarks/tile_quality/run.py --side 2048 --methods hysure
    nice -n 10 python benchmarks/tile_quality/run.py --side 4096 --methods scalmu --tiles 512 \
        --no-whole
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import mosaic  # noqa: E402

RATIO = 32


def _inputs(lr: np.ndarray, hr: np.ndarray, deg, wl):
    from mossfuse.data.scene import FusionInputs

    return FusionInputs(lr_hsi=lr, hr_msi=hr, ratio=RATIO, hsi_wavelengths_nm=wl,
                        msi_band_names=deg.band_names, degradation=deg)


def _paper_psnr_sam(pred: np.ndarray, ref: np.ndarray, rows: int = 512) -> dict:
    """The ``mossfuse-paper`` profile's PSNR and SAM (:func:`mossfuse.metrics.evaluate`),
    accumulated over strips of ``rows`` HR rows: the same values (per-band MSE pooled over the
    mosaic; SAM the mean over pixels), without the whole-mosaic float64 temporaries that do not
    fit in memory at 4096 px (each is 4 GB)."""
    from mossfuse.metrics.full_reference import sam

    bands = ref.shape[0]
    sse, n_pix, sam_sum, sam_n = np.zeros(bands), 0, 0.0, 0
    for y0 in range(0, ref.shape[1], rows):
        p = np.clip(pred[:, y0:y0 + rows].astype(np.float64), 0.0, 1.0)
        r = ref[:, y0:y0 + rows].astype(np.float64)
        sse += ((p - r) ** 2).sum(axis=(1, 2))
        n_pix += r.shape[1] * r.shape[2]
        valid = int(np.any(r != 0, axis=0).sum())
        if valid:
            sam_sum += sam(np.clip(p, 1e-5, 1.0), r) * valid
            sam_n += valid
    with np.errstate(divide="ignore"):
        psnr = float(np.mean(10.0 * np.log10(1.0 / (sse / n_pix))))
    return {"psnr": psnr, "sam": sam_sum / sam_n}


def _score(pred: np.ndarray, ref: np.ndarray, slots: list[dict]) -> dict:
    from mossfuse.metrics.full_reference import psnr

    rep = _paper_psnr_sam(pred, ref)
    s = mosaic.CAVE_SIDE
    per = [psnr(np.clip(pred[:, a["row"]:a["row"] + s, a["col"]:a["col"] + s], 0, 1),
                ref[:, a["row"]:a["row"] + s, a["col"]:a["col"] + s]) for a in slots]
    return {"psnr": rep["psnr"], "sam": rep["sam"], "psnr_slot_mean": float(np.mean(per)),
            "psnr_slots": [round(float(v), 3) for v in per]}


def run_method(name: str, paths: dict[str, Path], tiles: list[int], do_whole: bool,
               do_scenes: bool) -> dict:
    from mossfuse.engine.tiling import fuse_tiled
    from mossfuse.methods import load_method
    from mossfuse.physics import get_protocol

    slots = json.loads(paths["layout"].read_text())["slots"]
    lr, hr = mosaic.load_cube(paths["lr"]), mosaic.load_cube(paths["hr"])
    ref = mosaic.load_cube(paths["ref"])  # evaluator only
    wl = np.arange(400.0, 701.0, 10.0)
    deg = get_protocol("mossfuse-x32").degradation(wl)
    method = load_method(name, None, None)
    out: dict = {"method": name, "runs": {}}

    def record(key: str, pred: np.ndarray, seconds: float) -> None:
        sc = _score(pred, ref, slots)
        sc["seconds"] = round(seconds, 1)
        sc["load_avg_1min_after"] = round(os.getloadavg()[0], 2)
        out["runs"][key] = sc
        print(f"{name:8s} {key:10s} PSNR {sc['psnr']:6.2f}  slot-mean {sc['psnr_slot_mean']:6.2f}"
              f"  SAM {sc['sam']:5.2f}  {seconds:7.1f} s", flush=True)

    if do_scenes:
        s, q = mosaic.CAVE_SIDE, mosaic.CAVE_SIDE // RATIO
        pred = np.empty_like(ref)
        t0 = time.perf_counter()
        for a in slots:
            y, x = a["row"], a["col"]
            inp = _inputs(lr[:, y // RATIO:y // RATIO + q, x // RATIO:x // RATIO + q],
                          hr[:, y:y + s, x:x + s], deg, wl)
            pred[:, y:y + s, x:x + s] = method.fuse(inp).hr_hsi
        record("scenes", pred, time.perf_counter() - t0)
        del pred
    if do_whole:
        t0 = time.perf_counter()
        pred = method.fuse(_inputs(lr, hr, deg, wl)).hr_hsi
        record("whole", pred, time.perf_counter() - t0)
        del pred
    for t in tiles:
        t0 = time.perf_counter()
        pred = fuse_tiled(method, _inputs(lr, hr, deg, wl), tile=t)
        record(f"tiled {t}", pred, time.perf_counter() - t0)
        del pred
    return out


def write_markdown(side: int) -> None:
    data = json.loads((HERE / f"results_{side}.json").read_text())
    h = data["header"]
    lines = [f"# Tiled vs whole-image quality: {side} x {side} mosaic of the 16 CAVE scenes", "",
             f"- Commands: {'; '.join(f'`{c}`' for c in h['commands'])}",
             f"- Data: {h['data']}", f"- Protocol: {h['protocol']}", f"- Metric: {h['metric']}",
             f"- Machine: {h['machine']}", f"- Time budget: {h['budget']}", "",
             "PSNR (dB) on the mosaic / mean of the 16 slots' PSNR / SAM (deg) / wall s.", "",
             "| method | scenes one by one | whole mosaic | tiled 512 | tiled 1024 |",
             "|---|---|---|---|---|"]
    for name, res in data["methods"].items():
        cells = []
        for key in ("scenes", "whole", "tiled 512", "tiled 1024"):
            r = res["runs"].get(key)
            cells.append("-" if r is None else
                         f"{r['psnr']:.2f} / {r['psnr_slot_mean']:.2f} / {r['sam']:.2f} / "
                         f"{r['seconds']:.0f} s")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Tiles: default overlap max(4 r, T / 8) (128 px at x32 for both 512 and 1024 "
              "px tiles) and blending margin (48 px); `scenes` = each 512 x 512 slot fused alone "
              "and put back; `-`: not run."]
    if h.get("notes"):
        lines += ["", *h["notes"]]
    (HERE / f"results_{side}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mossfuse-tq"))
    ap.add_argument("--cave", type=Path, default=ROOT.parent / "shared" / "data" / "cave")
    ap.add_argument("--side", type=int, default=2048)
    ap.add_argument("--methods", default="scalmu,gsa,cnmf,hysure")
    ap.add_argument("--tiles", default="512,1024")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-mosaic run")
    ap.add_argument("--no-scenes", action="store_true", help="skip the one-by-one run")
    args = ap.parse_args()
    import torch

    paths = mosaic.build(args.side, args.workdir, args.cave)
    res_path = HERE / f"results_{args.side}.json"
    data = json.loads(res_path.read_text()) if res_path.exists() else {"methods": {}}
    cmd = "nice -n 10 python benchmarks/tile_quality/" + " ".join(
        [Path(sys.argv[0]).name, *sys.argv[1:]])
    commands = [c for c in data.get("header", {}).get("commands", []) if c != cmd] + [cmd]
    notes = data.get("header", {}).get("notes")
    data["header"] = {
        "commands": commands,
        "data": f"{args.side} x {args.side} mosaic of the 16 shared CAVE scenes (training split "
                "of the MossFuse paper; sorted by name, row-major, repeats rotated 90 deg), "
                "benchmarks/tile_quality/mosaic.py",
        "protocol": "mossfuse-x32, known degradation (PSF, SRF, phase given to every method)",
        "metric": "mossfuse-paper profile (mossfuse.metrics.evaluate; PSNR mean over bands, "
                  "clip to [0, 1])",
        "machine": f"{platform.machine()}, {os.cpu_count()} logical cores shared with other "
                   f"jobs (1-minute load average {os.getloadavg()[0]:.1f} at the start; after "
                   f"each run in the json), torch {torch.__version__} "
                   f"({torch.get_num_threads()} threads), "
                   f"{time.strftime('%Y-%m-%d', time.gmtime())}",
        "budget": "none beyond each method's default iterations; timings are noisy (shared CPU)",
    }
    if notes:
        data["header"]["notes"] = notes
    for name in args.methods.split(","):
        data["methods"][name] = run_method(
            name, paths, [int(t) for t in args.tiles.split(",") if t], not args.no_whole,
            not args.no_scenes)
        res_path.write_text(json.dumps(data, indent=1))
        write_markdown(args.side)


if __name__ == "__main__":
    main()
