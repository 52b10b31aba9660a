"""Robustness across degradations (MossFuse paper, appendix C, Fig. 9, 10 and 12).

For each protocol (default the six DAEM kernels ``daem-k0`` ... ``daem-k5``: 32 x 32 real
kernels, stride 32, sample centres ``32 k + 16``, SRF ``nikon_d700_nssr``) every method runs
**blind** on the chosen CAVE scenes through the benchmark runner
(:func:`mossfuse.bench.runner.run_benchmark`, one resumable folder per protocol). Then:

- PSNR and SAM distributions per protocol and method (violin plot with the median and the
  individual scenes), ``robustness_metrics.csv`` and the Markdown tables;
- the estimated versus true PSF and SRF per protocol: the classical blind estimator
  (:func:`mossfuse.physics.estimation.estimate_degradation`, the one GSA, CNMF and HySure call
  in blind mode, with their default settings) per scene, and MossFuse's learned degradation
  module (one estimate per checkpoint: the network does not re-estimate at inference). Errors
  by :func:`mossfuse.physics.estimation.degradation_error` (kernels aligned where they act on
  the HR grid, so a 31-tap estimate is compared with the 32-tap truth), a table
  (``degradation_errors.csv``) and a figure.

Output folder::

    OUT/<protocol>/           the benchmark runner's folder (records, per_scene.csv, figures)
    OUT/<protocol>/estimates/<scene>.json   classical estimate + errors (resumable)
    OUT/robustness_metrics.csv, OUT/degradation_errors.csv, OUT/summary.json
    OUT/robustness.md, OUT/robustness_psnr_sam.png, OUT/degradation_estimates.png
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mossfuse.analyses._common import (
    default_weights,
    machine_line,
    md_table,
    write_csv,
    write_json,
    write_text,
)
from mossfuse.errors import MossfuseInputError

DAEM_PROTOCOLS = [f"daem-k{k}" for k in range(6)]
DEFAULT_METHODS = ["gsa", "cnmf", "hysure", "mossfuse"]
CLASSICAL_ESTIMATOR = "classical"  # label of estimate_degradation's estimates


class RobustnessConfig(BaseModel):
    """What :func:`run_robustness` does (saved in ``summary.json``).

    ``weights`` maps ``method`` (all protocols) or ``protocol:method`` (one protocol) to a
    checkpoint; a learned method without one takes the shipped default when present.
    """

    model_config = ConfigDict(extra="forbid")
    root: str
    protocols: list[str] = Field(default_factory=lambda: list(DAEM_PROTOCOLS))
    methods: list[str] = Field(default_factory=lambda: list(DEFAULT_METHODS))
    scenes: list[str] | None = None
    split: str | None = None
    weights: dict[str, str] = Field(default_factory=dict)
    profile: str = "mossfuse-paper"
    estimate: bool = True
    seed: int = 0
    figure_scenes: int = 1
    threads: int | None = None
    command: str = ""


def weights_for(cfg: RobustnessConfig, protocol: str) -> dict[str, str]:
    """The ``{method: checkpoint}`` of one protocol (``protocol:method`` beats ``method``;
    the shipped default fills in for a learned method given none)."""
    out: dict[str, str] = {}
    for method in cfg.methods:
        path = cfg.weights.get(f"{protocol}:{method}", cfg.weights.get(method))
        path = path or default_weights(method)
        if path is not None:
            out[method] = str(path)
    return out


def _check_weights(cfg: RobustnessConfig) -> None:
    from mossfuse.methods import get_method
    from mossfuse.methods.base import TrainableMethod

    for method in cfg.methods:
        if not isinstance(get_method(method), TrainableMethod):
            continue
        missing = [p for p in cfg.protocols if method not in weights_for(cfg, p)]
        if missing:
            raise MossfuseInputError(
                f"method '{method}' needs trained weights: pass --weights {method}=PATH (or "
                f"PROTOCOL:{method}=PATH); none for {missing}"
            )


def _resolve_protocols(names: list[str], root: str | Path | None = None) -> list[Any]:
    """The protocols by name. ``daem-k*`` not registered yet (kernels not found from the
    working directory) are looked for beside the dataset: ``ROOT/../psf/daem_kernels``."""
    from mossfuse.physics.protocols import (
        available_protocols,
        get_protocol,
        register_daem_protocols,
    )

    daem = [n for n in names if n.startswith("daem-")]
    # registered, or kernels found where mossfuse.physics.daem looks
    if root is not None and daem and not set(daem) <= set(available_protocols()):
        beside = Path(root).resolve().parent / "psf" / "daem_kernels"
        if beside.is_dir():
            register_daem_protocols(beside)
    return [get_protocol(n) for n in names]


# ----------------------------------------------------------------------------------------------
# degradation estimates
# ----------------------------------------------------------------------------------------------
def classical_estimate(case: Any) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Blind classical estimate of one simulated case: ``(errors, srf (b, B), psf (k, k))``.

    Runs :func:`estimate_degradation` on ``case.inputs.blind()`` (what GSA/CNMF/HySure do in
    blind mode) and compares it with the protocol's truth (evaluation only).
    """
    from mossfuse.physics.estimation import degradation_error, estimate_degradation

    t0 = time.perf_counter()
    est = estimate_degradation(case.inputs.blind())
    seconds = time.perf_counter() - t0
    err = degradation_error(est, case.inputs.srf, case.inputs.psf,
                            true_centre=case.inputs.psf_centre, true_phase=case.inputs.phase)
    err["seconds"] = seconds
    err["offset"] = est.phase - est.centre  # HR position of tap 0 in the cell
    return err, est.srf, est.psf


