"""Figure: what SCALMU's learned terms are and what they do.

Top row: the learned per-layer scalars of the shipped checkpoints (x32 and x8) against their
CNMF-like initial values (the untrained network): LR-HSI weight ``lambda_k`` and step exponent
``eta_k`` of the abundance update, MSI weight ``mu_k`` and exponent ``xi_k`` of the endmember
update, and the temperatures ``tau_c, tau_i`` and spatial scale ``sigma`` of the adaptive
matrices ``G_k``. Bottom row, on one CAVE scene's *inputs* at mossfuse-x32 (no reference is
used): the HR-MSI; the weight ``G_0`` gives each HR pixel's own LR cell (edge-aware: low where
the pixel's colour differs from its cell's); one endmember's abundance map after CNMF's bicubic
upsampling, after ``G_0`` (SCALMU's initialisation) and after the K layers.

Usage: python benchmarks/scalmu/figure_learned.py [--cave ../shared/data/cave] [--scene flowers]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mossfuse.data.cave import CaveDataset  # noqa: E402
from mossfuse.methods._linalg import upsample_cube  # noqa: E402
from mossfuse.methods.scalmu import Scalmu, ScalmuNet, make_problem  # noqa: E402
from mossfuse.methods.scalmu.network import GuidedUpsampler, lr_unmix, run_scalmu  # noqa: E402
from mossfuse.physics import get_protocol  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "src" / "mossfuse" / "weights"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cave", type=Path, default=REPO.parent / "shared" / "data" / "cave")
    ap.add_argument("--scene", default="flowers")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    fig, axes = plt.subplots(2, 4, figsize=(17, 8))
    init = ScalmuNet(8).layer_values()
    groups = [("lam", "eta"), ("mu", "xi"), ("tau_c", "tau_i", "sigma")]
    titles = ["abundance update: LR weight, exponent", "endmember update: MSI weight, exponent",
              "adaptive matrices G_k: tau_c, tau_i, sigma (k=0: init)"]
    for ax, keys, title in zip(axes[0, :3], groups, titles, strict=True):
        for key, marker in zip(keys, "osd", strict=False):
            ax.plot(init[key], "k" + marker + ":", alpha=0.4, label=f"{key} (untrained)")
            for proto, col in (("mossfuse-x32", "C0"), ("wald-x8", "C1")):
                js = WEIGHTS / f"scalmu_{proto}.json"
                if js.exists():
                    vals = json.loads(js.read_text())["layer_values"][key]
                    ax.plot(vals, col + marker + "-", label=f"{key} {proto}")
        ax.set(title=title, xlabel="layer k", yscale="log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[0, 3]
    ax.axis("off")
    # bottom row: one CAVE scene's inputs (x32)
    case = get_protocol("mossfuse-x32").simulate(CaveDataset(args.cave).load(args.scene))
    inp = case.inputs
    m = Scalmu()
    m._ensure_net(32)
    net = m._net
    from mossfuse.physics.estimation import resolve_degradation

    deg = resolve_degradation(inp)
    pb = make_problem(inp.lr_hsi, inp.hr_msi, deg.srf, deg.spatial())
    with torch.no_grad():
        xm = pb.x.reshape(pb.x.shape[0], -1)
        e0, a_lr = lr_unmix(xm, 16, 100)
        gu = GuidedUpsampler(pb)
        v = net.layer_values()
        w0 = gu.weights(torch.tensor(v["tau_c"][0]), torch.tensor(v["tau_i"][0]),
                        torch.tensor(v["sigma"][0]))
        h, w = inp.lr_hsi.shape[1:]
        a_g = gu.apply(a_lr.reshape(-1, h, w), w0)
        a_b = upsample_cube(a_lr.reshape(-1, h, w), 32, inp.phase).clamp_min(0)
        out = run_scalmu(net, pb, n_endmembers=16)
    rgb = inp.hr_msi.transpose(1, 2, 0)
    axes[1, 0].imshow(np.clip(rgb / np.percentile(rgb, 99), 0, 1))
    axes[1, 0].set_title(f"HR-MSI ({args.scene}, x32 inputs)")
    own = w0[4].reshape(512, 512).numpy()
    im = axes[1, 1].imshow(own, cmap="magma", vmin=0, vmax=1)
    axes[1, 1].set_title("G_0: weight of the pixel's own LR cell")
    plt.colorbar(im, ax=axes[1, 1], fraction=0.046)
    j = int(np.argmax(a_lr.var(1)))  # the most variable abundance
    # match the final endmember to e0's j-th by spectral angle
    ef = out.endmembers.numpy()
    cos = (ef.T @ e0[:, j].numpy()) / (np.linalg.norm(ef, axis=0) * np.linalg.norm(e0[:, j]))
    jf = int(np.argmax(cos))
    maps = [("bicubic-upsampled abundance (CNMF init)", a_b[j]),
            ("G_0-upsampled abundance (SCALMU init)", a_g[j]),
            (f"after {net.n_layers} layers", out.abundances[jf])]
    vmax = float(np.percentile(maps[1][1].numpy(), 99.5))
    for ax, (title, a) in zip([axes[0, 3], axes[1, 2], axes[1, 3]], maps, strict=True):
        ax.axis("on")
        ax.imshow(a.numpy(), cmap="viridis", vmin=0, vmax=vmax)
        ax.set_title(title, fontsize=9)
    for ax in axes[1]:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 3].set_xticks([])
    axes[0, 3].set_yticks([])
    fig.tight_layout()
    out_path = REPO / "benchmarks" / "scalmu" / "learned_terms.png"
    fig.savefig(out_path, dpi=90)
    print(f"-> {out_path}")


if __name__ == "__main__":
    main()
