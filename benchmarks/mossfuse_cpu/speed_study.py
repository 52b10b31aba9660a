"""What makes MossFuse training converge faster per CPU-second (issue #15): dB per CPU-hour.

Two parts, both from the CPU recipe ``train_config.json`` (12 dev-train scenes, inputs only;
scored blind on the 4 dev-val scenes face, flowers, jelly_beans, oil_painting, whole 512 x 512
images, ``mossfuse-x32``, ``mossfuse-paper`` profile):

1. ``cost``: seconds (wall and process CPU) per network training step, for the knobs that keep
   the model's arithmetic (torch threads 1/2, channels-last) and those that change it
   (bfloat16 autocast, crop/batch at equal pixels per step). One process, ``--cost-steps``
   timed steps after 2 untimed ones, on the same crops for every setting.
2. ``quality``: short training runs (``--steps`` network steps after the recipe's 300
   degradation warm-up steps, cosine schedule over the run) of the variants that change what
   is learned per step: ``baseline`` (the recipe), ``bf16`` (bfloat16 autocast),
   ``crop32_b16`` (32 px crops, batch 16: the same pixels per step), ``warm_gsa`` (warm start:
   the first third of the network steps also fit the blind GSA fusion of each training pair,
   ``TrainConfig.warm_start``). Each run is a ``mossfuse train`` process (one torch thread,
   ``--jobs`` at a time); its CPU time is the child's rusage (user + system), not wall time,
   so it does not depend on what else runs.

Results: ``speed_study/results.md`` (+ ``cost.json``, ``quality.json``). Runs go to
``runs/speed_study/`` (not committed).

Usage::

    python benchmarks/mossfuse_cpu/speed_study.py cost [--cost-steps 8]
    python benchmarks/mossfuse_cpu/speed_study.py quality [--steps 300] [--jobs 2]
    python benchmarks/mossfuse_cpu/speed_study.py report
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "speed_study"

#: cost settings: (name, threads, channels_last, autocast, crop, batch)
COST_SETTINGS = [
    ("recipe: 1 thread, float32", 1, False, "none", 64, 4),
    ("1 thread, channels-last", 1, True, "none", 64, 4),
    ("1 thread, bf16 autocast", 1, False, "bfloat16", 64, 4),
    ("1 thread, bf16 autocast, channels-last", 1, True, "bfloat16", 64, 4),
    ("2 threads, float32", 2, False, "none", 64, 4),
    ("2 threads, channels-last", 2, True, "none", 64, 4),
    ("2 threads, bf16 autocast", 2, False, "bfloat16", 64, 4),
    ("2 threads, bf16 autocast, channels-last", 2, True, "bfloat16", 64, 4),
    ("1 thread, crop 32 x batch 16", 1, False, "none", 32, 16),
    ("1 thread, crop 128 x batch 1", 1, False, "none", 128, 1),
    ("2 threads, crop 32 x batch 16", 2, False, "none", 32, 16),
]

#: quality variants: TrainConfig overrides of the recipe (``{steps}``: the run's length)
VARIANTS: dict[str, dict] = {
    "baseline": {},
    "bf16": {"autocast": "bfloat16"},
    "crop32_b16": {"crop": 32, "batch_size": 16},
    "warm_gsa": {"warm_start": "gsa", "warm_start_steps": "{third}"},
    "crop32_b16_cl": {"crop": 32, "batch_size": 16, "channels_last": True},
}


def _recipe() -> dict:
    return json.loads((HERE / "train_config.json").read_text())["train"]


def _machine() -> str:
    load = os.getloadavg()
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
            f"CPU only; load average at the end {load[0]:.1f}")


# --------------------------------------------------------------------------------------------
def run_cost(args: argparse.Namespace) -> None:
    import torch

    from mossfuse.cli.options import named_scenes
    from mossfuse.data.cave import CaveDataset
    from mossfuse.methods.mossfuse.config import MossFuseConfig
    from mossfuse.methods.mossfuse.train import (
        TrainConfig,
        Trainer,
        adapt_model_config,
        simulate_training_inputs,
    )
    from mossfuse.methods.mossfuse.train.step import train_step
    from mossfuse.physics import get_protocol

    ds = CaveDataset(args.root)
    names = named_scenes(ds, None, "dev-train")[:3]
    inputs = simulate_training_inputs((ds.load(n) for n in names), get_protocol("mossfuse-x32"))
    model_cfg = adapt_model_config(MossFuseConfig(), inputs[0])
    rows = []
    for name, threads, cl, ac, crop, batch in COST_SETTINGS:
        base = {**_recipe(), "crop": crop, "batch_size": batch, "threads": threads,
                "channels_last": cl, "autocast": ac, "degradation_warmup_steps": 0,
                "warmup_steps": 0, "steps": args.cost_steps + 2, "validate_every": 0,
                "checkpoint_every": 0, "progress": False}
        trainer = Trainer(model_cfg, TrainConfig(**base), inputs)
        torch.set_num_threads(threads)
        for step in range(args.cost_steps + 2):
            if step == 2:  # two untimed steps first (allocator, oneDNN primitive caches)
                cpu0, wall0 = time.process_time(), time.perf_counter()
            crops = trainer.batcher.make(trainer.sampler.batch(step, batch, 0, 1))
            if cl:
                crops = {k: v.contiguous(memory_format=torch.channels_last)
                         for k, v in crops.items()}
            train_step(trainer.state, crops, autocast=ac)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        rows.append({"setting": name, "threads": threads, "channels_last": cl, "autocast": ac,
                     "crop": crop, "batch": batch, "steps": args.cost_steps,
                     "wall_s_per_step": wall / args.cost_steps,
                     "cpu_s_per_step": cpu / args.cost_steps})
        print(f"{name:45s} wall {wall / args.cost_steps:6.2f} s/step  "
              f"cpu {cpu / args.cost_steps:6.2f} s/step", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    doc = {"command": f"python benchmarks/mossfuse_cpu/speed_study.py cost --cost-steps "
                      f"{args.cost_steps}",
           "scenes": names, "machine": _machine(), "torch": torch.__version__, "rows": rows}
    (OUT / "cost.json").write_text(json.dumps(doc, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
def _child(cmd: list[str], log: Path) -> tuple[float, float]:
    """Run ``cmd``; returns (wall s, CPU s = user + system of the child)."""
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def train_variant(name: str, args: argparse.Namespace) -> dict:
    run = Path(args.runs) / f"{name}_{args.steps}"
    timing = run / "cpu_time.json"
    if timing.exists():
        return json.loads(timing.read_text())
    over = {k: (args.steps // 3 if v == "{third}" else v) for k, v in VARIANTS[name].items()}
    recipe = {**_recipe(), "steps": args.steps, "validate_every": 0, "checkpoint_every": 0,
              "threads": 1, "progress": False, **over}
    run.parent.mkdir(parents=True, exist_ok=True)
    cfg = run.parent / f"{name}_{args.steps}.json"
    cfg.write_text(json.dumps({"train": recipe}, indent=1))
    wall, cpu = _child(["mossfuse", "train", "--dataset", "cave", "--root", args.root,
                        "--protocol", "mossfuse-x32", "--split", "dev-train", "--config",
                        str(cfg), "--out", str(run)], run.parent / f"{name}_{args.steps}.log")
    doc = {"variant": name, "overrides": over, "steps": args.steps, "wall_s": wall,
           "cpu_s": cpu}
    timing.write_text(json.dumps(doc))
    return doc


def run_quality(args: argparse.Namespace) -> None:
    names = [v for v in args.variants.split(",") if v]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        sys.exit(f"unknown variants {sorted(unknown)}; expected {list(VARIANTS)}")
    with ThreadPoolExecutor(args.jobs) as pool:
        timings = list(pool.map(lambda n: train_variant(n, args), names))
    rows = []
    for t in timings:
        run = Path(args.runs) / f"{t['variant']}_{args.steps}"
        bench = Path(args.runs) / f"bench_{t['variant']}_{args.steps}"
        if not (bench / "summary.json").exists():
            _child(["mossfuse", "benchmark", "--root", args.root, "--protocol", "mossfuse-x32",
                    "--split", "dev-val", "--methods", "mossfuse", "--weights",
                    f"mossfuse={run / 'model'}", "--blind", "--profile", "mossfuse-paper",
                    "--no-figures", "--out", str(bench)], bench.with_suffix(".log"))
        m = json.loads((bench / "summary.json").read_text())["means"]["mossfuse"]
        rows.append({**t, **{k: m["mossfuse-paper"][k] for k in ("psnr", "ssim", "sam")}})
        print(rows[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "quality.json"
    old = json.loads(path.read_text())["rows"] if path.exists() else []
    keep = [r for r in old if (r["variant"], r["steps"]) not in
            {(r2["variant"], r2["steps"]) for r2 in rows}]
    doc = {"command": f"python benchmarks/mossfuse_cpu/speed_study.py quality --steps "
                      f"{args.steps} --jobs {args.jobs} --variants {','.join(names)}",
           "machine": _machine(), "rows": keep + rows}
    path.write_text(json.dumps(doc, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
def run_report(args: argparse.Namespace) -> None:
    cost = json.loads((OUT / "cost.json").read_text())
    lines = ["# MossFuse training: what converges faster per CPU-second", "",
             "Produced by `python benchmarks/mossfuse_cpu/speed_study.py cost|quality|report` "
             "(see its docstring). Recipe: `benchmarks/mossfuse_cpu/train_config.json`.", "",
             "## 1. Cost of a training step", "",
             f"Command: `{cost['command']}`; scenes {', '.join(cost['scenes'])} (inputs only, "
             f"x32); machine: {cost['machine']}; torch {cost['torch']}. CPU s = process "
             "user + system time; with 2 threads it counts both cores.", "",
             "| setting | crop x batch | wall s/step | CPU s/step | steps per CPU-hour | "
             "vs recipe (CPU) |", "|---|---|---|---|---|---|"]
    ref = cost["rows"][0]["cpu_s_per_step"]
    for r in cost["rows"]:
        lines.append(f"| {r['setting']} | {r['crop']} x {r['batch']} | "
                     f"{r['wall_s_per_step']:.2f} | {r['cpu_s_per_step']:.2f} | "
                     f"{3600 / r['cpu_s_per_step']:.0f} | {ref / r['cpu_s_per_step']:.2f}x |")
    qpath = OUT / "quality.json"
    if qpath.exists():
        q = json.loads(qpath.read_text())
        rows = sorted(q["rows"], key=lambda r: (r["steps"], r["variant"]))
        base = sorted((r for r in rows if r["variant"] == "baseline"), key=lambda r: r["cpu_s"])
        lines += ["", "## 2. Quality reached per CPU time", "",
                  "Commands: `python benchmarks/mossfuse_cpu/speed_study.py quality "
                  "--steps N --variants V` (each row one run; the latest: "
                  f"`{q['command']}`); "
                  f"machine: {q['machine']}. Each run: 300 degradation warm-up steps + the "
                  "network steps shown (cosine schedule over them), trained on the 12 "
                  "dev-train scenes (inputs only), one torch thread; scored blind on the 4 "
                  "dev-val scenes (whole 512 x 512 images, `mossfuse-x32`, `mossfuse-paper`). "
                  "CPU s: the training process's user + system time (warm-up included)."]
        if len(base) >= 2:
            b0, b1 = base[0], base[-1]
            per_doubling = (b1["psnr"] - b0["psnr"]) / math.log2(b1["cpu_s"] / b0["cpu_s"])
            per_hour = (b1["psnr"] - b0["psnr"]) / ((b1["cpu_s"] - b0["cpu_s"]) / 3600)
            lines += ["", f"**Baseline rate**: {b0['steps']} -> {b1['steps']} network steps "
                      f"gained {b1['psnr'] - b0['psnr']:+.2f} dB for "
                      f"{(b1['cpu_s'] - b0['cpu_s']) / 3600:.3f} CPU-hours: "
                      f"**{per_hour:.2f} dB per CPU-hour** at this stage "
                      f"({per_doubling:.2f} dB per doubling of CPU time). 'Baseline CPU s "
                      "for this PSNR' reads each variant's PSNR off the baseline's curve "
                      "(log-linear between its two runs, extrapolated outside them); "
                      "'efficiency' is that divided by the variant's own CPU s (> 1: the "
                      "variant reaches the same quality with less CPU time)."]
        lines += ["", "| variant | network steps | PSNR | SSIM | SAM | CPU s | wall s | "
                  "baseline CPU s for this PSNR | efficiency |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            extra = "| |"
            if len(base) >= 2:
                equiv = b0["cpu_s"] * 2 ** ((r["psnr"] - b0["psnr"]) / per_doubling)
                extra = f"| {equiv:.0f} | {equiv / r['cpu_s']:.2f}x |"
            lines.append(f"| {r['variant']} | {r['steps']} | {r['psnr']:.2f} | "
                         f"{r['ssim']:.3f} | {r['sam']:.2f} | {r['cpu_s']:.0f} | "
                         f"{r['wall_s']:.0f} {extra}")
    extra = OUT / "notes.md"
    if extra.exists():
        lines += ["", extra.read_text().strip()]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print((OUT / "results.md").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["cost", "quality", "report"])
    ap.add_argument("--root", default="../shared/data/cave")
    ap.add_argument("--cost-steps", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--runs", default="runs/speed_study")
    args = ap.parse_args()
    {"cost": run_cost, "quality": run_quality, "report": run_report}[args.part](args)


if __name__ == "__main__":
    main()
