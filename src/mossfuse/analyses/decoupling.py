"""Modality decoupling analysis (MossFuse paper, Sec. 4.4, Fig. 7).

The two encoders of a MossFuse model split each input into a shared and a complementary
feature map: ``S_Y, C_Y`` (HR-MSI) and ``S_x, C_x`` (upsampled LR-HSI), each ``(C, H, W)``.
For one scene this module

- reports the four cosine similarities ``L_SC`` (eq. 8) acts on, computed exactly as the loss
  does (whole flattened tensors): ``cos(S_Y, S_x)`` (pulled up) and ``cos(S_Y, C_Y)``,
  ``cos(S_x, C_x)``, ``cos(C_Y, C_x)`` (pushed down), and the value of ``L_SC`` itself;
- samples the same pixels of the four maps (each pixel a ``C``-vector), projects the union on
  its first two principal components (numpy SVD of the centred samples) and draws them
  coloured by set;
- scores the separation of the sets in the full ``C``-dimensional feature space: for sets
  ``a, b`` with centroids ``m_a, m_b`` and RMS spreads ``s_a, s_b`` (root mean squared distance
  to the centroid), ``sep(a, b) = |m_a - m_b| / sqrt((s_a^2 + s_b^2) / 2)``. The paper's
  picture (shared features overlap, complementary features apart from the shared ones and from
  each other) means ``sep(S_Y, S_x)`` small and the five other pairs large; the
  **decoupling score** is ``mean(five other pairs) / sep(S_Y, S_x)``.

The same numbers for an untrained network of the same config (seeded) are computed beside the
trained one, as the control.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mossfuse.analyses._common import fmt, machine_line, md_table, write_json, write_text
from mossfuse.data.scene import FusionInputs
from mossfuse.errors import MossfuseInputError

SETS = ("S_Y", "C_Y", "S_x", "C_x")
#: The four cosine terms of L_SC: (name, set a, set b); the first is the one pulled up.
COSINE_TERMS = (("cos(S_Y,S_x)", "S_Y", "S_x"), ("cos(S_Y,C_Y)", "S_Y", "C_Y"),
                ("cos(S_x,C_x)", "S_x", "C_x"), ("cos(C_Y,C_x)", "C_Y", "C_x"))
SHARED_PAIR = ("S_Y", "S_x")


def encode_features(net: torch.nn.Module, inputs: FusionInputs) -> dict[str, torch.Tensor]:
    """The four decoupled features ``{"S_Y", "C_Y", "S_x", "C_x"}`` of one pair, each
    ``(C, H, W)`` float32, from ``net.encode`` in eval mode (no gradient)."""
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            s_y, c_y, s_x, c_x, _ = net.encode(
                torch.from_numpy(np.ascontiguousarray(inputs.hr_msi, dtype=np.float32))[None],
                torch.from_numpy(np.ascontiguousarray(inputs.lr_hsi, dtype=np.float32))[None],
            )
    finally:
        net.train(was_training)
    return {"S_Y": s_y[0], "C_Y": c_y[0], "S_x": s_x[0], "C_x": c_x[0]}


def cosine_terms(features: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """The cosines of ``L_SC`` (whole flattened tensors, as the loss) and ``L_SC`` itself."""
    from mossfuse.methods.mossfuse.losses import flat_cosine, subspace_clustering_loss

    f = {k: torch.as_tensor(v)[None] if torch.as_tensor(v).ndim == 3 else torch.as_tensor(v)
         for k, v in features.items()}
    out = {name: float(flat_cosine(f[a], f[b])) for name, a, b in COSINE_TERMS}
    out["L_SC"] = float(subspace_clustering_loss(f["S_Y"], f["C_Y"], f["S_x"], f["C_x"]))
    out["cos_gap"] = out["cos(S_Y,S_x)"] - max(out[n] for n, _, _ in COSINE_TERMS[1:])
    return out


def sample_pixels(features: Mapping[str, Any], n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """The same ``n`` random pixels (without replacement) of every ``(C, H, W)`` map, as
    ``(n, C)`` float64 arrays (all pixels when the map has fewer)."""
    maps = {k: np.asarray(torch.as_tensor(v), dtype=np.float64) for k, v in features.items()}
    c, h, w = next(iter(maps.values())).shape
    idx = np.random.default_rng(seed).permutation(h * w)[: min(n, h * w)]
    return {k: m.reshape(m.shape[0], -1)[:, idx].T for k, m in maps.items()}


def pca_2d(samples: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Joint PCA of the union of the sample sets (centred, SVD): ``({set: (n, 2)},
    explained variance ratios of the first two components)``."""
    names = list(samples)
    x = np.concatenate([samples[k] for k in names], axis=0)
    x = x - x.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    var = s**2
    ratio = var[:2] / max(var.sum(), 1e-300)
    proj = x @ vt[:2].T
    out, start = {}, 0
    for k in names:
        n = len(samples[k])
        out[k] = proj[start: start + n]
        start += n
    return out, ratio


