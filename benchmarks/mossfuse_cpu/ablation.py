"""MossFuse ablation in the spirit of the paper's Table 3, on a short CPU budget.

Variants (everything else = ``train_config.json`` with ``--steps`` network steps):

- ``full``: the release configuration (L_MA + 0.1 L_SC, L_DE; no L_SCT);
- ``no_sc``: without L_SC (``alpha_sc = 0``);
- ``with_sct``: with L_SCT (the paper's weight 1; the release disables it);
- ``free_degradation``: the Gaussian PSF / constrained SRF replaced by a free convolution
  (``degradation_model = "free"``);
- ``known_degradation``: not an ablation but the "degradation known vs estimated" comparison:
  trained against the protocol's true PSF/SRF, held fixed (``mossfuse train
  --known-degradation``; no warm-up, no L_DE training). Compare with ``full`` (estimated).

Each variant trains on the 12 dev-train scenes (inputs only) and is then scored blind on the 4
dev-val scenes by ``mossfuse benchmark`` (whole images, ``mossfuse-paper`` profile). Runs go to
``runs/ablation/<variant>`` (not committed); the table to ``benchmarks/mossfuse_cpu/ablation/``.

Usage::

    python benchmarks/mossfuse_cpu/ablation.py [--root ../shared/data/cave] [--steps 300]
        [--jobs 2] [--variants full,no_sc,with_sct,free_degradation]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS: dict[str, dict] = {
    "full": {},
    "no_sc": {"alpha_sc": 0.0},
    "with_sct": {"use_sct_loss": True},
    "free_degradation": {"degradation_model": "free"},
    "known_degradation": {},
}
#: extra ``mossfuse train`` flags of a variant
FLAGS: dict[str, list[str]] = {"known_degradation": ["--known-degradation"]}


def _run(cmd: list[str], log: Path) -> None:
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log}")


def train_variant(name: str, args: argparse.Namespace) -> Path:
    run = Path(args.runs) / name
    if (run / "model.safetensors").exists():
        return run
    recipe = json.loads((HERE / "train_config.json").read_text())["train"]
    recipe.update(steps=args.steps, validate_every=0, checkpoint_every=0, threads=1,
                  progress=False)
    run.parent.mkdir(parents=True, exist_ok=True)
    cfg = run.parent / f"{name}.json"
    cfg.write_text(json.dumps({"model": VARIANTS[name], "train": recipe}, indent=1))
    _run(["mossfuse", "train", "--dataset", "cave", "--root", args.root, "--protocol",
          "mossfuse-x32", "--split", "dev-train", "--config", str(cfg), "--out", str(run),
          *FLAGS.get(name, [])],
         run.parent / f"{name}.train.log")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="../shared/data/cave")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--runs", default="runs/ablation")
    ap.add_argument("--out", default=str(HERE / "ablation"))
    args = ap.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        sys.exit(f"unknown variants {sorted(unknown)}; expected {list(VARIANTS)}")
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = dict(zip(names, pool.map(lambda n: train_variant(n, args), names), strict=True))
    out = Path(args.out)
    rows = []
    for name, run in runs.items():
        bench = out / name
        _run(["mossfuse", "benchmark", "--root", args.root, "--protocol", "mossfuse-x32",
              "--split", "dev-val", "--methods", "mossfuse", "--weights",
              f"mossfuse={run / 'model'}", "--blind", "--profile", "mossfuse-paper",
              "--no-figures", "--out", str(bench)], Path(args.runs) / f"{name}.bench.log")
        summary = json.loads((bench / "summary.json").read_text())
        train_summary = json.loads((run / "summary.json").read_text())
        rows.append((name, summary, train_summary))
    lines = [
        "# MossFuse ablation (short CPU budget)", "",
        f"Command: `python benchmarks/mossfuse_cpu/ablation.py --steps {args.steps} "
        f"--jobs {args.jobs}`  ",
        f"Each variant: `train_config.json` with {args.steps} network steps (+ the degradation "
        "warm-up), trained on the 12 dev-train scenes (inputs only), scored blind on the 4 "
        "dev-val scenes (face, flowers, jelly_beans, oil_painting; whole 512 x 512 images, "
        "`mossfuse-x32`, `mossfuse-paper` profile). A short-budget comparison, not the paper's "
        f"500 epochs; machine: {os.cpu_count()}-core CPU shared with other jobs.", "",
        "`known_degradation` trains against the true PSF/SRF (so its PSF/SRF columns show the "
        "truth it was given); every other row estimates them.", "",
        "| variant | PSNR | SSIM | SAM | ERGAS | PSF sigma est | SRF max abs err | train s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, summary, ts in rows:
        m = summary["means"]["mossfuse"]
        mean, est = m["mossfuse-paper"], m.get("estimation", {})
        lines.append(
            f"| {name} | {mean['psnr']:.2f} | {mean['ssim']:.3f} | {mean['sam']:.2f} | "
            f"{mean['ergas']:.2f} | {est.get('psf_sigma_est', float('nan')):.3f} | "
            f"{est.get('srf_max_abs_error', float('nan')):.4f} | "
            f"{ts.get('seconds', float('nan')):.0f} |"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
