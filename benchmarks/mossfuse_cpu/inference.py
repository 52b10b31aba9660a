"""MossFuse inference speed, memory and accuracy: float32 vs bfloat16 fused path, real scenes.

Each dtype runs in its own process (so the peak resident memory is that dtype's alone): load
the weights, fuse each scene once to warm up (oneDNN kernel generation, workspace), then
``--repeats`` more times; report the median wall time per 512 x 512 x 31 scene at x32, the
process's peak RSS, and the ``mossfuse-paper`` PSNR/SAM of the output (the evaluator alone
holds the references), so the speed of bfloat16 is shown together with what it costs in
accuracy.

Usage::

    python benchmarks/mossfuse_cpu/inference.py [--weights PATH] [--root ../shared/data/cave]
        [--scenes face,flowers,jelly_beans,oil_painting] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(args: argparse.Namespace) -> dict:
    import torch

    from mossfuse.data.cave import CaveDataset
    from mossfuse.methods.mossfuse import MossFuse
    from mossfuse.metrics import evaluate
    from mossfuse.physics.protocols import get_protocol

    torch.set_num_threads(args.threads)
    protocol = get_protocol("mossfuse-x32")
    ds = CaveDataset(args.root)
    cases = [protocol.simulate(ds.load(s)) for s in args.scenes.split(",") if s]
    model = MossFuse(inference_dtype=args.dtype)
    if args.weights:
        runtime = {"inference_dtype": args.dtype}
        model.load(args.weights)
        model.config = model.config.model_copy(update=runtime)
    load = os.getloadavg()[0]
    times, quality = [], {}
    for case in cases:
        inputs = case.inputs.blind()
        result = model.fuse(inputs)  # warm-up (also loads the shipped weights if needed)
        per = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = model.fuse(inputs)
            per.append(time.perf_counter() - t0)
        times.append(statistics.median(per))
        quality[case.reference.name] = dict(
            evaluate(result.hr_hsi, case.reference.cube, profile="mossfuse-paper",
                     ratio=protocol.ratio).values
        )
    return {
        "dtype": args.dtype, "threads": args.threads, "weights": model.weights_path,
        "median_seconds_per_scene": statistics.median(times), "seconds_per_scene": times,
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "load_avg_before": load, "load_avg_after": os.getloadavg()[0],
        "psnr_mean": statistics.fmean(q["psnr"] for q in quality.values()),
        "sam_mean": statistics.fmean(q["sam"] for q in quality.values()),
        "quality": quality,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=None, help="checkpoint (default: the shipped one)")
    ap.add_argument("--root", default="../shared/data/cave")
    ap.add_argument("--scenes", default="face,flowers,jelly_beans,oil_painting")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dtype", default=None, help=argparse.SUPPRESS)  # child process
    ap.add_argument("--out", default=str(HERE / "inference"))
    args = ap.parse_args()
    if args.dtype:
        print(json.dumps(measure(args)))
        return
    rows = []
    for dtype in ("float32", "bfloat16"):
        cmd = [sys.executable, __file__, "--dtype", dtype, "--root", args.root, "--scenes",
               args.scenes, "--threads", str(args.threads), "--repeats", str(args.repeats)]
        if args.weights:
            cmd += ["--weights", args.weights]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(done.stderr)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "# MossFuse inference: whole 512 x 512 x 31 scenes at x32 (fused path)", "",
        f"Command: `python benchmarks/mossfuse_cpu/inference.py --threads {args.threads} "
        f"--repeats {args.repeats}" + (f" --weights {args.weights}" if args.weights else "")
        + "`  ",
        f"Scenes: {args.scenes} (mossfuse-x32, blind inputs); weights: "
        f"`{rows[0]['weights']}`; {os.cpu_count()}-core CPU, {args.threads} torch threads; "
        "median over scenes of the median of the repeats (after one warm-up per scene). "
        "Target: <= 2 s and <= 3 GB.", "",
        "| dtype | median s/scene | peak RSS GB | PSNR | SAM | load avg before/after |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dtype']} | {r['median_seconds_per_scene']:.2f} | {r['peak_rss_gb']:.2f} | "
            f"{r['psnr_mean']:.2f} | {r['sam_mean']:.2f} | {r['load_avg_before']:.1f} / "
            f"{r['load_avg_after']:.1f} |"
        )
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
