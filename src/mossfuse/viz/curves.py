"""Learning curves of a training run (``train_log.jsonl`` records)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from mossfuse.viz.canvas import new_figure, save_figure


def save_learning_curves(
    path: str | Path, records: Sequence[Mapping[str, float]], *, title: str = "", dpi: int = 80
) -> Path:
    """Training curves from ``train_log.jsonl`` records: loss terms per step (log scale,
    smoothed over 25 steps), PSF sigma, and validation PSNR/SAM when logged."""
    fig = new_figure(12.0, 3.4)
    axes = fig.subplots(1, 3)
    steps = np.array([r["step"] for r in records])
    for key in ("ma", "sc", "sct", "de", "total"):
        pts = [(r["step"], r[key]) for r in records if key in r]
        if not pts:
            continue
        s, v = np.array(pts).T
        k = min(25, len(v))
        smooth = np.convolve(v, np.ones(k) / k, mode="valid")
        axes[0].plot(s[k - 1:], smooth, label=f"L_{key.upper()}" if key != "total" else "total")
    axes[0].set_yscale("log")
    axes[0].set_xlabel("step")
    axes[0].set_title("losses (25-step mean)")
    axes[0].legend(fontsize=7)
    sig = [r.get("psf_sigma", np.nan) for r in records]
    axes[1].plot(steps, sig)
    axes[1].set_xlabel("step")
    axes[1].set_title("estimated PSF sigma (px)")
    val = [(r["step"], r["val_psnr"], r.get("val_sam", np.nan)) for r in records
           if "val_psnr" in r]
    if val:
        s, p, a = np.array(val).T
        axes[2].plot(s, p, "o-", label="PSNR (dB)")
        twin = axes[2].twinx()
        twin.plot(s, a, "s--", color="tab:red", label="SAM (deg)")
        twin.set_ylabel("SAM (deg)")
        axes[2].set_ylabel("PSNR (dB)")
        axes[2].legend(loc="lower left", fontsize=7)
    axes[2].set_xlabel("step")
    axes[2].set_title("validation")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path, dpi)
