"""Serial vs ``--workers 1`` vs ``--workers 2`` tiled fusion on this machine (scaling table).

Runs ``mossfuse fuse --tile-size T [--workers N]`` (``python -m mossfuse.cli fuse`` with this
interpreter) in a child process on crops of the CAVE mosaic
(``benchmarks/tile_quality/mosaic.py``, ``mossfuse-x32`` known degradation, ``.npy`` in and
out) and records the wall time of the whole command (start-up, cluster start, fusion,
writing), the fusion time the command reports, the peak RSS of the command and of its process
tree (workers included; :func:`run.measure`), the output's checksum (the runs must agree bit
for bit) and the load average before / during / after each run. Writes ``scaling.json`` and
``scaling.md`` next to this script.

Usage (the command behind scaling.md)::

    python benchmarks/large_scene/scaling.py --cases scalmu:2048:512,gsa:2048:512
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "tile_quality"))
sys.path.insert(0, str(HERE))
import mosaic  # noqa: E402
from run import measure  # noqa: E402


def crop(paths: dict[str, Path], side: int, workdir: Path) -> tuple[Path, Path]:
    lr_p, hr_p = workdir / f"crop{side}_lr.npy", workdir / f"crop{side}_hr.npy"
    if not lr_p.exists():
        np.save(lr_p, np.load(paths["lr"], mmap_mode="r")[: side // 32, : side // 32])
        np.save(hr_p, np.load(paths["hr"], mmap_mode="r")[:side, :side])
    return lr_p, hr_p


def run_one(method: str, lr: Path, hr: Path, out: Path, tile: int,
            workers: int | None) -> dict:
    opts = ["--lr-hsi", str(lr), "--hr-msi", str(hr), "--out", str(out),
            "--method", method, "--protocol", "mossfuse-x32", "--tile-size", str(tile)]
    if workers is not None:
        opts += ["--workers", str(workers)]
    res = measure([sys.executable, "-m", "mossfuse.cli", "fuse", *opts])
    if res["returncode"] != 0:
        raise RuntimeError(f"mossfuse fuse failed: {res['output']}")
    m = re.search(r" in ([0-9.]+) s \(", res["output"])
    digest = hashlib.sha1(np.load(out).tobytes()).hexdigest()[:12]
    out.unlink()
    mean = res["load_avg_1min_mean"]
    return {"method": method, "workers": workers, "tile": tile,
            "wall_s": round(res["seconds"], 1),
            "fuse_s": float(m.group(1)) if m else None, "sha1": digest,
            "peak_rss_gib": round(res["peak_rss_bytes"] / 2**30, 2),
            "peak_tree_rss_gib": round(res["peak_tree_rss_bytes"] / 2**30, 2),
            "load_before": round(res["load_avg_1min"][0], 2),
            "load_mean": None if mean is None else round(mean, 2),
            "load_after": round(res["load_avg_1min"][1], 2),
            "command": " ".join(["mossfuse", "fuse", *opts])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mossfuse-tq"))
    ap.add_argument("--cave", type=Path, default=ROOT.parent / "shared" / "data" / "cave")
    ap.add_argument("--cases", default="scalmu:2048:512,gsa:2048:512",
                    help="method:HR side:tile, comma separated")
    args = ap.parse_args()
    paths = mosaic.build(2048, args.workdir, args.cave)
    rows = []
    for case in args.cases.split(","):
        method, side, tile = case.split(":")
        lr, hr = crop(paths, int(side), args.workdir)
        for workers in (None, 1, 2):
            row = run_one(method, lr, hr, args.workdir / "scaling_out.npy", int(tile), workers)
            row["side"] = int(side)
            rows.append(row)
            print(json.dumps(row), flush=True)
    header = {
        "command": "python benchmarks/large_scene/" + " ".join(
            [Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} logical cores shared with other "
                   f"jobs, Linux, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC",
        "data": "top-left crops of the 16-scene CAVE mosaic, mossfuse-x32 known degradation",
    }
    (HERE / "scaling.json").write_text(json.dumps({**header, "rows": rows}, indent=1))
    lines = ["# Tiled fusion: serial vs local Dask workers (this machine)", "",
             f"- Command: `{header['command']}`", f"- Machine: {header['machine']}",
             f"- Data: {header['data']}",
             "- wall: the whole `mossfuse fuse` command (imports, cluster start, fusion, "
             "writing); fuse: the fusion time it reports; peak RSS: of the command / summed "
             "over its process tree (Dask workers included); sha1: of the output (equal = the "
             "same result bit for bit); load: 1-minute load average before / mean during / "
             "after (2.0 = both cores busy)", "",
             "| method | HR side | tile | run | wall (s) | fuse (s) | peak RSS / tree (GiB) | "
             "sha1 | load before / during / after |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        run = "serial" if r["workers"] is None else f"--workers {r['workers']}"
        lines.append(f"| {r['method']} | {r['side']} | {r['tile']} | {run} | {r['wall_s']} | "
                     f"{r['fuse_s']} | {r['peak_rss_gib']} / {r['peak_tree_rss_gib']} | "
                     f"{r['sha1']} | {r['load_before']} / {r['load_mean']} / "
                     f"{r['load_after']} |")
    lines += ["", "Commands:", "", *sorted({f"- `{r['command']}`" for r in rows})]
    (HERE / "scaling.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