def learned_estimate(weights: str, case: Any) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """MossFuse's learned degradation (its degradation module, as trained) against the truth
    of ``case``: ``(errors, srf, psf)``. The estimate does not depend on the scene."""
    from mossfuse.methods import load_method
    from mossfuse.physics.degradation import Degradation
    from mossfuse.physics.estimation import degradation_error

    method = load_method("mossfuse", None, weights)
    ex = method.degradation.export()  # type: ignore[attr-defined]
    est = Degradation(np.asarray(ex["kernel"]), np.asarray(ex["srf"]), int(ex["ratio"]),
                      int(ex["phase"]), int(ex["centre"]), source="mossfuse (learned)",
                      psf_sigma=ex["sigma"])
    if est.srf.shape != np.shape(case.inputs.srf):
        raise MossfuseInputError(f"MossFuse SRF {est.srf.shape} vs protocol SRF "
                                 f"{np.shape(case.inputs.srf)}", weights)
    err = degradation_error(est, case.inputs.srf, case.inputs.psf,
                            true_centre=case.inputs.psf_centre, true_phase=case.inputs.phase)
    err["eigenvalues"] = list(ex["eigenvalues"])
    err["offset"] = est.phase - est.centre
    return err, est.srf, est.psf


def _estimates_for_protocol(cfg: RobustnessConfig, proto: Any, scenes: list[str], ds: Any,
                            folder: Path, weights: dict[str, str]) -> dict[str, Any]:
    """Classical estimates per scene (cached in ``folder/estimates``) and MossFuse's."""
    per_scene: dict[str, dict[str, Any]] = {}
    first_case = None
    for scene in scenes:
        path = folder / "estimates" / f"{scene}.json"
        if path.exists():
            per_scene[scene] = json.loads(path.read_text())
            continue
        case = proto.simulate(ds.load(scene))
        first_case = first_case or case
        err, srf, psf = classical_estimate(case)
        rec = {"scene": scene, "protocol": proto.name, "errors": err, "srf": srf, "psf": psf}
        write_json(path, rec)
        per_scene[scene] = json.loads(json.dumps(rec, default=_np_list))
    learned: dict[str, Any] = {}
    for method, path in weights.items():
        if method != "mossfuse":
            continue
        case = first_case or proto.simulate(ds.load(scenes[0]))
        err, srf, psf = learned_estimate(path, case)
        learned[method] = {"errors": err, "srf": srf.tolist(), "psf": psf.tolist(),
                           "weights": path}
    return {"classical": per_scene, "learned": learned}


