"""Benchmark runner: data -> protocol -> methods -> metrics, tables and figures, in one run.

Every method sees only ``case.inputs`` (:class:`~mossfuse.data.scene.FusionInputs`); the
reference is read here, by the evaluator alone. Results are written per (scene, method) as they
finish, so an interrupted run resumes where it stopped: a finished record whose run key (the
protocol, method config, degradation mode and profiles) matches is not recomputed.

Output folder layout::

    OUT/config.json            the exact benchmark config, protocol JSON and library versions
    OUT/records/<scene>__<method>.json   one finished fusion (metrics, time, memory, estimates)
    OUT/per_scene.csv          one row per (scene, method, profile)
    OUT/summary.json           means per (method, profile) + everything above
    OUT/results.md             Markdown tables (means and per scene) with the command
    OUT/figures/<scene>_*.png  composites + error maps, spectra, estimated vs true SRF/PSF
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mossfuse._atomic import atomic_path, write_csv, write_json
from mossfuse.bench.memory import PeakMemory
from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError
from mossfuse.physics.protocols import Protocol, SimulatedCase, get_protocol
from mossfuse.provenance import json_default, library_versions


class BenchmarkConfig(BaseModel):
    """What a benchmark run does; saved as ``config.json``."""

    model_config = ConfigDict(extra="forbid")
    dataset: Literal["cave"] = "cave"
    root: str
    protocol: str = "mossfuse-x32"
    methods: list[str] = Field(default_factory=lambda: ["bicubic"])
    method_configs: dict[str, dict] = Field(default_factory=dict)
    weights: dict[str, str] = Field(default_factory=dict)  # method -> checkpoint path
    scenes: list[str] | None = None
    split: str | None = None
    degradation: Literal["known", "blind"] = "known"
    profiles: list[str] = Field(default_factory=lambda: ["mossfuse-paper"])
    seed: int = 0
    figures: bool = True
    figure_scenes: int = 4  # figures for the first N scenes only (keeps result folders small)
    threads: int | None = None
    command: str = ""


def machine_description() -> dict[str, object]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return {
        "cpu": cpu, "logical_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(), "gpu": "none (CPU only)",
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def _run_key(cfg: BenchmarkConfig, protocol: Protocol, method: str) -> str:
    payload = json.dumps({
        "protocol": protocol.model_dump(mode="json"), "method": method,
        "method_config": cfg.method_configs.get(method, {}), "degradation": cfg.degradation,
        "weights": cfg.weights.get(method),
        "profiles": cfg.profiles, "seed": cfg.seed,
    }, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _select_scenes(cfg: BenchmarkConfig) -> tuple[list[str], list[str], object]:
    from mossfuse.data.cave import CaveDataset

    ds = CaveDataset(cfg.root)
    if cfg.scenes:
        missing = [s for s in cfg.scenes if s not in list(ds.scenes)]
        if missing:
            raise MossfuseInputError(
                f"scenes not found under {cfg.root}: {missing}; present: {list(ds.scenes)}"
            )
        return list(cfg.scenes), [], ds
    if cfg.split:
        sel = ds.split(cfg.split)
        return list(sel.present), list(sel.missing), ds
    return list(ds.scenes), [], ds


def _seed_everything(seed: int) -> None:
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - methods may use the legacy global RNG
    torch.manual_seed(seed)


def fuse_and_measure(method_name: str, method_config: dict, inputs: FusionInputs, seed: int,
                     weights: str | None = None):
    """Run one method on one pair; returns (result, wall seconds, peak memory in bytes)."""
    from mossfuse.methods import load_method

    _seed_everything(seed)
    method = load_method(method_name, method_config or None, weights)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        result = method.fuse(inputs)
        wall = time.perf_counter() - t0
    return result, wall, mem.delta_bytes


def evaluate_case(case: SimulatedCase, result, profiles: list[str]) -> dict[str, dict]:
    """Metrics of ``result`` against the case's reference, for each profile (evaluator only)."""
    from mossfuse.metrics import evaluate

    return {
        p: dict(evaluate(result.hr_hsi, case.reference.cube, profile=p,
                         ratio=case.protocol.ratio).values)
        for p in profiles
    }


def degradation_errors(case: SimulatedCase, result) -> dict[str, float]:
    """Errors of estimated SRF/PSF against the protocol's truth (when the method estimated)."""
    out: dict[str, float] = {}
    if result.estimated_srf is not None and case.inputs.srf is not None:
        est = np.asarray(result.estimated_srf, dtype=np.float64)
        if est.shape == case.inputs.srf.shape:
            out["srf_max_abs_error"] = float(np.abs(est - case.inputs.srf).max())
    if result.estimated_psf is not None and case.inputs.psf is not None:
        from mossfuse.physics.psf import kernel_moments

        est_k = np.asarray(result.estimated_psf, dtype=np.float64)
        true_k = np.asarray(case.inputs.psf, dtype=np.float64)
        out["psf_sigma_est"] = kernel_moments(est_k)["sigma"]
        out["psf_sigma_true"] = kernel_moments(true_k)["sigma"]
        out["psf_sigma_error"] = out["psf_sigma_est"] - out["psf_sigma_true"]
        if est_k.shape == true_k.shape:
            out["psf_kernel_l1_error"] = float(np.abs(est_k / est_k.sum() - true_k).sum())
    return out


