"""Score SCALMU checkpoints on the 4 dev-val CAVE scenes (the only CAVE scenes that informed
SCALMU's design choices: endmember count, sub-steps, training crop size; see docs/scalmu.md).

Known degradation of the protocol, PSNR with data range 1 on the output clipped to [0, 1]
(as the ``mossfuse-paper`` profile), one torch thread. The reference is read here, by the
evaluator, never by SCALMU.

Usage: python benchmarks/scalmu/dev_val.py WEIGHTS.safetensors [...] [--protocol mossfuse-x32]
    [--cave ../shared/data/cave] [--scenes face,flowers,jelly_beans,oil_painting]
e.g. after ``mossfuse train --method scalmu --protocol mossfuse-x32 --crop 256 --steps 700
--threads 1 --config benchmarks/scalmu/train_x32.json --out runs/c256``:
``python benchmarks/scalmu/dev_val.py runs/c256/model.safetensors
src/mossfuse/weights/scalmu_mossfuse-x32.safetensors``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mossfuse.data.cave import CaveDataset
from mossfuse.methods import load_method
from mossfuse.metrics import full_reference as fr
from mossfuse.physics import get_protocol

REPO = Path(__file__).resolve().parents[2]
DEV_VAL = "face,flowers,jelly_beans,oil_painting"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+", type=Path)
    ap.add_argument("--protocol", default="mossfuse-x32")
    ap.add_argument("--cave", type=Path, default=REPO.parent / "shared" / "data" / "cave")
    ap.add_argument("--scenes", default=DEV_VAL)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    proto = get_protocol(args.protocol)
    ds = CaveDataset(args.cave)
    cases = {name: proto.simulate(ds.load(name)) for name in args.scenes.split(",")}
    for path in args.weights:
        method = load_method("scalmu", {"weights": str(path)})  # checks the format
        scores = {name: float(fr.psnr(np.clip(method.fuse(case.inputs).hr_hsi, 0, 1),
                                      case.reference.cube, data_range=1.0))
                  for name, case in cases.items()}
        per = ", ".join(f"{n} {s:.2f}" for n, s in scores.items())
        print(f"{path}: mean PSNR {np.mean(list(scores.values())):.2f} dB ({per})")

if __name__ == "__main__":
    main()
