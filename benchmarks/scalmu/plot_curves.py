"""Learning curves of the SCALMU training runs (from the committed train_log_*.jsonl).

Usage: python benchmarks/scalmu/plot_curves.py  ->  benchmarks/scalmu/learning_curves.png
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    logs = sorted(HERE.glob("train_log_*.jsonl"))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for log in logs:
        name = log.stem.replace("train_log_", "")
        recs = [json.loads(s) for s in log.read_text().splitlines() if s.strip()]
        tr = [r for r in recs if "loss" in r]
        steps = np.array([r["step"] for r in tr])
        psnr = np.array([r["psnr"] for r in tr])
        k = 25
        smooth = np.convolve(psnr, np.ones(k) / k, mode="valid") if len(psnr) > k else psnr
        axes[0].plot(steps[len(steps) - len(smooth):], smooth, label=f"{name}: train pair")
        val = [r for r in recs if "val_psnr" in r]
        axes[0].plot([r["step"] for r in val], [r["val_psnr"] for r in val], "o-",
                     label=f"{name}: synthetic val")
        axes[1].plot([r["step"] for r in val], [r["val_sam"] for r in val], "o-", label=name)
    axes[0].set(xlabel="step", ylabel="PSNR (dB)",
                title="SCALMU training on synthetic dead-leaves pairs")
    axes[1].set(xlabel="step", ylabel="SAM (deg)", title="synthetic validation SAM")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "learning_curves.png", dpi=110)
    print(f"-> {HERE / 'learning_curves.png'}")


if __name__ == "__main__":
    main()