def run_benchmark(cfg: BenchmarkConfig, out: str | Path, progress: bool = True,
                  resume: bool = True) -> dict:
    """Run (or resume) a benchmark and write all its outputs under ``out``.

    ``resume=False`` refuses an ``out`` that already holds finished fusions (so two different
    runs are never mixed by accident); ``resume=True`` reuses every finished record whose run
    key matches and recomputes the others.
    """
    import torch
    from tqdm import tqdm

    from mossfuse.methods import available_methods

    out = Path(out)
    done = sorted((out / "records").glob("*.json")) if (out / "records").is_dir() else []
    if done and not resume:
        raise MossfuseInputError(
            f"the benchmark folder already holds {len(done)} finished fusions; pass --resume "
            "to continue that run (finished records with the same config are reused) or give "
            "an empty --out", out)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    unknown = [m for m in cfg.methods if m not in available_methods()]
    if unknown:
        raise MossfuseInputError(f"unknown methods {unknown}; available: {available_methods()}")
    protocol = get_protocol(cfg.protocol)
    scenes, missing, ds = _select_scenes(cfg)
    if not scenes:
        raise MossfuseInputError(f"no scenes to run under {cfg.root} (missing: {missing})")
    header = {
        "config": cfg.model_dump(mode="json"), "protocol": protocol.model_dump(mode="json"),
        "scenes": scenes, "missing_scenes": missing, "versions": library_versions(),
        "machine": machine_description(),
    }
    write_json(out / "config.json", header)
    records: list[dict] = []
    bar = tqdm(total=len(scenes) * len(cfg.methods), disable=not progress, unit="fusion",
               desc="benchmark")
    for index, scene_name in enumerate(scenes):
        case: SimulatedCase | None = None
        preds: dict[str, np.ndarray] = {}
        estimates: dict[str, tuple] = {}
        for method in cfg.methods:
            key = _run_key(cfg, protocol, method)
            rec_path = out / "records" / f"{scene_name}__{method}.json"
            bar.set_postfix_str(f"{scene_name} / {method}")
            if rec_path.exists():
                rec = json.loads(rec_path.read_text())
                if rec.get("run_key") == key:
                    records.append(rec)
                    bar.update(1)
                    continue
            if case is None:
                case = protocol.simulate(ds.load(scene_name))
            inputs = case.inputs if cfg.degradation == "known" else case.inputs.blind()
            result, wall, mem = fuse_and_measure(
                method, cfg.method_configs.get(method, {}), inputs, cfg.seed,
                cfg.weights.get(method),
            )
            rec = {
                "run_key": key, "scene": scene_name, "method": method,
                "degradation": cfg.degradation, "protocol": protocol.name,
                "metrics": evaluate_case(case, result, cfg.profiles),
                "seconds": wall, "peak_memory_mb": mem / 2**20,
                "estimation": degradation_errors(case, result),
                "info": {k: v for k, v in result.info.items() if _is_serialisable(v)},
            }
            write_json(rec_path, rec)
            records.append(rec)
            preds[method] = result.hr_hsi
            estimates[method] = (result.estimated_srf, result.estimated_psf)
            bar.update(1)
        if cfg.figures and case is not None and preds and index < cfg.figure_scenes:
            _scene_figures(out / "figures", scene_name, case, preds, estimates)
    bar.close()
    summary = _summarise(records, cfg, header)
    _write_tables(out, records, summary, cfg, header)
    return summary


def _is_serialisable(v) -> bool:
    try:
        json.dumps(v, default=json_default)
        return True
    except TypeError:
        return False


def _summarise(records: list[dict], cfg: BenchmarkConfig, header: dict) -> dict:
    means: dict[str, dict[str, dict[str, float]]] = {}
    for method in cfg.methods:
        rs = [r for r in records if r["method"] == method]
        if not rs:
            continue
        means[method] = {}
        for p in cfg.profiles:
            keys = rs[0]["metrics"][p].keys()
            means[method][p] = {k: float(np.mean([r["metrics"][p][k] for r in rs])) for k in keys}
        means[method]["timing"] = {
            "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
            "seconds_median": float(np.median([r["seconds"] for r in rs])),
            "peak_memory_mb_max": float(np.max([r["peak_memory_mb"] for r in rs])),
        }
        est_keys = sorted({k for r in rs for k in r["estimation"]})
        if est_keys:
            means[method]["estimation"] = {
                k: float(np.mean([r["estimation"][k] for r in rs if k in r["estimation"]]))
                for k in est_keys
            }
    return {**header, "means": means, "n_records": len(records)}


