"""Time per 512 x 512 x 31 CAVE scene of SCALMU and CNMF: wall clock and process CPU time.

The benchmark machine is shared (load average up to ~10 on 2 cores while these results were
made), so wall-clock times there are inflated several-fold; with one torch thread the process
CPU time is close to what an idle core would take. Both are reported. Inputs only (no
reference is read).

Usage: python benchmarks/scalmu/timing.py [--cave ../shared/data/cave] [--scenes cd,face,flowers]
    [--repeats 2] [--methods 'scalmu,cnmf,cnmf k8']
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from mossfuse.data.cave import CaveDataset
from mossfuse.methods import get_method
from mossfuse.physics import get_protocol

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cave", type=Path, default=REPO.parent / "shared" / "data" / "cave")
    ap.add_argument("--scenes", default="cd,face,flowers")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--methods", default="scalmu,cnmf,cnmf k8")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ds = CaveDataset(args.cave)
    rows = []
    for proto in ("mossfuse-x32", "wald-x8"):
        cases = [get_protocol(proto).simulate(ds.load(s)).inputs for s in args.scenes.split(",")]
        for label, name, cfg in [("scalmu", "scalmu", {}), ("cnmf", "cnmf", {}),
                                 ("cnmf k8", "cnmf", {"n_inner": 8, "n_outer": 1})]:
            if label not in args.methods.split(","):
                continue
            m = get_method(name, cfg or None)
            m.fuse(cases[0])  # warm-up (weights, allocator)
            wall, cpu = [], []
            for inp in cases:
                for _ in range(args.repeats):
                    t, c = time.perf_counter(), time.process_time()
                    m.fuse(inp)
                    wall.append(time.perf_counter() - t)
                    cpu.append(time.process_time() - c)
            rows.append({"protocol": proto, "method": label,
                         "wall_median_s": float(np.median(wall)),
                         "cpu_median_s": float(np.median(cpu)), "cpu_min_s": float(np.min(cpu))})
            print(rows[-1], flush=True)
    out = REPO / "benchmarks" / "scalmu" / "timing.json"
    out.write_text(json.dumps({"rows": rows, "torch_threads": 1, "scenes": args.scenes,
                               "load_average": os.getloadavg()}, indent=1))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