def _np_list(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.floating | np.integer):
        return o.item()
    raise TypeError(type(o).__name__)


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------
def run_robustness(cfg: RobustnessConfig, out: str | Path, progress: bool = True
                   ) -> dict[str, Any]:
    """Run (or resume) the robustness analysis and write everything under ``out``."""
    from mossfuse.bench.runner import BenchmarkConfig, _select_scenes, run_benchmark

    out = Path(out)
    protos = _resolve_protocols(cfg.protocols, cfg.root)
    _check_weights(cfg)
    t_start = time.perf_counter()
    metrics_rows: list[dict[str, Any]] = []
    error_rows: list[dict[str, Any]] = []
    truths: dict[str, dict[str, Any]] = {}
    estimates: dict[str, dict[str, Any]] = {}
    scenes: list[str] = []
    for proto in protos:
        weights = weights_for(cfg, proto.name)
        bcfg = BenchmarkConfig(
            dataset="cave", root=cfg.root, protocol=proto.name, methods=cfg.methods,
            scenes=cfg.scenes, split=cfg.split, weights=weights, degradation="blind",
            profiles=[cfg.profile], seed=cfg.seed, figures=cfg.figure_scenes > 0,
            figure_scenes=cfg.figure_scenes, threads=cfg.threads, command=cfg.command,
        )
        folder = out / proto.name
        summary = run_benchmark(bcfg, folder, progress=progress)
        scenes = list(summary["scenes"])
        for scene in scenes:
            for method in cfg.methods:
                rec = json.loads((folder / "records" / f"{scene}__{method}.json").read_text())
                metrics_rows.append({
                    "protocol": proto.name, "scene": scene, "method": method,
                    **rec["metrics"][cfg.profile], "seconds": rec["seconds"],
                    "peak_memory_mb": rec["peak_memory_mb"],
                })
        from mossfuse.physics.srf_library import CAVE_WAVELENGTHS_NM

        deg = proto.degradation(CAVE_WAVELENGTHS_NM)
        truths[proto.name] = {"srf": deg.srf, "psf": deg.psf, "phase": deg.phase,
                              "centre": deg.centre}
        if cfg.estimate:
            _, _, ds = _select_scenes(bcfg)
            est = _estimates_for_protocol(cfg, proto, scenes, ds, folder, weights)
            estimates[proto.name] = est
            error_rows += _error_rows(proto.name, est)
    seconds = time.perf_counter() - t_start
    summary = _summarise(cfg, metrics_rows, error_rows, scenes, seconds)
    write_csv(out / "robustness_metrics.csv", metrics_rows)
    if error_rows:
        write_csv(out / "degradation_errors.csv", error_rows)
    write_json(out / "summary.json", summary)
    _figures(out, cfg, metrics_rows, truths, estimates)
    write_text(out / "robustness.md", markdown_report(cfg, summary, protos))
    return summary


