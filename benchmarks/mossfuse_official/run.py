"""The authors' released MossFuse weights through our inference vs our shipped weights, per-scene
adaptation, and the inference time of the fused path.

Protocol ``mossfuse-x32``, blind (``case.inputs.blind()``: no PSF/SRF given; every fit and fuse
sees the inputs only, the references go to the evaluator alone), metric profile
``mossfuse-paper`` (and ``standard`` PSNR/SAM). Parts (each resumable: one JSON per record in
``--out``):

1. ``official`` (``CAVE_32_model.pth``, imported by name) and ``shipped``
   (``src/mossfuse/weights/mossfuse_x32_cave16``) on the scenes of ``--scenes``.
   **Both were trained on all 16 local scenes** (the authors' 20-scene training split contains
   them; ours is the ``cave16`` run), so these are training-set numbers, not held-out ones.
2. Per-scene adaptation from the official weights (``MossFuse.adapted``: self-supervised
   training losses on random 128 px crops of the pair, batch 2, lr 1e-5 constant, BatchNorm
   frozen, ``--adapt-threads`` torch threads)
   on the scenes of ``--adapt-plan`` (``scene=max_steps``), scored at each of ``--adapt-steps``
   up to that scene's maximum (one run per scene; with a constant lr and seeded crops the first
   N steps of a longer run are exactly an N-step run). Seconds are training time only (the
   evaluations at the check points are excluded); fusing the pair afterwards costs one
   inference (part 3).
3. Inference time of the official weights through our fused path, 512 x 512 x 31 at x32, two
   threads, ``--repeats`` runs (median of the runs after the first, which includes oneDNN kernel
   generation), float32 and bfloat16; the bfloat16 path's PSNR on the dev-val scenes.

Usage::

    nice -n 10 python benchmarks/mossfuse_official/run.py [--root ../shared/data/cave]
        [--weights ../shared/data/weights/mossfuse_official/CAVE_32_model.pth]
        [--scenes all16] [--adapt-plan face=200,flowers=50,jelly_beans=50,oil_painting=50]
        [--adapt-steps 50,200,500] [--out benchmarks/mossfuse_official]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from mossfuse.bench.runner import evaluate_case
from mossfuse.bench.timing import measure_inference
from mossfuse.data.cave import DEV_SPLIT, CaveDataset
from mossfuse.methods.mossfuse import MossFuse
from mossfuse.methods.mossfuse.method import shipped_weights
from mossfuse.metrics import evaluate
from mossfuse.physics.protocols import get_protocol

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROFILES = ["mossfuse-paper", "standard"]
KEYS = ["psnr", "ssim", "sam", "ergas"]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _write(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, path)


def _models(weights: Path) -> dict[str, MossFuse]:
    official = MossFuse()
    official.load(weights)
    ours = MossFuse(inference_dtype="float32")
    ours.load(shipped_weights(31, 3, 32))
    return {"official": official, "shipped": ours}


def part_compare(args, ds, protocol, models, out: Path) -> list[dict]:
    rows = []
    (out / "records").mkdir(parents=True, exist_ok=True)
    for scene in args.scenes:
        case = None
        for name, model in models.items():
            path = out / "records" / f"{scene}__{name}.json"
            if path.exists():
                rows.append(json.loads(path.read_text()))
                continue
            case = case or protocol.simulate(ds.load(scene))
            t0 = time.perf_counter()
            res = model.fuse(case.inputs.blind())
            sec = time.perf_counter() - t0
            rec = {"scene": scene, "weights": name, "weights_path": res.info["weights_path"],
                   "metrics": evaluate_case(case, res, PROFILES), "fuse_seconds": sec,
                   "dev_val": scene in DEV_SPLIT["dev-val"], "load_avg": os.getloadavg()[0]}
            _write(path, rec)
            rows.append(rec)
            m = rec["metrics"]["mossfuse-paper"]
            print(f"{scene:28s} {name:9s} PSNR {m['psnr']:.2f} SAM {m['sam']:.2f} "
                  f"({sec:.1f} s)", flush=True)
    return rows


class _Evaluator:
    """Scores the adapted weights on the whole pair (holds the reference; the trainer only
    calls it with a ``fuse(inputs)`` function)."""

    def __init__(self, case):
        self._case = case

    def __call__(self, fuse) -> dict[str, float]:
        pred = fuse(self._case.inputs.blind())
        out = {}
        for p in PROFILES:
            vals = evaluate(pred, self._case.reference.cube, profile=p, ratio=32).values
            out.update({f"{p}/{k}": float(v) for k, v in vals.items()})
        out["psnr"] = out["mossfuse-paper/psnr"]
        return out


def part_adapt(args, ds, protocol, model: MossFuse, out: Path) -> list[dict]:
    rows = []
    (out / "adapt").mkdir(parents=True, exist_ok=True)
    for scene, max_steps in args.adapt_plan:
        path = out / "adapt" / f"{scene}.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
            continue
        case = protocol.simulate(ds.load(scene))
        points = [n for n in args.adapt_steps if n <= max_steps]
        every = int(np.gcd.reduce(points)) if points else max_steps
        torch.set_num_threads(args.adapt_threads)
        _, _, info = model.adapted(case.inputs.blind(), steps=max_steps,
                                   evaluator=_Evaluator(case), validate_every=every)
        curve, val_before = [], 0.0
        for h in info["history"]:
            if "val_seconds" not in h:
                continue
            if h["step"] in points:
                curve.append({
                    "steps": h["step"], "train_seconds": h["seconds"] - val_before,
                    "mossfuse-paper": {k: h[f"val_mossfuse-paper/{k}"] for k in KEYS},
                    "standard": {k: h[f"val_standard/{k}"] for k in ("psnr", "sam")},
                    "losses": {k: h[k] for k in ("ma", "sc", "de") if k in h},
                })
            val_before += h["val_seconds"]
        rec = {"scene": scene, "max_steps": max_steps, "crop": info["crop"],
               "threads": args.adapt_threads, "batchnorm": info["batchnorm"],
               "batch_size": info["batch_size"], "lr": info["lr"], "seed": info["seed"],
               "curve": curve, "load_avg": os.getloadavg()[0]}
        _write(path, rec)
        rows.append(rec)
        for c in curve:
            print(f"{scene:14s} adapt {c['steps']:4d} steps: PSNR "
                  f"{c['mossfuse-paper']['psnr']:.2f} SAM {c['mossfuse-paper']['sam']:.2f} "
                  f"({c['train_seconds']:.0f} s)", flush=True)
    return rows


def part_bf16(args, ds, protocol, weights: Path, out: Path) -> tuple[list[dict], dict]:
    """The official weights through the bfloat16 fused path on the dev-val scenes (its PSNR
    against the float32 records) and its timing."""
    model = MossFuse(inference_dtype="bfloat16")
    model.load(weights)
    rows = []
    for scene in [s for s in args.scenes if s in DEV_SPLIT["dev-val"]]:
        path = out / "records" / f"{scene}__official_bf16.json"
        if path.exists():
            rows.append(json.loads(path.read_text()))
            continue
        case = protocol.simulate(ds.load(scene))
        t0 = time.perf_counter()
        res = model.fuse(case.inputs.blind())
        rec = {"scene": scene, "weights": "official_bf16", "metrics": evaluate_case(
            case, res, PROFILES), "fuse_seconds": time.perf_counter() - t0,
            "load_avg": os.getloadavg()[0]}
        _write(path, rec)
        rows.append(rec)
        print(f"{scene:28s} official bfloat16 PSNR {rec['metrics']['mossfuse-paper']['psnr']:.2f}",
              flush=True)
    return rows, part_timing(args, model, out, torch.bfloat16, "timing_bf16.json")


def part_timing(args, model: MossFuse, out: Path, dtype: torch.dtype = torch.float32,
                name: str = "timing.json") -> dict:
    path = out / name
    if path.exists():
        return json.loads(path.read_text())
    t = measure_inference(model.net, size=512, ratio=32, threads=2, repeats=args.repeats,
                          dtype=dtype)
    later = t["wall_s"][1:] or t["wall_s"]
    t["median_wall_s_after_first"] = statistics.median(later)
    _write(path, t)
    print(f"inference 512x512x31 x32 {dtype}: median {t['median_wall_s_after_first']:.2f} s "
          f"(runs {[round(w, 2) for w in t['wall_s']]}, load {t['load_avg']:.1f})", flush=True)
    return t


def _fmt(m: dict) -> str:
    return " | ".join(f"{m[k]:.3f}" if k == "ssim" else f"{m[k]:.2f}" for k in KEYS)


def _mean(rows: list[dict], weights: str, scenes: list[str]) -> dict[str, float]:
    sel = [r for r in rows if r["weights"] == weights and r["scene"] in scenes]
    return {k: float(np.mean([r["metrics"]["mossfuse-paper"][k] for r in sel])) for k in KEYS}


def _one(rows: list[dict], key: str) -> str:
    vals = sorted({str(r.get(key)) for r in rows})
    return "/".join(vals) if vals else "-"


def report(args, compare, adapt, timing, out: Path, wall: float, bf16=None) -> None:
    prev = out / "results.json"
    total = wall + (json.loads(prev.read_text()).get("wall_seconds_total", 0.0)
                    if prev.exists() else 0.0)
    scenes = args.scenes
    dev = [s for s in scenes if s in DEV_SPLIT["dev-val"]]
    by = {(r["scene"], r["weights"]): r for r in compare}
    lines = [
        "# MossFuse: the authors' released weights through our inference, ours, adaptation",
        "",
        f"Command: `{args.command}`  ",
        f"Machine: {_cpu_name()}, {os.cpu_count()} logical cores, CPU only, torch "
        f"{torch.__version__}; **shared with other jobs** (load average per record in the JSON "
        "files; timings are noisy). Protocol `mossfuse-x32`, blind; metric profile "
        "`mossfuse-paper` (PSNR/SAM `standard` in the JSON). Scenes: the local CAVE copy "
        f"(`../shared/data/cave`). Wall time: {total / 60:.1f} min over all invocations "
        f"(this one {wall / 60:.1f} min; a re-run keeps the records already there).",
        "",
        "**Both weights were trained on all 16 of these scenes** (the authors' 20-scene "
        "training split contains them; ours is the `cave16` run): training-set numbers. The "
        "4 dev-val scenes (face, flowers, jelly_beans, oil_painting) are NOT held out from "
        "either.",
        "",
        "## Official weights (imported) vs our shipped weights",
        "",
        "| scene | official PSNR | SSIM | SAM | ERGAS | shipped PSNR | SSIM | SAM | ERGAS |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scenes:
        if (s, "official") in by and (s, "shipped") in by:
            lines.append(f"| {s}{' (dev-val)' if s in dev else ''} | "
                         f"{_fmt(by[(s, 'official')]['metrics']['mossfuse-paper'])} | "
                         f"{_fmt(by[(s, 'shipped')]['metrics']['mossfuse-paper'])} |")
    for label, sel in ((f"mean of {len(scenes)}", scenes), ("mean of the 4 dev-val", dev)):
        if sel:
            lines.append(f"| **{label}** | {_fmt(_mean(compare, 'official', sel))} | "
                         f"{_fmt(_mean(compare, 'shipped', sel))} |")
    secs = [r["fuse_seconds"] for r in compare if r["weights"] == "official"]
    lines += ["", f"Fuse time per scene (official weights, whole `fuse` call, loaded machine): "
              f"median {statistics.median(secs):.1f} s." if secs else ""]
    lines += [
        "", "## Per-scene adaptation from the official weights", "",
        "Self-supervised training losses only (L_MA, L_SC, L_DE; no reference), random "
        f"{_one(adapt, 'crop')} px crops of the pair, batch {_one(adapt, 'batch_size')}, Adam "
        f"lr {_one(adapt, 'lr')} constant, BatchNorm {_one(adapt, 'batchnorm')}, "
        f"{_one(adapt, 'threads')} torch thread(s). Step 0 = the official weights without "
        "adaptation (table above). Seconds: training only; fusing afterwards adds one "
        "inference. The lr was chosen on `face` (4 and 20 steps; 9e-5, the release's lr, lost "
        "1.0 dB in 4 steps): mild selection on a reported scene.", "",
        "| scene | steps | PSNR | SSIM | SAM | ERGAS | gain dB | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in adapt:
        base = by.get((r["scene"], "official"))
        if base is None:
            continue
        b = base["metrics"]["mossfuse-paper"]
        lines.append(f"| {r['scene']} | 0 | {_fmt(b)} | 0 | 0 |")
        for c in r["curve"]:
            m = c["mossfuse-paper"]
            lines.append(f"| {r['scene']} | {c['steps']} | {_fmt(m)} | "
                         f"{m['psnr'] - b['psnr']:+.2f} | {c['train_seconds']:.0f} |")
    lines += ["", "Not run: " + (args.not_run or "-"), ""]
    if timing:
        lines += [
            "## Inference time (official weights, our fused path)", "",
            f"512 x 512 x 31, x32, float32, two threads: runs "
            f"{', '.join(f'{w:.2f}' for w in timing['wall_s'])} s; **median after the first "
            f"{timing['median_wall_s_after_first']:.2f} s** (target <= 2 s); peak RSS "
            f"{timing['peak_rss_gb']:.2f} GB; load average before {timing['load_avg']:.1f}.",
            "",
        ]
    if bf16 is not None:
        rows, tb = bf16
        lines += [
            f"bfloat16 fused path (the shipped model's default on CPUs with bf16 units): runs "
            f"{', '.join(f'{w:.2f}' for w in tb['wall_s'])} s; **median after the first "
            f"{tb['median_wall_s_after_first']:.2f} s**; load average before "
            f"{tb['load_avg']:.1f}. Its output on the dev-val scenes:", "",
            "| scene | PSNR float32 | PSNR bfloat16 | SAM float32 | SAM bfloat16 |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            f32 = by.get((r["scene"], "official"))
            if f32 is None:
                continue
            a, b = f32["metrics"]["mossfuse-paper"], r["metrics"]["mossfuse-paper"]
            lines.append(f"| {r['scene']} | {a['psnr']:.3f} | {b['psnr']:.3f} | "
                         f"{a['sam']:.3f} | {b['sam']:.3f} |")
        lines.append("")
    (out / "results.md").write_text("\n".join(lines))
    summary = {
        "command": args.command, "protocol": "mossfuse-x32", "blind": True,
        "profile": "mossfuse-paper", "scenes": scenes, "dev_val": dev,
        "means": {w: {"all": _mean(compare, w, scenes), "dev_val": _mean(compare, w, dev)}
                  for w in ("official", "shipped")},
        "adaptation": adapt, "timing": timing, "wall_seconds": wall,
        "wall_seconds_total": total,
        "bfloat16": None if bf16 is None else {"records": bf16[0], "timing": bf16[1]},
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count()},
    }
    _write(out / "results.json", summary)
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "cave"))
    ap.add_argument("--weights", default=str(
        REPO.parent / "shared" / "data" / "weights" / "mossfuse_official" / "CAVE_32_model.pth"))
    ap.add_argument("--scenes", default="all16", help="comma list, or all16")
    ap.add_argument("--adapt-plan",
                    default="face=200,flowers=50,jelly_beans=50,oil_painting=50",
                    help="scene=max_steps,... (empty: skip)")
    ap.add_argument("--adapt-steps", default="50,200,500", help="check points")
    ap.add_argument("--not-run", default="", help="what was left out, for the report")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--adapt-threads", type=int, default=1,
                    help="torch threads of the adaptation (1: on the loaded 2-core machine a "
                         "step took 5-6 s with one thread, 12-16 s with two)")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()
    args.command = "python benchmarks/mossfuse_official/run.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in (
            ("scenes", args.scenes), ("adapt_plan", args.adapt_plan),
            ("adapt_steps", args.adapt_steps), ("adapt_threads", args.adapt_threads)))
    ds = CaveDataset(args.root)
    args.scenes = list(ds.scenes) if args.scenes == "all16" else [
        s for s in args.scenes.split(",") if s]
    args.adapt_plan = [(s.split("=")[0], int(s.split("=")[1]))
                       for s in args.adapt_plan.split(",") if s]
    args.adapt_steps = sorted(int(s) for s in args.adapt_steps.split(",") if s)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    protocol = get_protocol("mossfuse-x32")
    t0 = time.perf_counter()
    models = _models(Path(args.weights))
    compare = part_compare(args, ds, protocol, models, out)
    timing = part_timing(args, models["official"], out)
    bf16 = part_bf16(args, ds, protocol, Path(args.weights), out)
    adapt = part_adapt(args, ds, protocol, models["official"], out)
    report(args, compare, adapt, timing, out, time.perf_counter() - t0, bf16)


if __name__ == "__main__":
    main()