def separation(samples: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Centroid distance over pooled RMS spread for every pair of sets, and the decoupling
    score ``mean(non-shared pairs) / sep(S_Y, S_x)`` (see module docstring)."""
    cent = {k: v.mean(axis=0) for k, v in samples.items()}
    spread = {k: float(np.sqrt(((v - cent[k]) ** 2).sum(axis=1).mean()))
              for k, v in samples.items()}
    pairs: dict[str, float] = {}
    for a, b in combinations(samples, 2):
        pooled = np.sqrt((spread[a] ** 2 + spread[b] ** 2) / 2)
        pairs[f"{a}|{b}"] = float(np.linalg.norm(cent[a] - cent[b]) / max(pooled, 1e-12))
    shared_key = f"{SHARED_PAIR[0]}|{SHARED_PAIR[1]}"
    if shared_key not in pairs:
        shared_key = f"{SHARED_PAIR[1]}|{SHARED_PAIR[0]}"
    out: dict[str, Any] = {"pairs": pairs, "spread": spread}
    others = [v for k, v in pairs.items() if k != shared_key]
    if shared_key in pairs and others:
        out["shared_separation"] = pairs[shared_key]
        out["other_separation_mean"] = float(np.mean(others))
        out["other_separation_min"] = float(np.min(others))
        out["score"] = out["other_separation_mean"] / max(pairs[shared_key], 1e-12)
    return out


def analyse_features(features: Mapping[str, torch.Tensor], n_pixels: int = 4000,
                     seed: int = 0) -> dict[str, Any]:
    """Cosines, PCA (2-D coordinates and explained variance) and separation of one model's
    features; the 2-D coordinates are under ``"pca"`` (arrays)."""
    samples = sample_pixels(features, n_pixels, seed)
    coords, ratio = pca_2d(samples)
    return {"cosines": cosine_terms(features), "separation": separation(samples),
            "pca_explained": ratio.tolist(), "pca": coords,
            "feature_rms": {k: float(torch.as_tensor(v).pow(2).mean().sqrt())
                            for k, v in features.items()}}


def save_pca_figure(path: Path, panels: Mapping[str, Mapping[str, Any]], title: str = "",
                    dpi: int = 90) -> Path:
    """One scatter panel per model (``{label: analyse_features(...)}``), points coloured by
    set (S_Y, C_Y, S_x, C_x), with the explained variance and the decoupling score."""
    from mossfuse.viz.canvas import new_figure, save_figure

    fig = new_figure(4.6 * len(panels), 4.4)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    colours = {"S_Y": "tab:blue", "S_x": "tab:cyan", "C_Y": "tab:red", "C_x": "tab:orange"}
    for ax, (label, res) in zip(axes, panels.items(), strict=True):
        for k, xy in res["pca"].items():
            ax.scatter(xy[:, 0], xy[:, 1], s=3, alpha=0.35, color=colours.get(k), label=k,
                       rasterized=True)
        ev = res["pca_explained"]
        sep = res["separation"]
        ax.set_title(f"{label}\nPC1 {100 * ev[0]:.0f} %, PC2 {100 * ev[1]:.0f} %; "
                     f"score {sep.get('score', float('nan')):.2f}", fontsize=9)
        ax.set_xlabel("PC1")
        ax.set_ylabel("PC2")
        leg = ax.legend(fontsize=8, markerscale=4)
        for h in leg.legend_handles:
            h.set_alpha(1)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi)


def run_decoupling(
    weights: str | Path, scene: str, root: str | Path, out: str | Path, *,
    protocol: str = "mossfuse-x32", n_pixels: int = 4000, seed: int = 0,
    crop: int | None = None, compare_untrained: bool = True, command: str = "",
) -> dict[str, Any]:
    """Encode one CAVE scene with a checkpoint (and an untrained control), analyse and write
    ``decoupling.md``, ``decoupling.json`` and ``decoupling_pca.png`` under ``out``.

    Args:
        weights: MossFuse checkpoint (``.safetensors`` with its ``.json``).
        scene: CAVE scene name under ``root``.
        protocol: protocol that simulates the inputs (only the inputs reach the network).
        n_pixels: pixels sampled per set for PCA and the separation score.
        crop: centred crop (HR px, a multiple of r) to encode instead of the whole scene.
        compare_untrained: also analyse a freshly initialised network (``torch.manual_seed``
            ``seed``) of the same config.
    """
    from mossfuse.data.cave import CaveDataset
    from mossfuse.methods import load_method
    from mossfuse.methods.mossfuse.network import MossFuseNet
    from mossfuse.methods.mossfuse.train import centre_crop_case
    from mossfuse.physics import get_protocol

    out = Path(out)
    t0 = time.perf_counter()
    method = load_method("mossfuse", None, weights)
    if not getattr(method, "trained", False):
        raise MossfuseInputError("the checkpoint is marked untrained", weights)
    proto = get_protocol(protocol)
    case = proto.simulate(CaveDataset(root).load(scene))
    inputs = case.inputs.blind()
    if crop is not None:
        inputs, _ = centre_crop_case(inputs, case.reference.cube, crop)
    net = method.net  # type: ignore[attr-defined]
    results = {"trained": analyse_features(encode_features(net, inputs), n_pixels, seed)}
    if compare_untrained:
        torch.manual_seed(seed)
        fresh = MossFuseNet(method.config)  # type: ignore[arg-type]
        results["untrained"] = analyse_features(encode_features(fresh, inputs), n_pixels, seed)
    seconds = time.perf_counter() - t0
    save_pca_figure(out / "decoupling_pca.png",
                    {f"{k} ({scene}, {inputs.hr_msi.shape[1]}x{inputs.hr_msi.shape[2]})": v
                     for k, v in results.items()},
                    title="PCA of the decoupled features (same pixels in each set)")
    doc = {
        "weights": str(weights), "scene": scene, "protocol": protocol, "crop": crop,
        "n_pixels": n_pixels, "seed": seed, "seconds": seconds, "machine": machine_line(),
        "command": command,
        "results": {k: {kk: vv for kk, vv in v.items() if kk != "pca"}
                    for k, v in results.items()},
    }
    write_json(out / "decoupling.json", doc)
    write_text(out / "decoupling.md", markdown_report(doc))
    return doc


def markdown_report(doc: Mapping[str, Any]) -> str:
    """``decoupling.md``: setup, the L_SC cosines and the separation table."""
    res = doc["results"]
    labels = list(res)
    lines = [
        "# Modality decoupling (paper Fig. 7)", "",
        f"- Command: `{doc.get('command') or '(library call)'}`",
        f"- Weights: `{doc['weights']}`; untrained control: same config, "
        f"`torch.manual_seed({doc['seed']})`" if "untrained" in res else
        f"- Weights: `{doc['weights']}`",
        f"- Scene: `{doc['scene']}` under `{doc['protocol']}` (blind inputs"
        + (f", centred crop {doc['crop']} px" if doc.get("crop") else ", whole scene") + ")",
        f"- Pixels sampled per set: {doc['n_pixels']} (seed {doc['seed']})",
        f"- Machine: {doc['machine']}; {doc['seconds']:.1f} s", "",
        "Figure: `decoupling_pca.png`.", "",
        "## Cosine similarities that L_SC acts on (whole flattened tensors, as the loss)", "",
        "L_SC raises cos(S_Y,S_x) and lowers the other three; `cos_gap` = cos(S_Y,S_x) - the "
        "largest of the other three (> 0: the shared pair is the most similar).", "",
    ]
    keys = [n for n, _, _ in COSINE_TERMS] + ["L_SC", "cos_gap"]
    lines += md_table(["model", *keys],
                      [[lab, *[res[lab]["cosines"][k] for k in keys]] for lab in labels])
    lines += [
        "", "## Separation in feature space", "",
        "sep(a, b) = centroid distance / pooled RMS spread of the sampled pixel features "
        "(C-dimensional). Expected after decoupling: S_Y vs S_x small, the other pairs large; "
        "score = mean(other pairs) / sep(S_Y, S_x).", "",
    ]
    pairs = list(next(iter(res.values()))["separation"]["pairs"])
    lines += md_table(
        ["model", *[q.replace("|", " vs ") for q in pairs], "score"],
        [[lab, *[res[lab]["separation"]["pairs"][p] for p in pairs],
          res[lab]["separation"].get("score")] for lab in labels],
    )
    lines += ["", "PCA explained variance (PC1, PC2): " + "; ".join(
        f"{lab} {fmt(res[lab]['pca_explained'][0])}, {fmt(res[lab]['pca_explained'][1])}"
        for lab in labels), "",
        "Feature RMS per set: " + "; ".join(
        f"{lab}: " + ", ".join(f"{k} {fmt(v)}" for k, v in res[lab]["feature_rms"].items())
        for lab in labels), ""]
    return "\n".join(lines)


__all__ = ["COSINE_TERMS", "SETS", "analyse_features", "cosine_terms", "encode_features",
           "pca_2d", "run_decoupling", "sample_pixels", "save_pca_figure", "separation"]
