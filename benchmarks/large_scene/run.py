"""Large-scene benchmark: an 8192 x 8192 HR-MSI (3 bands) and its 256 x 256 x 31 LR-HSI at x32,
fused from disk to disk by a plain ``mossfuse fuse`` (by default with no tiling flag: the
memory budget of :mod:`mossfuse.engine.budget` decides to tile, with the method's default tile;
``--tile-size`` passes an explicit one).

1. Generate the pair with the ``mossfuse-x32`` physics (:mod:`mossfuse.physics`: 31 x 31
   Gaussian PSF, sigma 2, valid stride-32 sampling at phase 15, Nikon D700 SRF) from a smooth
   synthetic reflectance scene that is an analytic function of the pixel position, evaluated
   1024 x 1024 HR pixels at a time: the 8192 x 8192 x 31 reference (8.3 GB as float32) never
   exists in memory or on disk. The x32 kernel fits one 32-pixel cell, so degrading block by
   block is exact.
2. Run ``mossfuse fuse`` (``python -m mossfuse.cli fuse`` with this interpreter, so the checkout
   on ``PYTHONPATH`` is the one measured) in a child process for each method, measure its wall
   time and peak resident memory (``os.wait4``'s ``ru_maxrss``, what ``/usr/bin/time -v``
   reports as "Maximum resident set size"), the sampled peak of the whole process tree (Dask
   workers included) and the 1-minute load average (before, after, mean while running).
3. Check quality on 8 windows of 256 x 256 HR pixels against the regenerated reference.
4. Write ``<name>.json`` and ``<name>.md`` next to this script (``--name``, default
   ``results``); with ``--merge`` the runs are added to those already in ``<name>.json``
   (a run with the same method, output format, workers and tile replaces the older one).

Usage (the commands in results_default_tiling.md)::

    nice -n 10 python benchmarks/large_scene/run.py --methods scalmu --name results_default_tiling
    nice -n 10 python benchmarks/large_scene/run.py --methods gsa --geotiff --no-npy \
        --name results_default_tiling --merge

(``results.md``: the earlier explicit ``--tile-size 1024 --methods bicubic,gsa --geotiff
--workers 2`` runs.)

``--size`` (HR side, a multiple of 1024) makes a smaller smoke run; ``--keep`` keeps the fused
cubes (8.3 GB each), otherwise they are deleted after the quality check.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RATIO, BLOCK, BANDS = 32, 1024, 31
WAVELENGTHS = np.arange(400.0, 701.0, 10.0)


# --------------------------------------------------------------------------------------------
# The synthetic scene: reflectance(y, x, lambda) as a closed-form function
# --------------------------------------------------------------------------------------------
class SmoothScene:
    """``K`` endmember spectra mixed by smooth abundance fields, times a shading field.

    Abundances are a softmax of sums of plane waves with periods from 4096 px down to 48 px, so
    the scene has structure both above and below the LR sampling distance (32 px) for the MSI to
    inject. Values lie in [0.03, 0.95]. ``block(y0, x0, h, w)`` evaluates any window.
    """

    def __init__(self, seed: int = 0, n_end: int = 5, n_waves: int = 6):
        rng = np.random.default_rng(seed)
        lam = (WAVELENGTHS - 400.0) / 300.0
        spectra = []
        for _ in range(n_end):
            centres, widths = rng.uniform(-0.2, 1.2, 2), rng.uniform(0.15, 0.5, 2)
            amps = rng.uniform(0.2, 0.6, 2)
            s = 0.1 + sum(a * np.exp(-0.5 * ((lam - c) / w) ** 2)
                          for a, c, w in zip(amps, centres, widths, strict=True))
            spectra.append(np.clip(s, 0.05, 0.95))
        self.spectra = np.asarray(spectra, dtype=np.float64)  # (K, B)
        periods = np.geomspace(4096.0, 48.0, n_waves)
        self.waves = []  # per endmember: (freq_y, freq_x, phase, amplitude)
        for _ in range(n_end):
            theta = rng.uniform(0, np.pi, n_waves)
            f = 2 * np.pi / periods
            self.waves.append((f * np.sin(theta), f * np.cos(theta),
                               rng.uniform(0, 2 * np.pi, n_waves),
                               rng.uniform(0.6, 1.6, n_waves) * (periods / 4096.0) ** 0.25))
        theta = rng.uniform(0, np.pi, 3)
        f = 2 * np.pi / np.array([2048.0, 300.0, 64.0])
        self.shade = (f * np.sin(theta), f * np.cos(theta), rng.uniform(0, 2 * np.pi, 3))

    def block(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        """Reflectance ``(B, h, w)`` float64 of HR pixels ``[y0, y0+h) x [x0, x0+w)``."""
        y = np.arange(y0, y0 + h, dtype=np.float64)[:, None]
        x = np.arange(x0, x0 + w, dtype=np.float64)[None, :]
        logits = np.empty((len(self.waves), h, w))
        for k, (fy, fx, ph, amp) in enumerate(self.waves):
            acc = np.zeros((h, w))
            for j in range(len(fy)):
                acc += amp[j] * np.sin(fy[j] * y + fx[j] * x + ph[j])
            logits[k] = 2.5 * acc
        logits -= logits.max(axis=0, keepdims=True)
        ab = np.exp(logits)
        ab /= ab.sum(axis=0, keepdims=True)
        fy, fx, ph = self.shade
        shade = 0.85 + 0.05 * sum(np.sin(fy[j] * y + fx[j] * x + ph[j]) for j in range(3))
        return np.einsum("khw,kb->bhw", ab, self.spectra) * shade[None]


def generate(workdir: Path, size: int, seed: int) -> dict:
    """Write ``lr_hsi.npy`` (size/32 x size/32 x 31) and ``hr_msi.npy`` (size x size x 3)."""
    from mossfuse.data.io import write_cube
    from mossfuse.engine.streaming import NpyWriter
    from mossfuse.physics import get_protocol

    lr_path, hr_path = workdir / "lr_hsi.npy", workdir / "hr_msi.npy"
    stamp = workdir / "generated.json"
    meta = {"size": size, "seed": seed, "protocol": "mossfuse-x32"}
    if stamp.exists() and lr_path.exists() and hr_path.exists():
        done = json.loads(stamp.read_text())
        if {k: done.get(k) for k in meta} == meta:
            return {"seconds": done.get("seconds"), "reused": True}
    t0 = time.perf_counter()
    scene = SmoothScene(seed)
    model = get_protocol("mossfuse-x32").degradation(WAVELENGTHS).forward_model()
    lr = np.zeros((BANDS, size // RATIO, size // RATIO), np.float32)
    n = size // BLOCK
    with NpyWriter(hr_path, (3, size, size)) as hr_writer:
        for by in range(n):
            for bx in range(n):
                ref = scene.block(by * BLOCK, bx * BLOCK, BLOCK, BLOCK)
                lr_b, hr_b = model(ref)
                b0, c = BLOCK // RATIO, (by * BLOCK // RATIO, bx * BLOCK // RATIO)
                lr[:, c[0] : c[0] + b0, c[1] : c[1] + b0] = lr_b
                hr_writer.write((by * BLOCK, (by + 1) * BLOCK), (bx * BLOCK, (bx + 1) * BLOCK),
                                np.asarray(hr_b, np.float32))
            print(f"  generated block row {by + 1}/{n}", flush=True)
    write_cube(np.clip(lr, 0, 1), lr_path, wavelengths=WAVELENGTHS)
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({**meta, "seconds": seconds}))
    return {"seconds": seconds, "reused": False}


# --------------------------------------------------------------------------------------------
# Measuring a command
# --------------------------------------------------------------------------------------------
def _tree_rss(root: int) -> int:
    """Sum of VmRSS (bytes) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/status") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        pid, ppid = int(d), int(fields.get("PPid", "0").strip())
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) * 1024
    total, stack = 0, [root]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