def _error_rows(protocol: str, est: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for scene, rec in est["classical"].items():
        rows.append({"protocol": protocol, "estimator": CLASSICAL_ESTIMATOR, "scene": scene,
                     **{k: v for k, v in rec["errors"].items() if not isinstance(v, list)}})
    for method, rec in est["learned"].items():
        rows.append({"protocol": protocol, "estimator": method, "scene": "(any)",
                     **{k: v for k, v in rec["errors"].items() if not isinstance(v, list)}})
    return rows


def _summarise(cfg: RobustnessConfig, metrics_rows: list[dict], error_rows: list[dict],
               scenes: list[str], seconds: float) -> dict[str, Any]:
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    for proto in cfg.protocols:
        metrics[proto] = {}
        for method in cfg.methods:
            rows = [r for r in metrics_rows if r["protocol"] == proto and r["method"] == method]
            if not rows:
                continue
            metrics[proto][method] = {
                f"{k}_{stat}": float(fn([r[k] for r in rows]))
                for k in ("psnr", "sam") if k in rows[0]
                for stat, fn in (("mean", np.mean), ("median", np.median), ("std", np.std))
            }
            metrics[proto][method]["seconds_median"] = float(np.median([r["seconds"]
                                                                        for r in rows]))
    errors: dict[str, dict[str, dict[str, float]]] = {}
    keys = ("sigma_true", "sigma_est", "sigma_abs_error", "psf_l1", "psf_max_abs",
            "srf_max_abs", "srf_rmse")
    for proto in cfg.protocols:
        errors[proto] = {}
        for est in sorted({r["estimator"] for r in error_rows if r["protocol"] == proto}):
            rows = [r for r in error_rows if r["protocol"] == proto and r["estimator"] == est]
            errors[proto][est] = {k: float(np.mean([r[k] for r in rows])) for k in keys}
            errors[proto][est]["n"] = len(rows)
    return {"config": cfg.model_dump(mode="json"), "scenes": scenes, "metrics": metrics,
            "estimation_errors": errors, "seconds": seconds, "machine": machine_line()}


# ----------------------------------------------------------------------------------------------
# figures and report
# ----------------------------------------------------------------------------------------------
def _figures(out: Path, cfg: RobustnessConfig, metrics_rows: list[dict],
             truths: dict[str, dict], estimates: dict[str, dict]) -> None:
    save_metric_violins(out / "robustness_psnr_sam.png", metrics_rows, cfg.protocols,
                        cfg.methods)
    if estimates:
        save_estimate_grid(out / "degradation_estimates.png", truths, estimates)


def save_metric_violins(path: Path, rows: list[dict], protocols: list[str],
                        methods: list[str], metrics: tuple[str, ...] = ("psnr", "sam"),
                        dpi: int = 90) -> Path:
    """Violin plots (with median and scenes as dots) of each metric per protocol and method."""
    from mossfuse.viz.canvas import new_figure, save_figure

    fig = new_figure(max(7.0, 1.2 + 0.55 * len(protocols) * max(1, len(methods))),
                      3.0 * len(metrics))
    axes = fig.subplots(len(metrics), 1, squeeze=False)[:, 0]
    width = 0.8 / max(1, len(methods))
    labels = {"psnr": "PSNR (dB, higher is better)", "sam": "SAM (deg, lower is better)"}
    for ax, metric in zip(axes, metrics, strict=True):
        for j, method in enumerate(methods):
            data, pos = [], []
            for i, proto in enumerate(protocols):
                vals = [r[metric] for r in rows if r["protocol"] == proto
                        and r["method"] == method and metric in r]
                if vals:
                    data.append(vals)
                    pos.append(i + (j - (len(methods) - 1) / 2) * width)
            if not data:
                continue
            parts = ax.violinplot(data, positions=pos, widths=width * 0.95, showmedians=True,
                                  showextrema=False)
            for body in parts["bodies"]:
                body.set_facecolor(f"C{j}")
                body.set_alpha(0.45)
            parts["cmedians"].set_color(f"C{j}")
            for p, vals in zip(pos, data, strict=True):
                ax.plot(np.full(len(vals), p), vals, ".", color=f"C{j}", ms=3, alpha=0.8)
            ax.plot([], [], color=f"C{j}", lw=6, alpha=0.5, label=method)
        ax.set_xticks(range(len(protocols)))
        ax.set_xticklabels(protocols)
        ax.set_ylabel(labels.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, ncol=len(methods), loc="lower left")
    axes[0].set_title("Blind fusion across degradations (violins over scenes, bar = median)",
                      fontsize=10)
    return save_figure(fig, path, dpi)


def save_estimate_grid(path: Path, truths: dict[str, dict], estimates: dict[str, dict],
                       dpi: int = 80) -> Path:
    """One row per protocol: true PSF, classical estimate (median-sigma scene), learned
    estimate (if any), their PSFs on the HR cell, and the SRF rows (true solid, classical
    dashed, learned dotted). Kernels are placed where they act in the 32-px cell."""
    from mossfuse.viz.canvas import new_figure, save_figure

    protos = list(estimates)
    learned = sorted({m for p in protos for m in estimates[p]["learned"]})
    ncols = 2 + len(learned) + 1
    fig = new_figure(2.3 * ncols + 1.5, 2.2 * len(protos) + 0.4)
    axes = fig.subplots(len(protos), ncols, squeeze=False)
    for i, proto in enumerate(protos):
        t = truths[proto]
        kt = np.asarray(t["psf"], dtype=np.float64)
        t0 = int(t["phase"]) - int(t["centre"])  # HR offset of tap 0 in the cell
        cell = max(kt.shape[0] + max(t0, 0), 32)
        panels = [("true", kt, t0)]
        cls = estimates[proto]["classical"]
        srf_c = None
        if cls:
            sig = {s: r["errors"]["sigma_est"] for s, r in cls.items()}
            scene = sorted(sig, key=sig.get)[len(sig) // 2]
            kc = np.asarray(cls[scene]["psf"], dtype=np.float64)
            panels.append((f"classical ({scene})", kc, int(cls[scene]["errors"]["offset"])))
            srf_c = np.mean([np.asarray(r["srf"]) for r in cls.values()], axis=0)
        for m in learned:
            rec = estimates[proto]["learned"].get(m)
            if rec is not None:
                km = np.asarray(rec["psf"], dtype=np.float64)
                panels.append((m, km, int(rec["errors"]["offset"])))
        vmax = max(float(k.max() / k.sum()) for _, k, _ in panels)
        for j, (name, k, off) in enumerate(panels):
            img = np.zeros((cell, cell))
            k = k / k.sum()
            off = max(off, 0)
            img[off: off + k.shape[0], off: off + k.shape[1]] = k[: cell - off, : cell - off]
            axes[i, j].imshow(img, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
            axes[i, j].set_title(f"{proto}: {name}" if j == 0 else name, fontsize=8)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        for j in range(len(panels), ncols - 1):
            axes[i, j].axis("off")
        ax = axes[i, -1]
        srf_t = np.asarray(t["srf"])
        wl = np.arange(400, 701, 10.0)[: srf_t.shape[1]]
        colours = ["tab:red", "tab:green", "tab:blue"]
        for b in range(srf_t.shape[0]):
            col = colours[b % 3]
            ax.plot(wl, srf_t[b], color=col, lw=1.6)
            if srf_c is not None:
                ax.plot(wl, srf_c[b], color=col, lw=1.2, ls="--")
            for m in learned:
                rec = estimates[proto]["learned"].get(m)
                if rec is not None:
                    ax.plot(wl, np.asarray(rec["srf"])[b], color=col, lw=1.2, ls=":")
        ax.set_title("SRF: true -, classical --, " + ", ".join(learned) + " :"
                     if learned else "SRF: true -, classical --", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle("Estimated vs true degradation per protocol (PSFs drawn on the 32-px HR cell "
                 "where they act; one colour scale per row)", fontsize=9)
    return save_figure(fig, path, dpi)


def markdown_report(cfg: RobustnessConfig, summary: dict[str, Any], protos: list[Any]) -> str:
    """The ``robustness.md`` report: setup, metric table, estimation-error table."""
    lines = [
        "# Robustness across degradations (paper appendix C, Fig. 9, 10, 12)", "",
        f"- Command: `{cfg.command or '(library call)'}`",
        f"- Scenes ({len(summary['scenes'])}): {', '.join(summary['scenes'])}",
        f"- Methods (all blind: no PSF/SRF given): {', '.join(cfg.methods)}",
        f"- Metric profile: `{cfg.profile}`",
        f"- Machine: {summary['machine']}",
        f"- Wall time of this run (including resumed records: see each protocol folder): "
        f"{summary['seconds'] / 60:.1f} min",
        "- Protocols:",
    ]
    for p in protos:
        lines.append(f"  - `{p.name}`: {p.description}")
    for method in cfg.methods:
        w = sorted({weights_for(cfg, p.name).get(method) for p in protos} - {None})
        if w:
            lines.append(f"- Weights of `{method}`: {', '.join(f'`{x}`' for x in w)}")
    lines += ["", "Figure: `robustness_psnr_sam.png` (violins over scenes). Per protocol: "
              "`<protocol>/results.md` (per-scene table), `<protocol>/per_scene.csv`.", "",
              "## PSNR / SAM per protocol (mean +- std over scenes, median)", ""]
    header = ["protocol"] + [f"{m} PSNR" for m in cfg.methods] + [f"{m} SAM" for m in cfg.methods]
    rows = []
    for proto in cfg.protocols:
        vals = summary["metrics"].get(proto, {})
        row = [proto]
        for key in ("psnr", "sam"):
            for m in cfg.methods:
                v = vals.get(m)
                row.append("-" if v is None else
                           f"{v[f'{key}_mean']:.2f} +- {v[f'{key}_std']:.2f} "
                           f"({v[f'{key}_median']:.2f})")
        rows.append(row)
    lines += md_table(header, rows)
    errs = summary["estimation_errors"]
    if any(errs.values()):
        lines += [
            "", "## Estimated vs true degradation (means over scenes)", "",
            "`classical` = `estimate_degradation` (isotropic Gaussian PSF, 31 taps, + NNLS SRF), "
            "as GSA/CNMF/HySure use it blind, one estimate per scene; a learned method's "
            "estimate is its trained degradation module (one per checkpoint, independent of "
            "the scene). Kernels are compared aligned on the HR grid (`degradation_error`); "
            "sigma = sqrt(mean covariance eigenvalue) of the kernel as sampled. Figure: "
            "`degradation_estimates.png`.", "",
        ]
        header = ["protocol", "estimator", "n", "sigma true", "sigma est", "|sigma err|",
                  "PSF L1", "PSF max abs", "SRF max abs", "SRF RMSE"]
        rows = []
        for proto, by_est in errs.items():
            for est, v in by_est.items():
                rows.append([proto, est, v["n"], v["sigma_true"], v["sigma_est"],
                             v["sigma_abs_error"], v["psf_l1"], v["psf_max_abs"],
                             v["srf_max_abs"], v["srf_rmse"]])
        lines += md_table(header, rows)
    lines.append("")
    return "\n".join(lines)


__all__ = ["DAEM_PROTOCOLS", "RobustnessConfig", "classical_estimate", "learned_estimate",
           "run_robustness", "save_estimate_grid", "save_metric_violins", "weights_for"]
