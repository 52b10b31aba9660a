"""The no-download demo: synthesise a scene, degrade it, fuse it, score it, draw it.

1. a 31-band (400-700 nm) dead-leaves scene painted with colour-science's measured reflectances
   (:mod:`mossfuse.data.dead_leaves`);
2. a named simulation protocol (:func:`mossfuse.physics.get_protocol`) makes the LR-HSI and the
   HR-MSI (``wald-x8`` at 256 x 256 by default; ``mossfuse-x32`` needs 512 x 512 to leave a
   16 x 16 LR-HSI);
3. a registered method fuses ``case.inputs`` only (never the reference);
4. metrics against ``case.reference``; a table is printed and, in ``out_dir``: ``demo.png``
   (sRGB renderings and a per-pixel SAM map), ``demo_spectra.png``, ``fused.npy``
   (``H x W x bands`` float32) and ``metrics.json``.

>>> from mossfuse.bench.demo import run_demo
>>> summary = run_demo("demo_out", size=64, verbose=False)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from mossfuse._atomic import atomic_path, write_json

RGB_NOTE = (
    "HSI panels: reflectance under CIE D65 seen by the CIE 1931 2-degree observer, linear sRGB, "
    "one gain for all (99th percentile of the reference), sRGB curve; HR-MSI panel: camera RGB "
    "(the protocol's SRF), own gain, sRGB curve, not colour-managed"
)


def demo_scene_config(size: int, seed: int):
    """The demo's dead-leaves parameters (mixed shapes, spectral texture, mild shading/blur)."""
    from mossfuse.data.dead_leaves import DeadLeavesConfig

    return DeadLeavesConfig(
        size=(size, size), shape="mixed", texture="spectral", texture_strength=0.6,
        texture_scale=max(size / 64, 2.0), gradient=0.3, blur_sigma=0.6, seed=seed,
    )


def _evaluate(pred, ref, ratio: int, profile: str | None) -> tuple[dict[str, float], str]:
    """Metrics through :func:`mossfuse.metrics.evaluate` (default profile unless given)."""
    from mossfuse.metrics import evaluate

    kwargs: dict[str, Any] = {"ratio": ratio}
    if profile is not None:
        kwargs["profile"] = profile
    report = evaluate(pred, ref, **kwargs)
    values = {k: float(v) for k, v in report.values.items()}
    return values, f"mossfuse.metrics ({getattr(report, 'profile', profile) or 'default'})"


def _write_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        np.save(tmp, arr)


