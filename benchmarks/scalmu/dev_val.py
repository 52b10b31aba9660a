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
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from mossfuse.data.cave import CaveDataset
from mossfuse.methods.scalmu.network import DEFAULT_SHAPE, ScalmuNet, make_problem, run_scalmu
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
    cases = []
    for name in args.scenes.split(","):
        sim = proto.simulate(ds.load(name))
        deg = proto.degradation(sim.inputs.hsi_wavelengths_nm)
        cases.append((name, make_problem(sim.inputs.lr_hsi, sim.inputs.hr_msi, deg.srf.matrix,
                                         deg.spatial()), sim.reference.cube))
    for path in args.weights:
        meta = json.loads(path.with_suffix(".json").read_text())
        net = ScalmuNet(int(meta["n_layers"]))
        net.load_state_dict(load_file(str(path)))
        shape = {k: int(meta.get(k, v)) for k, v in DEFAULT_SHAPE.items()}
        scores = {}
        for name, pb, ref in cases:
            with torch.no_grad():
                z = run_scalmu(net, pb, **shape).z.numpy()
            scores[name] = float(fr.psnr(np.clip(z, 0, 1), ref, data_range=1.0))
        per = ", ".join(f"{n} {s:.2f}" for n, s in scores.items())
        print(f"{path}: mean PSNR {np.mean(list(scores.values())):.2f} dB ({per})")


if __name__ == "__main__":
    main()
