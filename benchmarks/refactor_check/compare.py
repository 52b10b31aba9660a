"""Compare re-run benchmark folders (``rerun.sh``) with the committed ones, metric by metric.

Every ``per_scene.csv`` row (scene, method, profile, degradation) of the re-run is matched
with the committed row; the table gives, per folder, the rows compared and the largest
absolute difference of each metric (timings and memory are not compared). Writes
``results.md`` next to this script.

Usage::

    python benchmarks/refactor_check/compare.py /tmp/mossfuse-rerun [--commit SHA]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PAIRS = {
    "cave_x32_known": "benchmarks/cave_x32_known",
    "cave_x32_blind": "benchmarks/cave_x32_blind",
    "cave_x8_known": "benchmarks/cave_x8_known",
    "scalmu_cave_mossfuse-x32": "benchmarks/scalmu/cave_mossfuse-x32",
    "scalmu_cave_wald-x8": "benchmarks/scalmu/cave_wald-x8",
}
NOT_COMPARED = {"scene", "method", "profile", "degradation", "seconds", "peak_memory_mb"}


def _rows(path: Path) -> dict[tuple, dict[str, str]]:
    with path.open(newline="") as f:
        return {(r["scene"], r["method"], r["profile"], r["degradation"]): r
                for r in csv.DictReader(f)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rerun", type=Path)
    ap.add_argument("--commit", default=None, help="the commit the re-run was made with")
    ap.add_argument("--note", default=None, help="a sentence added below the table")
    args = ap.parse_args()
    lines = ["# Benchmarks re-run after the issue #18 restructuring", "",
             f"- Re-run: `bash benchmarks/refactor_check/rerun.sh {args.rerun}` at commit "
             f"{args.commit or '(not given)'}; compared: `python benchmarks/refactor_check/"
             f"compare.py {args.rerun}" + (f" --commit {args.commit}`" if args.commit else "`"),
             "- Scenes: the 16 shared CAVE scenes; protocols, profiles and methods as in "
             "benchmarks/run_classical.sh and benchmarks/scalmu/run.sh",
             "- Compared: every metric of every per_scene.csv row (timings and memory "
             "excluded); the committed folders were made by earlier commits (their results.md "
             "name them)", "",
             "| folder | rows | metrics | max abs difference | worst metric |",
             "|---|---|---|---|---|"]
    worst_all = 0.0
    for new_name, old_rel in PAIRS.items():
        new, old = _rows(args.rerun / new_name / "per_scene.csv"), _rows(ROOT / old_rel /
                                                                        "per_scene.csv")
        missing = sorted(set(old) ^ set(new))
        if missing:
            sys.exit(f"{new_name}: rows differ between the folders: {missing[:4]} ...")
        worst, worst_key, metrics = 0.0, "-", set()
        for key, row in new.items():
            for m, v in row.items():
                if m in NOT_COMPARED or v == "" or old[key].get(m, "") == "":
                    continue
                metrics.add(m)
                d = abs(float(v) - float(old[key][m]))
                if d > worst:
                    worst, worst_key = d, f"{m} ({key[0]}, {key[1]}, {key[2]})"
        worst_all = max(worst_all, worst)
        lines.append(f"| {old_rel} | {len(new)} | {', '.join(sorted(metrics))} | {worst:.2e} | "
                     f"{worst_key} |")
    lines += ["", f"Largest difference over all folders: {worst_all:.2e} (PSNR in dB, SAM in "
              "degrees), far inside the noise of any comparison made in this repository "
              "(results are reported to 0.01 dB)."]
    if args.note:
        lines += ["", args.note]
    (HERE / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
