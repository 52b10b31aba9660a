#!/usr/bin/env bash
# MossFuse on this CPU: the 2-hour recipe, the held-out table, single-scene mode, ablation,
# inference speed. Every result file under benchmarks/mossfuse_cpu/ comes from this script.
# Usage: bash benchmarks/mossfuse_cpu/run.sh [CAVE_ROOT]     (runs/ holds the runs, not committed)
set -euo pipefail
ROOT=${1:-../shared/data/cave}
HERE=benchmarks/mossfuse_cpu
# 1. training: held-out run (12 dev-train scenes) and the shipped run (all 16); run them in
#    parallel, one torch thread each (about 1.5 h each on the shared 2-core machine)
bash $HERE/train.sh heldout "$ROOT" > runs/heldout.log 2>&1 &
bash $HERE/train.sh all16 "$ROOT" > runs/all16.log 2>&1 &
wait
python - <<'PY'
import shutil
from mossfuse.viz import save_learning_curves
from mossfuse.methods.mossfuse.train import read_log
for run, title in [("heldout", "12 dev-train scenes, validated on dev-val 256 px crops"),
                   ("all16", "all 16 local CAVE scenes (shipped weights)")]:
    save_learning_curves(f"benchmarks/mossfuse_cpu/learning_curves_{run}.png",
                         read_log(f"runs/{run}/train_log.jsonl"),
                         title=f"MossFuse CPU recipe: {title}")
    shutil.copy(f"runs/{run}/train_log.jsonl", f"benchmarks/mossfuse_cpu/train_log_{run}.jsonl")
PY
# 2. ship the all-16 weights (final step, not a validation-selected checkpoint), stored in
#    bfloat16 (1.2 MB) and set to run the fused path in bfloat16 (same PSNR, see inference/)
python - <<'PY'
import torch
from mossfuse.methods.mossfuse import MossFuse
m = MossFuse()
m.load("runs/all16/model")
m.config = m.config.model_copy(update={"inference_dtype": "bfloat16"})
m.save("src/mossfuse/weights/mossfuse_x32_cave16", storage_dtype=torch.bfloat16)
PY
# 3. held-out table: the final held-out weights (never selected on dev-val) next to the
#    classical methods, blind, both profiles; and the classical methods with the known degradation
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --split dev-val \
  --methods bicubic,gsa,cnmf,hysure,mossfuse --weights mossfuse=runs/heldout/model \
  --blind --profile mossfuse-paper,standard --out $HERE/dev_val_blind
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --split dev-val \
  --methods gsa,cnmf,hysure --known-degradation --profile mossfuse-paper,standard \
  --no-figures --out $HERE/dev_val_known
# 4. single-scene mode on the same 4 scenes, the ablation, inference speed (shipped weights)
python $HERE/single_scene.py --root "$ROOT" --steps 100
python $HERE/ablation.py --root "$ROOT" --steps 150 --jobs 2  # + the known_degradation row
python $HERE/inference.py --root "$ROOT" --threads 2 --repeats 3
# 5. reproduction: retrain the shipped checkpoint from scratch with its documented command
#    and compare (~70-90 min; both scored in float32 on the 16 scenes)
bash $HERE/check_reproducible_full.sh "$ROOT"