def run_demo(
    out_dir: str | Path,
    *,
    size: int = 256,
    protocol: str = "wald-x8",
    seed: int = 0,
    method: str = "cnmf",
    metrics_profile: str | None = None,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the demo (module docstring) and return a summary.

    Args:
        out_dir: folder for the outputs (created).
        size: scene side in pixels (the protocol crops it to a multiple of its ratio).
        protocol: protocol name or JSON file (:func:`mossfuse.physics.get_protocol`).
        seed: seed of the scene.
        method: registered method name (:func:`mossfuse.methods.base.get_method`).
        metrics_profile: metric profile passed to ``mossfuse.metrics.evaluate`` (None: its
            default).
        verbose: print the table.

    Returns:
        dict with ``metrics``, ``metrics_source``, ``files`` (paths), ``timings_s``,
        ``protocol``, ``method``, ``scene``.
    """
    from mossfuse import viz
    from mossfuse.data.dead_leaves import generate_dead_leaves
    from mossfuse.data.spectral_library import reflectance_library
    from mossfuse.methods.base import get_method
    from mossfuse.physics import get_protocol

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    cfg = demo_scene_config(size, seed)
    library = reflectance_library(cfg.wavelengths_nm)
    scene = generate_dead_leaves(cfg, library)
    timings["scene"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    proto = get_protocol(protocol)
    case = proto.simulate(scene)
    timings["simulate"] = time.perf_counter() - t0

    fuser = get_method(method)
    result = fuser.fuse(case.inputs)
    timings["fuse"] = float(result.info.get("fuse_seconds", np.nan))

    ref = case.reference.cube
    wl = case.reference.wavelengths_nm
    t0 = time.perf_counter()
    values, metrics_source = _evaluate(result.hr_hsi, ref, case.inputs.ratio, metrics_profile)
    baseline = get_method("bicubic").fuse(case.inputs).hr_hsi  # what fusion must beat
    baseline_values, _ = _evaluate(baseline, ref, case.inputs.ratio, metrics_profile)
    timings["metrics"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    gain = viz.hsi_rgb_gain(ref, wl)
    r = case.inputs.ratio
    h_lr, w_lr = case.inputs.lr_hsi.shape[1:]
    panels = {
        "reference": viz.hsi_to_rgb(ref, wl, gain=gain),
        f"LR-HSI {h_lr}x{w_lr} (nearest x{r})":
            viz.hsi_to_rgb(viz.nearest_upsample(case.inputs.lr_hsi, r), wl, gain=gain),
        "HR-MSI (camera RGB)": viz.msi_to_rgb(case.inputs.hr_msi,
                                                  case.inputs.msi_band_names),
        f"{method} result": viz.hsi_to_rgb(result.hr_hsi, wl, gain=gain),
    }
    sam = viz.sam_map(result.hr_hsi, ref)
    headline = ", ".join(f"{k} {v:.4g}" for k, v in list(values.items())[:3])
    fig_path = viz.save_comparison_figure(
        out / "demo.png", panels, {f"{method} SAM": sam},
        title=f"dead leaves {ref.shape[1]}x{ref.shape[2]}x{ref.shape[0]} (seed {seed}), "
              f"{proto.name}, {method}: {headline}",
        error_label="SAM per pixel (deg)",
    )
    worst = np.unravel_index(int(np.argmax(sam)), sam.shape)
    rng = np.random.default_rng(seed)
    pix = [tuple(int(v) for v in worst)] + [
        (int(rng.integers(ref.shape[1])), int(rng.integers(ref.shape[2]))) for _ in range(3)
    ]
    spectra_path = viz.save_spectra_figure(
        out / "demo_spectra.png", ref, {method: result.hr_hsi}, pix, wl,
        title="spectra (first panel: the worst-SAM pixel)",
    )
    timings["figures"] = time.perf_counter() - t0

    fused_path = out / "fused.npy"
    _write_npy(fused_path, np.ascontiguousarray(np.moveaxis(result.hr_hsi, 0, -1)))
    metrics_path = out / "metrics.json"
    summary: dict[str, Any] = {
        "metrics": values,
        "baseline_bicubic_metrics": baseline_values,
        "metrics_source": metrics_source,
        "method": method,
        "method_config": result.info.get("config"),
        "protocol": proto.model_dump(mode="json"),
        "scene": {k: v for k, v in scene.meta.items()},
        "shape_bhw": list(ref.shape),
        "timings_s": timings,
        "rgb_rendering": RGB_NOTE,
        "files": {
            "figure": str(fig_path),
            "spectra_figure": str(spectra_path),
            "fused": str(fused_path),
            "metrics": str(metrics_path),
        },
    }
    write_json(metrics_path, summary)
    if verbose:
        print(format_table(summary))
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """The demo's printed report."""
    b, h, w = summary["shape_bhw"]
    lines = [
        f"mossfuse demo: dead leaves {h}x{w}x{b}, protocol {summary['protocol']['name']}, "
        f"method {summary['method']}",
        f"metrics: {summary['metrics_source']}",
        f"  {'metric':<10}{summary['method']:>12}{'bicubic':>12}",
    ]
    base = summary.get("baseline_bicubic_metrics", {})
    lines += [f"  {k:<10}{v:>12.4f}{base.get(k, float('nan')):>12.4f}"
              for k, v in summary["metrics"].items()]
    t = summary["timings_s"]
    lines.append("time (s): " + ", ".join(f"{k} {v:.3f}" for k, v in t.items()))
    lines += [f"wrote {summary['files'][k]}" for k in ("figure", "spectra_figure", "fused",
                                                       "metrics")]
    return "\n".join(lines)
