#!/usr/bin/env bash
# Preliminary MossFuse CPU run (NOT the 2-hour recipe): 300 degradation warm-up steps + 900
# network steps, crop 64, batch 4, cosine lr from 1e-3, 1 torch thread (the machine was shared),
# trained on the 12 dev-train CAVE scenes (inputs only), validated on dev-val 256 px crops,
# then evaluated on the 4 full dev-val scenes next to the classical baselines (blind).
# Usage: bash benchmarks/mossfuse_prelim/run.sh [CAVE_ROOT]
set -euo pipefail
ROOT=${1:-../shared/data/cave}
HERE=benchmarks/mossfuse_prelim
mossfuse train --dataset cave --root "$ROOT" --protocol mossfuse-x32 --split dev-train \
  --val-split dev-val --val-crop 256 --config $HERE/train_config_prelim.json --out runs/prelim
python - <<'PY'
from mossfuse.viz import save_learning_curves
from mossfuse.methods.mossfuse.train import read_log
import shutil
recs = read_log("runs/prelim/train_log.jsonl")
save_learning_curves("benchmarks/mossfuse_prelim/learning_curves.png", recs,
                     title="MossFuse preliminary CPU run (dev-train -> dev-val 256 px crops)")
shutil.copy("runs/prelim/train_log.jsonl", "benchmarks/mossfuse_prelim/train_log.jsonl")
PY
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --split dev-val \
  --methods bicubic,gsa,cnmf,hysure,mossfuse --weights mossfuse=runs/prelim/best \
  --blind --profile mossfuse-paper,standard --out $HERE/dev_val_blind
