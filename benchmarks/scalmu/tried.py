"""Post-hoc changes to SCALMU that were tried and not adopted, and the diagnosis behind them.

On synthetic dead-leaves validation pairs (the training script's validation seed; no CAVE
scene), with the shipped x32 weights and no retraining, it scores:

- ``shipped``: SCALMU as shipped (K layers, then the guided residual layer and the
  MSI-consistency step);
- ``no MSI-consistency step``: the same with the step's gain ``kappa`` set to 0;
- ``E A (no final layer)``: the product of the last layer's factors, without the guided
  residual layer (what SCALMU returned before that layer existed, with these weights);
- ``guided upsampling alone``: ``G(X)`` of the final layer's local linear guide, no NMF at all;
- ``back-projection``: one final multiplicative correction of every band by the guided
  upsampling ``G`` of its LR-HSI residual ratio, ``Z <- Z * G(X / S(Z))``;
- ``mass correction``: after the last layer, abundances rescaled towards a fresh LR unmixing of
  ``X`` with the final endmembers, ``A <- A * G(A_lr / S(A))^0.5``, then 2 MSI-only updates;
- ``oracle abundances``: the best non-negative abundances for the final endmembers given the
  reference (an upper bound, not a method: it shows what limits SCALMU).

Usage: python benchmarks/scalmu/tried.py [--pairs 8] [--out benchmarks/scalmu/tried.md]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from scipy.optimize import nnls

from mossfuse.methods.scalmu.data import SyntheticPairs
from mossfuse.methods.scalmu.network import (
    DEFAULT_SHAPE,
    GuidedUpsampler,
    LocalLinearGuide,
    ScalmuNet,
    make_problem,
    run_scalmu,
)
from mossfuse.physics import get_protocol

HERE = Path(__file__).resolve().parent
WEIGHTS = HERE.parents[1] / "src" / "mossfuse" / "weights" / "scalmu_mossfuse-x32"
VAL_SEED = 1_000_003  # ScalmuTrainConfig seed 0 + the trainer's validation offset


def _psnr(z: np.ndarray, ref: np.ndarray) -> float:
    return float(np.mean([10 * np.log10(1 / np.mean((z[i] - ref[i]) ** 2))
                          for i in range(ref.shape[0])]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--out", default=str(HERE / "tried.md"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    meta = json.loads(WEIGHTS.with_suffix(".json").read_text())
    net = ScalmuNet(int(meta["n_layers"]))
    net.load_state_dict(load_file(str(WEIGHTS.with_suffix(".safetensors"))))
    vals = net.layer_values()
    net_no_msi = copy.deepcopy(net)
    with torch.no_grad():
        net_no_msi.kappa_raw.fill_(-40.0)  # softplus -> kappa ~ 0
    shape = {key: int(meta.get(key, default)) for key, default in DEFAULT_SHAPE.items()}
    proto = get_protocol("mossfuse-x32")
    wl = np.arange(400, 701, 10.0)
    deg = proto.degradation(wl)
    pairs = SyntheticPairs(deg, 256, wl, None, VAL_SEED)
    rows: dict[str, list[float]] = {}
    rng = np.random.default_rng(0)
    for i in range(args.pairs):
        pair = pairs[i]
        ref = pair.reference
        pb = make_problem(pair.inputs.lr_hsi, pair.inputs.hr_msi, pair.inputs.srf, deg.spatial())
        with torch.no_grad():
            out = run_scalmu(net, pb, **shape)
            z, e = out.z, out.endmembers
            p, (n_b, h, w), (big_h, big_w) = e.shape[1], pb.x.shape, pb.y.shape[1:]
            rows.setdefault("shipped", []).append(_psnr(z.numpy(), ref))
            z0 = run_scalmu(net_no_msi, pb, **shape).z
            rows.setdefault("no MSI-consistency step", []).append(_psnr(z0.numpy(), ref))
            ea = (e @ out.abundances.reshape(e.shape[1], -1)).reshape(ref.shape)
            rows.setdefault("E A (no final layer)", []).append(_psnr(ea.clamp(0, 1).numpy(), ref))
            g_x = LocalLinearGuide(pb).apply(pb.x, math.exp(float(net.log_eps_g)))
            rows.setdefault("guided upsampling alone", []).append(
                _psnr(g_x.clamp(0, 1).numpy(), ref))
            gu = GuidedUpsampler(pb)
            # back-projection of the LR-HSI residual
            g = gu.weights(torch.tensor(0.1), torch.tensor(0.5), torch.tensor(0.7))
            corr = gu.apply((pb.x + 1e-4) / (pb.spatial(z) + 1e-4), g)
            rows.setdefault("back-projection", []).append(
                _psnr((z * corr).clamp(0, 1).numpy(), ref))
            # mass correction of the abundances
            xm = pb.x.reshape(n_b, -1)
            a_lr = torch.full((p, h * w), 1.0 / p)
            for _ in range(200):
                a_lr = a_lr * (e.T @ xm) / (e.T @ e @ a_lr + 1e-9)
            a = out.abundances.reshape(p, -1).clone()
            g = gu.weights(torch.tensor(vals["tau_c"][-1]), torch.tensor(vals["tau_i"][-1]),
                           torch.tensor(1.0))
            ratio = ((a_lr + 1e-4) / (pb.spatial(a.reshape(p, big_h, big_w)).reshape(p, -1)
                                      + 1e-4)).reshape(p, h, w)
            a = a * gu.apply(ratio, g).reshape(p, -1).sqrt()
            ym = pb.y.reshape(pb.y.shape[0], -1)
            delta = (2.0 * math.sqrt(float(ym.mean()) / 0.7455) / ym.shape[0] ** 3
                     * vals["delta_mult"][0])
            wm = torch.cat([pb.srf @ e, delta * torch.ones(1, p)], 0)
            ya = torch.cat([ym, delta * torch.ones(1, ym.shape[1])], 0)
            for _ in range(2):
                a = a * (wm.T @ ya) / (wm.T @ wm @ a + 1e-9)
            rows.setdefault("mass correction", []).append(
                _psnr((e @ a).reshape(n_b, big_h, big_w).clamp(0, 1).numpy(), ref))
        # oracle abundances (uses the reference: a bound, never a method)
        em, rm = e.double().numpy(), ref.reshape(n_b, -1)
        idx = rng.choice(rm.shape[1], 3000, replace=False)
        fit = np.stack([em @ nnls(em, rm[:, j])[0] for j in idx], 1)
        rows.setdefault("oracle abundances (sampled pixels)", []).append(
            float(10 * np.log10(1 / np.mean((fit - rm[:, idx]) ** 2))))
    lines = ["# SCALMU: post-hoc changes tried and not adopted", "",
             f"Command: `python benchmarks/scalmu/tried.py --pairs {args.pairs}`. Synthetic "
             f"dead-leaves validation pairs (seed {VAL_SEED}, 256 x 256, x32 protocol "
             "`mossfuse-x32`), shipped x32 weights, no retraining. Mean PSNR over the pairs "
             "(the oracle row: over 3,000 sampled pixels per pair).", "",
             "| variant | PSNR (dB) |", "|---|---|"]
    lines += [f"| {k} | {np.mean(v):.2f} |" for k, v in rows.items()]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
