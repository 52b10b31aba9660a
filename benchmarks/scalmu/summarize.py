"""Collect the SCALMU benchmark folders into ``benchmarks/scalmu/results.md``.

Reads ``benchmarks/scalmu/cave_<protocol>/`` (SCALMU, and CNMF/HySure when run there),
``cave_<protocol>_cnmf_k8/`` (CNMF with 8 inner iterations, 1 outer) and, for the methods not
re-run there, the classical baselines' folders ``benchmarks/cave_x32_known`` /
``benchmarks/cave_x8_known`` (same protocol, code and scenes; made by
``benchmarks/run_classical.sh``), plus ``abu_x4/results.json`` and ``timing.json``.

Usage: python benchmarks/scalmu/summarize.py
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
CLASSICAL = {"mossfuse-x32": BENCH / "cave_x32_known", "wald-x8": BENCH / "cave_x8_known"}


def _rows(folder: Path, profile: str) -> dict[str, dict[str, dict]]:
    """method -> scene -> row."""
    out: dict[str, dict[str, dict]] = {}
    path = folder / "per_scene.csv"
    if not path.exists():
        return out
    with path.open() as f:
        for r in csv.DictReader(f):
            if r["profile"] == profile:
                out.setdefault(r["method"], {})[r["scene"]] = r
    return out


DEV_VAL = ("face", "flowers", "jelly_beans", "oil_painting")
HELDOUT = BENCH / "mossfuse_cpu" / "dev_val_blind"


def _mossfuse_notes(rows: dict[str, dict[str, dict]]) -> list[str]:
    """The caveat of the shipped MossFuse row, and the 4 held-out scenes side by side with
    MossFuse trained without them (``benchmarks/mossfuse_cpu/dev_val_blind``)."""
    out = ["(*) MossFuse's shipped weights were trained (unsupervised: inputs only, never a "
           "reference) on these same 16 scenes, so its row is not a held-out result. The "
           "held-out comparison is on the 4 dev-val scenes below, with MossFuse trained on the "
           "other 12 (`benchmarks/mossfuse_cpu`; blind, which for MossFuse is the same as known: "
           "it never uses a PSF/SRF at inference). SCALMU never saw any CAVE scene.", "",
           "4 dev-val scenes (" + ", ".join(DEV_VAL) + "), PSNR / SAM:", "",
           "| method | PSNR | SAM | source |", "|---|---|---|---|"]
    held = _rows(HELDOUT, "mossfuse-paper").get("mossfuse", {})
    table = {m: per for m, per in rows.items() if m != "mossfuse (shipped*)"}
    if held:
        table["mossfuse (held-out weights)"] = held
    for m, per in table.items():
        vals = [per[s] for s in DEV_VAL if s in per]
        if len(vals) != len(DEV_VAL):
            continue
        p = sum(float(v["psnr"]) for v in vals) / len(vals)
        a = sum(float(v["sam"]) for v in vals) / len(vals)
        src = "`benchmarks/mossfuse_cpu/dev_val_blind`" if "held-out" in m else "as above"
        out.append(f"| {m} | {p:.2f} | {a:.2f} | {src} |")
    return out + [""]


def main() -> None:
    lines = ["# SCALMU results", "",
             "SCALMU: shipped weights (trained on synthetic dead-leaves pairs only; no CAVE "
             "scene was used for training). Known degradation, profile `mossfuse-paper`, the 16 "
             "local CAVE scenes (all held out from SCALMU's training). `cnmf k8` = CNMF with "
             "`n_inner=8, n_outer=1` (as many iterations as SCALMU has layers). Seconds are "
             "wall-clock medians of each folder's own run on the shared 2-core machine (see "
             "each folder's results.md for its load; the timing section gives CPU times "
             "measured side by side).", ""]
    for proto in ("mossfuse-x32", "wald-x8"):
        rows: dict[str, dict[str, dict]] = {}
        src: dict[str, str] = {}
        for folder in (HERE / f"cave_{proto}", HERE / f"cave_{proto}_cnmf_k8",
                       HERE / f"cave_{proto}_mossfuse", CLASSICAL[proto]):
            for method, per in _rows(folder, "mossfuse-paper").items():
                key = "cnmf k8" if folder.name.endswith("_k8") else method
                if folder.name.endswith("_mossfuse"):
                    key = "mossfuse (shipped*)"
                if key in rows or key in ("bicubic", "gsa"):
                    continue
                rows[key], src[key] = per, str(folder.relative_to(BENCH.parent))
        if not rows:
            continue
        scenes = sorted(set().union(*[set(v) for v in rows.values()]))
        lines += [f"## CAVE, `{proto}`, known degradation", "",
                  "| method | PSNR | SSIM | SAM | ERGAS | s / scene (median) | scenes | source |",
                  "|---|---|---|---|---|---|---|---|"]
        for m, per in rows.items():
            vals = list(per.values())

            def mean(k, vals=vals):
                return sum(float(v[k]) for v in vals) / len(vals)

            secs = sorted(float(v["seconds"]) for v in vals)
            lines.append(f"| {m} | {mean('psnr'):.2f} | {mean('ssim'):.4f} | {mean('sam'):.3f} | "
                         f"{mean('ergas'):.4f} | {secs[len(secs) // 2]:.2f} | {len(vals)} | "
                         f"`{src[m]}` |")
        lines += ["", "Per scene (PSNR / SAM):", "",
                  "| scene | " + " | ".join(rows) + " |", "|---" * (len(rows) + 1) + "|"]
        for s in scenes:
            cells = [f"{float(rows[m][s]['psnr']):.2f} / {float(rows[m][s]['sam']):.2f}"
                     if s in rows[m] else "-" for m in rows]
            lines.append(f"| {s} | " + " | ".join(cells) + " |")
        lines.append("")
        if "mossfuse (shipped*)" in rows:
            lines += _mossfuse_notes(rows)
    abu = HERE / "abu_x4" / "results.md"
    if abu.exists():
        lines += [abu.read_text().replace("# ", "## ", 1), ""]
    timing = HERE / "timing.json"
    if timing.exists():
        t = json.loads(timing.read_text())
        lines += ["## Time per 512 x 512 x 31 scene (1 torch thread)", "",
                  f"Scenes {t['scenes']}; load average at the end {t['load_average']}. "
                  "`python benchmarks/scalmu/timing.py`.", "",
                  "| protocol | method | wall median (s) | CPU median (s) | CPU min (s) |",
                  "|---|---|---|---|---|"]
        for r in t["rows"]:
            lines.append(f"| {r['protocol']} | {r['method']} | {r['wall_median_s']:.2f} | "
                         f"{r['cpu_median_s']:.2f} | {r['cpu_min_s']:.2f} |")
        lines.append("")
    (HERE / "results.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
