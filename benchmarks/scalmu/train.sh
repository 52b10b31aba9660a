#!/usr/bin/env bash
# Train SCALMU from scratch on synthetic dead-leaves pairs only (no real data is read), one run
# per shipped configuration, then copy the final weights into the package.
# Usage: bash benchmarks/scalmu/train.sh [RUNS_DIR]   (default runs/scalmu; ~23 + 15 min on one core)
set -euo pipefail
RUNS=${1:-runs/scalmu}
export OMP_NUM_THREADS=1
mossfuse train --method scalmu --protocol mossfuse-x32 --crop 384 --steps 700 --threads 1 \
  --config benchmarks/scalmu/train_x32.json --out "$RUNS/mossfuse-x32"
mossfuse train --method scalmu --protocol wald-x8 --crop 256 --steps 800 --threads 1 \
  --config benchmarks/scalmu/train_x8.json --out "$RUNS/wald-x8"
for P in mossfuse-x32 wald-x8; do
  cp "$RUNS/$P/model.safetensors" "src/mossfuse/weights/scalmu_$P.safetensors"
  cp "$RUNS/$P/model.json" "src/mossfuse/weights/scalmu_$P.json"
  cp "$RUNS/$P/train_log.jsonl" "benchmarks/scalmu/train_log_$P.jsonl"
done
python benchmarks/scalmu/plot_curves.py