def _write_tables(out: Path, records, summary, cfg: BenchmarkConfig, header) -> None:
    rows = []
    for r in records:
        for p, vals in r["metrics"].items():
            rows.append({"scene": r["scene"], "method": r["method"], "profile": p,
                         "degradation": r["degradation"], **vals, "seconds": r["seconds"],
                         "peak_memory_mb": r["peak_memory_mb"], **r["estimation"]})
    write_csv(out / "per_scene.csv", rows)
    write_json(out / "summary.json", summary)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(markdown_report(records, summary, cfg, header))


def markdown_report(records, summary, cfg: BenchmarkConfig, header) -> str:
    m = header["machine"]
    lines = [
        f"# Benchmark: {cfg.dataset}, protocol `{cfg.protocol}`, degradation {cfg.degradation}",
        "",
        f"- Command: `{cfg.command or '(library call)'}`",
        f"- Scenes ({len(header['scenes'])}): {', '.join(header['scenes'])}",
    ]
    if header["missing_scenes"]:
        lines.append(f"- Missing scenes of the split: {', '.join(header['missing_scenes'])}")
    lines += [
        f"- Protocol: {header['protocol']['description']}",
        f"- Metric profiles: {', '.join(cfg.profiles)}",
        f"- Machine: {m['cpu']}, {m['logical_cores']} logical cores, torch threads "
        f"{m['torch_threads']}, {m['gpu']}, 1/5/15-min load average at start "
        f"{m.get('load_average_at_start')}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in header['versions'].items())}",
        "- Time budget: none beyond each method's own iteration settings (see config.json)",
        "",
    ]
    for p in cfg.profiles:
        keys = list(next(iter(summary["means"].values()))[p].keys())
        lines += [f"## Means, profile `{p}`", "",
                  "| method | " + " | ".join(keys) + " | s / scene (median) | peak MB |",
                  "|---" * (len(keys) + 3) + "|"]
        for method, vals in summary["means"].items():
            t = vals["timing"]
            lines.append(f"| {method} | " + " | ".join(_fmt(vals[p][k]) for k in keys)
                         + f" | {t['seconds_median']:.2f} | {t['peak_memory_mb_max']:.0f} |")
        lines.append("")
    est = {k: v["estimation"] for k, v in summary["means"].items() if "estimation" in v}
    if est:
        lines += ["## Degradation estimates (means over scenes)", ""]
        for method, vals in est.items():
            lines.append(f"- {method}: " + ", ".join(f"{k} {v:.4g}" for k, v in vals.items()))
        lines.append("")
    p0 = cfg.profiles[0]
    keys = ["psnr", "sam"] if "psnr" in records[0]["metrics"][p0] else []
    if keys:
        lines += [f"## Per scene, profile `{p0}` (PSNR / SAM, seconds)", "",
                  "| scene | " + " | ".join(cfg.methods) + " |", "|---" * (len(cfg.methods) + 1)
                  + "|"]
        for scene in header["scenes"]:
            cells = []
            for method in cfg.methods:
                r = next((r for r in records if r["scene"] == scene and r["method"] == method),
                         None)
                cells.append("" if r is None else
                             f"{r['metrics'][p0]['psnr']:.2f} / {r['metrics'][p0]['sam']:.2f} "
                             f"({r['seconds']:.1f} s)")
            lines.append(f"| {scene} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _fmt(v: float) -> str:
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"


def _scene_figures(folder: Path, scene: str, case: SimulatedCase, preds: dict, estimates) -> None:
    from mossfuse import viz

    ref = case.reference
    wl = ref.wavelengths_nm

    def to_rgb(c):
        return viz.hsi_to_rgb(c, wl)

    lr_up = np.repeat(np.repeat(case.inputs.lr_hsi, case.protocol.ratio, 1), case.protocol.ratio, 2)
    msi = case.inputs.hr_msi
    msi_rgb = np.clip(np.moveaxis(msi[:3] / max(float(np.percentile(msi[:3], 99.5)), 1e-6), 0, -1),
                      0, 1)
    panels = {"reference": to_rgb(ref.cube), "LR-HSI (nearest)": to_rgb(lr_up),
              "HR-MSI": msi_rgb}
    errors = {}
    for name, pred in preds.items():
        panels[name] = to_rgb(np.clip(pred, 0, 1))
        errors[name] = np.sqrt(np.mean((np.clip(pred, 0, 1) - ref.cube) ** 2, axis=0))
    viz.save_comparison_figure(folder / f"{scene}_composites.png", panels, errors,
                                   f"{scene}: RGB composites and per-pixel RMSE over bands",
                                   error_label="RMSE", dpi=80)
    H, W = ref.shape_hw
    pixels = [(H // 4, W // 4), (H // 2, W // 2), (3 * H // 4, 3 * W // 4)]
    viz.save_spectra_figure(folder / f"{scene}_spectra.png", ref.cube, preds, pixels, wl,
                                dpi=80)
    for name, (srf_est, psf_est) in estimates.items():
        if srf_est is not None or psf_est is not None:
            viz.save_srf_psf_figure(
                folder / f"{scene}_{name}_degradation.png", case.inputs.srf, srf_est,
                case.inputs.psf, psf_est, wl, list(case.inputs.msi_band_names), dpi=80,
            )

