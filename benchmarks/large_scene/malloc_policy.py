"""CPU time of one SCALMU call with and without dask's ``MALLOC_TRIM_THRESHOLD_=65536``.

Dask's nannies start workers with that variable (``distributed.nanny.pre-spawn-environ``);
an explicit trim threshold turns off glibc's dynamic mmap threshold, so every large temporary
is a fresh ``mmap``. ``mossfuse.engine.distributed`` starts local workers without it; this
script measures why: each setting runs in a fresh interpreter (the variable is read when the
process starts), one torch thread, a 640 x 640 HR tile of the CAVE mosaic crop
(``benchmarks/tile_quality/mosaic.py``; blind SCALMU), ``time.process_time`` per call
(user + system CPU, which other jobs on the machine disturb less than wall time).

Usage::

    python benchmarks/large_scene/malloc_policy.py [--repeats 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = r"""
import json, os, sys, time
import numpy as np, torch
torch.set_num_threads(1)
import mossfuse
lr = np.load(sys.argv[1])[:20, :20]
hr = np.load(sys.argv[2])[:640, :640]
out = []
for _ in range(int(sys.argv[3])):
    t = time.process_time()
    mossfuse.fuse(lr, hr, method="scalmu", ratio=32, channel_axis=-1)
    out.append(time.process_time() - t)
r = os.times()
print(json.dumps({"calls_s": out, "user_s": r.user, "sys_s": r.system}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/mossfuse-tq"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    lr, hr = args.workdir / "crop1024_lr.npy", args.workdir / "crop1024_hr.npy"
    if not lr.exists():
        sys.exit(f"{lr} missing: run benchmarks/large_scene/scaling.py once (it builds the crops)")
    rows = []
    for _ in range(args.rounds):
        for trim in (None, "65536"):
            env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
            if trim is not None:
                env["MALLOC_TRIM_THRESHOLD_"] = trim
            load = os.getloadavg()[0]
            res = subprocess.run([sys.executable, "-c", CHILD, str(lr), str(hr),
                                  str(args.repeats)], env=env, capture_output=True, text=True,
                                 check=True)
            doc = json.loads(res.stdout.strip().splitlines()[-1])
            calls = sorted(doc["calls_s"][1:])  # the first call warms up
            rows.append({"MALLOC_TRIM_THRESHOLD_": trim, "median_call_cpu_s":
                         round(calls[len(calls) // 2], 3), "calls_cpu_s":
                         [round(c, 3) for c in doc["calls_s"]], "process_sys_s":
                         round(doc["sys_s"], 2), "load_before": round(load, 2)})
            print(json.dumps(rows[-1]), flush=True)
    med = {t: sorted(r["median_call_cpu_s"] for r in rows if r["MALLOC_TRIM_THRESHOLD_"] == t)
           for t in (None, "65536")}
    header = {"command": "python benchmarks/large_scene/" + " ".join(
                  [Path(sys.argv[0]).name, *sys.argv[1:]]),
              "machine": f"{os.cpu_count()} logical cores shared with other jobs, "
                         f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC"}
    (HERE / "malloc_policy.json").write_text(json.dumps({**header, "rows": rows}, indent=1))
    lines = ["# SCALMU CPU time per call: glibc's default malloc policy vs dask's trim "
             "threshold", "", f"- Command: `{header['command']}`",
             f"- Machine: {header['machine']}",
             "- One torch thread, blind SCALMU on a 640 x 640 x 3 + 20 x 20 x 31 tile (x32), "
             "CPU time (user + system) per call, median over the calls after the first; "
             "each setting in a fresh process", "",
             "| MALLOC_TRIM_THRESHOLD_ | median CPU s per call (each round) | process system "
             "s | load before |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['MALLOC_TRIM_THRESHOLD_'] or 'unset (glibc default)'} | "
                     f"{r['median_call_cpu_s']} | {r['process_sys_s']} | {r['load_before']} |")
    ratio = med["65536"][len(med["65536"]) // 2] / med[None][len(med[None]) // 2]
    lines += ["", f"With the trim threshold a call costs {ratio:.2f} times the CPU time."]
    (HERE / "malloc_policy.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
