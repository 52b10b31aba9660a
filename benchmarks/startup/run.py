"""Start-up benchmark of the CLI: whole-process wall time of ``mossfuse --help`` and of
``mossfuse fuse`` (bicubic, scalmu, mossfuse; blind, the default) on a 512 x 512 x 31 x32 pair.

The pair is simulated from one shared CAVE scene with ``mossfuse simulate --protocol
mossfuse-x32`` (LR-HSI 16 x 16 x 31, HR-MSI 512 x 512 x 3; the reference is written by the
simulator but never read here). Each command runs once untimed (disk cache, font cache), then
``--repeats`` times in a fresh process through the installed console script; the median wall
time is compared with the issue #16 targets. The process CPU time (user + system, from
``os.wait4``) is reported too: on a shared machine it is far less inflated by other processes
than the wall time. The fusion time the CLI prints (``fused ... in X s``) is parsed as well, so
start-up = wall - fusion can be read off.

Usage (re-runnable; writes results.json and results.md beside this file):

    nice -n 10 python benchmarks/startup/run.py [--cave ../shared/data/cave] [--scene beads]
        [--repeats 5] [--commands help,bicubic,scalmu,mossfuse]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
#: issue #16 targets (s, whole process, 2-core CPU)
TARGETS = {"help": 0.5, "bicubic": 1.5, "scalmu": 2.5, "mossfuse": 3.5}


def _console_script() -> str:
    exe = Path(sys.executable).parent / "mossfuse"
    return str(exe) if exe.exists() else (shutil.which("mossfuse") or "mossfuse")


def _run(argv: list[str], cwd: Path) -> dict:
    """One process: wall time, CPU time of the child, its stdout, exit status."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    # communicate() has reaped the child; its rusage is in RUSAGE_CHILDREN deltas
    return {"wall_s": wall, "rc": proc.returncode, "stdout": out, "stderr": err}


def _cpu_children() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _fusion_seconds(stdout: str) -> float | None:
    m = re.search(r"fused .* in ([0-9.]+) s", stdout)
    return float(m.group(1)) if m else None


def _clean(work: Path, stem: str) -> None:
    for p in work.glob(f"{stem}*"):
        if p.is_file():
            p.unlink()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cave", type=Path, default=REPO.parent / "shared" / "data" / "cave")
    ap.add_argument("--scene", default="beads")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--commands", default="help,bicubic,scalmu,mossfuse")
    ap.add_argument("--out", type=Path, default=HERE, help="folder for results.json/.md")
    args = ap.parse_args(argv)
    if not args.cave.exists():
        sys.exit(f"error: CAVE folder not found: {args.cave} (pass --cave)")
    exe = _console_script()
    commands = [c.strip() for c in args.commands.split(",") if c.strip()]
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mossfuse_startup_") as tmp:
        work = Path(tmp)
        sim = _run([exe, "simulate", "--out", str(work / "sim"), "--dataset", "cave",
                    "--root", str(args.cave), "--scenes", args.scene,
                    "--protocol", "mossfuse-x32"], work)
        if sim["rc"] != 0:
            sys.exit(f"error: simulate failed: {sim['stderr'].strip()}")
        pair = work / "sim" / args.scene
        for name in commands:
            if name == "help":
                cmd = [exe, "--help"]
            else:
                cmd = [exe, "fuse", "--lr-hsi", str(pair / "lr_hsi.npy"), "--hr-msi",
                       str(pair / "hr_msi.npy"), "--out", str(work / f"out_{name}.npy"),
                       "--method", name]
            walls, cpus, fusions, loads = [], [], [], []
            for i in range(args.repeats + 1):  # run 0: warm-up, not counted
                _clean(work, f"out_{name}")
                loads.append(os.getloadavg()[0])
                c0 = _cpu_children()
                res = _run(cmd, work)
                cpu = _cpu_children() - c0
                if res["rc"] != 0:
                    sys.exit(f"error: {' '.join(cmd)} exited {res['rc']}: {res['stderr']}")
                if i == 0:
                    continue
                walls.append(res["wall_s"])
                cpus.append(cpu)
                fusions.append(_fusion_seconds(res["stdout"]))
            fus = [f for f in fusions if f is not None]
            rows[name] = {
                "command": " ".join(["mossfuse", *cmd[1:]]).replace(str(work), "WORK"),
                "wall_median_s": float(np.median(walls)), "wall_min_s": float(np.min(walls)),
                "wall_s": [round(w, 3) for w in walls],
                "cpu_median_s": float(np.median(cpus)),
                "fusion_median_s": float(np.median(fus)) if fus else None,
                "target_s": TARGETS.get(name),
                "load_avg_1min": [round(x, 2) for x in loads[1:]],
            }
            r = rows[name]
            print(f"{name}: wall median {r['wall_median_s']:.2f} s (min {r['wall_min_s']:.2f}), "
                  f"cpu {r['cpu_median_s']:.2f} s, fusion {r['fusion_median_s']}, "
                  f"target {r['target_s']} s, load {r['load_avg_1min']}", flush=True)
    meta = {
        "scene": args.scene, "protocol": "mossfuse-x32", "degradation": "blind (default)",
        "repeats": args.repeats, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}", "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "command": "python benchmarks/startup/run.py " + " ".join(argv or sys.argv[1:]),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2)
                                           + "\n")
    lines = [
        "# Start-up benchmark results", "",
        f"Scene `{args.scene}` (CAVE, shared data) simulated at `mossfuse-x32` "
        "(LR-HSI 16 x 16 x 31, HR-MSI 512 x 512 x 3); blind fusion (the CLI default).",
        f"Machine: {meta['machine']}; {meta['date_utc']} UTC; {args.repeats} timed runs per "
        "command after one warm-up, each a fresh process through the console script.",
        "The machine is shared: wall times are noisy (see the load averages); CPU time is "
        "user + system of the process.", "",
        "| command | target (s) | wall median (s) | wall min (s) | CPU median (s) | "
        "fusion (s) | met | load avg (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        met = "" if r["target_s"] is None else (
            "yes" if r["wall_median_s"] <= r["target_s"]
            else f"no (+{r['wall_median_s'] - r['target_s']:.2f} s)")
        fus = "" if r["fusion_median_s"] is None else f"{r['fusion_median_s']:.2f}"
        lines.append(f"| `{name}` | {r['target_s']} | {r['wall_median_s']:.2f} | "
                     f"{r['wall_min_s']:.2f} | {r['cpu_median_s']:.2f} | {fus} | {met} | "
                     f"{', '.join(f'{x:.1f}' for x in r['load_avg_1min'])} |")
    lines += ["", f"Command: `{meta['command'].strip()}`", ""]
    (args.out / "results.md").write_text("\n".join(lines))
    print(f"-> {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