def measure(cmd: list[str]) -> dict:
    """Run ``cmd``; wall time, exit code, peak RSS of the process (``ru_maxrss``), the sampled
    peak RSS of its process tree (every 0.2 s) and the mean 1-minute load average while it ran
    (sampled every 5 s)."""
    # The peak RSS comes from GNU time (its child is forked from the small ``time`` process):
    # ``os.wait4`` on a child spawned by this (large) process would report this process's RSS,
    # as Linux carries ``maxrss`` over the child's ``execve`` of a vfork-ed address space.
    import tempfile

    gnu_time = Path("/usr/bin/time")
    fd, rss_file = tempfile.mkstemp(suffix=".maxrss")
    os.close(fd)
    full = [str(gnu_time), "-f", "%M", "-o", rss_file, *cmd] if gnu_time.exists() else cmd
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    loads: list[float] = []
    stop = threading.Event()

    def sample() -> None:
        n = 0
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            if n % 25 == 0:
                loads.append(os.getloadavg()[0])
            n += 1
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out_lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        out_lines.append(line)
        print("    | " + line.rstrip(), flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    th.join()
    seconds = time.perf_counter() - t0
    peak_rss, source = usage.ru_maxrss * 1024, "os.wait4 ru_maxrss"
    try:
        peak_rss, source = int(Path(rss_file).read_text().split()[-1]) * 1024, "GNU time %M"
    except (OSError, ValueError, IndexError):
        pass
    Path(rss_file).unlink(missing_ok=True)
    tiling_lines = [ln.split("tiling:", 1)[1].strip() for ln in out_lines if "tiling:" in ln]
    return {
        "command": shlex.join(cmd), "returncode": proc.returncode, "seconds": seconds,
        "peak_rss_bytes": peak_rss, "peak_rss_source": source, "peak_tree_rss_bytes": peak[0],
        "load_avg_1min": [load_before, os.getloadavg()[0]],
        "load_avg_1min_mean": float(np.mean(loads)) if loads else None,
        "tiling_line": tiling_lines[0] if tiling_lines else None,
        "output": "".join(out_lines)[-2000:],
    }


def quality(workdir: Path, out: Path, size: int, seed: int, n: int = 8) -> dict:
    """PSNR (dB, peak 1) and SAM (deg) on ``n`` random 256 x 256 windows vs the reference."""
    from mossfuse.engine.streaming import GeoTiffReader, NpyReader

    scene = SmoothScene(seed)
    kind = NpyReader if out.suffix == ".npy" else GeoTiffReader
    reader = kind(out, allow_unnormalized=True)
    rng = np.random.default_rng(123)
    se, count, sam = 0.0, 0, []
    for _ in range(n):
        y0, x0 = (int(v) * 32 for v in rng.integers(0, (size - 256) // 32, 2))
        ref = scene.block(y0, x0, 256, 256)
        got = np.clip(reader.read((y0, y0 + 256), (x0, x0 + 256)).astype(np.float64), 0, 1)
        se += float(((got - ref) ** 2).sum())
        count += ref.size
        cos = (got * ref).sum(0) / (np.linalg.norm(got, axis=0) * np.linalg.norm(ref, axis=0))
        sam.append(float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()))
    return {"psnr_db": float(10 * np.log10(1.0 / (se / count))), "sam_deg": float(np.mean(sam)),
            "windows": n}


def machine() -> dict:
    import torch

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "ram_gb": round(mem / 2**30, 1),
            "python": platform.python_version(), "numpy": np.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "os": f"{platform.system()} {platform.release()}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mossfuse-large-scene"))
    ap.add_argument("--size", type=int, default=8192, help="HR side (multiple of 1024)")
    ap.add_argument("--tile-size", type=int, default=None,
                    help="pass --tile-size to mossfuse fuse (default: no tiling flag; the "
                         "memory budget decides)")
    ap.add_argument("--overlap", type=int, default=None)
    ap.add_argument("--memory-limit", default=None, help="pass --memory-limit")
    ap.add_argument("--methods", default="scalmu")
    ap.add_argument("--no-npy", action="store_true", help="no .npy-output runs of --methods")
    ap.add_argument("--workers", type=int, default=0,
                    help="also run the first method on a local Dask cluster of N workers")
    ap.add_argument("--geotiff", action="store_true",
                    help="also run the first method with a GeoTIFF output (rasterio windows)")
    ap.add_argument("--name", default="results", help="results file stem")
    ap.add_argument("--merge", action="store_true",
                    help="add the runs to those already in <name>.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the fused cubes")
    ap.add_argument("--results", type=Path, default=HERE)
    ap.add_argument("--render", action="store_true",
                    help="only rewrite results.md from the results.json beside it")
    args = ap.parse_args()
    json_path = args.results / f"{args.name}.json"
    md_path = args.results / f"{args.name}.md"
    if args.render:
        md_path.write_text(report(json.loads(json_path.read_text())))
        return
    if args.size % BLOCK:
        ap.error(f"--size must be a multiple of {BLOCK}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    import importlib.util

    methods = [m for m in args.methods.split(",") if m]
    if "gsa" in methods and importlib.util.find_spec("mossfuse.methods.gsa") is None:
        methods.remove("gsa")
    print(f"generating {args.size} x {args.size} pair in {args.workdir} ...", flush=True)
    gen = generate(args.workdir, args.size, args.seed)
    lr, hr = args.workdir / "lr_hsi.npy", args.workdir / "hr_msi.npy"
    runs = []
    plan = [] if args.no_npy else [(m, None, "npy") for m in methods]
    if args.geotiff:
        plan.append((methods[0], None, "tif"))
    if args.workers:
        plan.append((methods[0], args.workers, "npy"))
    for method, workers, ext in plan:
        out = args.workdir / f"fused_{method}{'_w' + str(workers) if workers else ''}.{ext}"
        opts = ["--lr-hsi", str(lr), "--hr-msi", str(hr), "--out", str(out),
                "--method", method, "--protocol", "mossfuse-x32"]
        if args.tile_size is not None:
            opts += ["--tile-size", str(args.tile_size)]
        if args.overlap is not None:
            opts += ["--overlap", str(args.overlap)]
        if args.memory_limit is not None:
            opts += ["--memory-limit", args.memory_limit]
        if workers:
            opts += ["--workers", str(workers)]
        cmd = [sys.executable, "-m", "mossfuse.cli", "fuse", *opts]
        print("running:", shlex.join(cmd), flush=True)
        res = measure(cmd)
        res["command"] = shlex.join(["mossfuse", "fuse", *opts])
        res["executed"] = shlex.join(["python", "-m", "mossfuse.cli", "fuse", *opts])
        res.update(method=method, workers=workers, output_format=ext,
                   tile_size_flag=args.tile_size,
                   megapixels_per_s=args.size**2 / 1e6 / res["seconds"])
        print(f"  {res['seconds']:.1f} s, peak RSS {res['peak_rss_bytes'] / 2**30:.2f} GiB, "
              f"tree {res['peak_tree_rss_bytes'] / 2**30:.2f} GiB, rc {res['returncode']}",
              flush=True)
        if res["returncode"] == 0:
            res["quality"] = quality(args.workdir, out, args.size, args.seed)
            res["output_bytes"] = out.stat().st_size
            print(f"  quality {res['quality']}", flush=True)
        if not args.keep:
            out.unlink(missing_ok=True)
        res["tiles"] = _tiles(args, method)
        runs.append(res)
    command = "nice -n 10 python benchmarks/large_scene/run.py " + shlex.join(sys.argv[1:])
    results = {"size": args.size, "ratio": RATIO, "bands": BANDS, "generation": gen,
               "machine": machine(), "runs": runs, "commands": [command]}
    if args.merge and json_path.exists():
        old = json.loads(json_path.read_text())

        def key(r: dict) -> tuple:
            return (r["method"], r.get("output_format"), r.get("workers"),
                    r.get("tile_size_flag"))

        new_keys = {key(r) for r in runs}
        results["runs"] = [r for r in old["runs"] if key(r) not in new_keys] + runs
        results["commands"] = [c for c in old.get("commands", [old.get("command", "")])
                               if c and c != command] + [command]
        results["generation"] = old.get("generation", gen)
    args.results.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    md_path.write_text(report(results))
    print(md_path.read_text())


def _tiles(args: argparse.Namespace, method: str) -> dict:
    """The tiles the run used: the explicit ``--tile-size``, or the memory budget's choice."""
    from mossfuse.engine.budget import choose_tiling, parse_memory
    from mossfuse.engine.tiling import plan_tiles

    tile, overlap, how = args.tile_size, args.overlap, "--tile-size"
    if tile is None:
        limit = None if args.memory_limit is None else parse_memory(args.memory_limit)
        choice = choose_tiling(method, BANDS, 3, (args.size, args.size), RATIO, limit)
        if choice is None:
            return {"how": "whole image (within the memory budget)"}
        tile, overlap, how = choice.tile, choice.overlap, "memory budget (no tiling flag)"
    plan = plan_tiles((args.size, args.size), RATIO, tile, overlap, method=method)
    return {"how": how, "tile": plan.tile, "overlap": plan.overlap, "margin": plan.margin,
            "grid": list(plan.grid_shape),
            "area_factor": plan.grid_shape[0] * plan.grid_shape[1] * plan.tile ** 2
            / args.size ** 2}


def _run_tiles(res: dict, r: dict) -> str:
    t = r.get("tiles")
    if t is None and "tile_size" in res:  # results.json of the earlier explicit-tile runs
        t = {"how": "--tile-size", "tile": res["tile_size"], "overlap": res["overlap"],
             "grid": res["tiles"]}
    if not t or "tile" not in t:
        return (t or {}).get("how", "?")
    how = "budget" if t["how"].startswith("memory budget") else t["how"]
    return f"{t['grid'][0]} x {t['grid'][1]} of {t['tile']} px, overlap {t['overlap']} ({how})"


def report(res: dict) -> str:
    m = res["machine"]
    size = res["size"]
    commands = res.get("commands") or [res.get("command", "")]
    lines = [
        f"# Large scene: {size} x {size} HR-MSI (3 bands) + {size // 32} x {size // 32} x 31 "
        "LR-HSI at x32, plain `mossfuse fuse`",
        "",
        "- Benchmark command(s): " + "; ".join(f"`{c.strip()}`" for c in commands),
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores (shared with other jobs), "
        f"{m['ram_gb']} GB RAM, {m['os']}; Python {m['python']}, numpy {m['numpy']}, "
        f"torch {m['torch']} ({m['torch_threads']} threads), CPU only",
        "- Data: smooth synthetic reflectance scene (5 endmembers, abundance fields with periods "
        "4096 to 48 px, shading), degraded with the `mossfuse-x32` physics 1024 x 1024 HR px at "
        f"a time ({_generation(res['generation'])}); inputs are `.npy` (H x W x bands) on local "
        "disk; outputs `.npy` or GeoTIFF (`tif`: tiled 256 x 256, uncompressed, rasterio "
        f"windows); the fused cube is {size * size * 31 * 4 / 1e9:.1f} GB of float32",
        "- Protocol: known degradation (`--protocol mossfuse-x32`); tiles: *budget* = no tiling "
        "flag, the memory budget (default min(4 GiB, 50 % of available RAM)) found the "
        "whole-image peak over the limit and tiled with the method's default tile "
        "(`engine.tiling.METHOD_TILE_PX`); the `tiling:` line it printed is in the json",
        "- Load: the 2 cores are shared with other jobs (and with the other benchmarks of this "
        "issue, run at the same time); the 1-minute load average before / mean while running / "
        "after is listed (2.0 = both cores busy), and timings scale with it",
        "- Peak memory: *peak RSS* = maximum resident set size of the `mossfuse fuse` process "
        "(GNU time `%M`, = `/usr/bin/time -v` \"Maximum resident set size\"); *tree*: sampled "
        "sum of VmRSS over the process and its children (Dask workers), every 0.2 s",
        "- Quality: PSNR (peak 1) / SAM on 8 random 256 x 256 windows against the regenerated "
        "reference",
        "",
        "| method | output | workers | tiles | time (s) | MP/s (HR) | peak RSS (GiB) | "
        "peak tree RSS (GiB) | PSNR (dB) | SAM (deg) | load before / mean / after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res["runs"]:
        q = r.get("quality", {})
        mean = r.get("load_avg_1min_mean")
        load = (f"{r['load_avg_1min'][0]:.1f} / {'-' if mean is None else f'{mean:.1f}'} / "
                f"{r['load_avg_1min'][1]:.1f}")
        failed = "" if r["returncode"] == 0 else f" (FAILED, rc {r['returncode']})"
        lines.append(
            f"| {r['method']}{failed} | {r.get('output_format', 'npy')} | "
            f"{r['workers'] or '-'} | {_run_tiles(res, r)} | {r['seconds']:.1f} | "
            f"{r['megapixels_per_s']:.3f} | {r['peak_rss_bytes'] / 2**30:.2f} | "
            f"{r['peak_tree_rss_bytes'] / 2**30:.2f} | "
            f"{q.get('psnr_db', float('nan')):.2f} | {q.get('sam_deg', float('nan')):.2f} | "
            f"{load} |"
        )
    lines += ["", "`mossfuse fuse` commands (run as `python -m mossfuse.cli fuse ...`):", ""]
    lines += [f"- `{r['command']}`" for r in res["runs"]]
    tl = [r for r in res["runs"] if r.get("tiling_line")]
    if tl:
        lines += ["", "What `mossfuse fuse` printed about tiling:", ""]
        lines += [f"- {r['method']} ({r.get('output_format', 'npy')}): `tiling: "
                  f"{r['tiling_line']}`" for r in tl]
    lines += ["", NOTES]
    return "\n".join(lines)


def _generation(gen: dict) -> str:
    if gen.get("seconds") is None:
        return "generated earlier"
    when = ", measured when first generated; reused since" if gen.get("reused") else ""
    return f"generation {gen['seconds']:.0f} s{when}"


NOTES = """Notes:

- Time is the wall time of the whole `mossfuse fuse` process: start-up and imports (a few
  seconds), reading the inputs by windows, fusing every tile, blending the overlaps and writing
  the output window by window (`.npy` through `np.lib.format.open_memmap`, GeoTIFF through
  rasterio windows), then the rename of the temporary file. MP/s counts output (HR) pixels of
  the scene, not the overlap recomputed.
- Peak memory stays below the 4 GB target because nothing scene-sized is ever held: one tile
  and its intermediates, the overlap strips still waiting for their second tile (at most one
  overlap-high strip of the scene's width, plus corners), and the output written in place.
- Quality is what the method gives on this smooth synthetic scene, reported to show the output
  is sane (not a method comparison; the CAVE mosaics in `benchmarks/tile_quality` are for that).
"""


if __name__ == "__main__":
    main()
