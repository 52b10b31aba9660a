#!/usr/bin/env bash
# Full reproducibility check of the shipped checkpoint: retrain it from scratch with its
# documented command (`train.sh all16`, ~90 min on one core of this 2-core CPU) into a new
# folder, then score the retrained weights and the shipped ones on the same 16 CAVE scenes
# (mossfuse-x32, mossfuse-paper profile, float32 inference for both) and compare.
# Usage: bash benchmarks/mossfuse_cpu/check_reproducible_full.sh [CAVE_ROOT] [RUN_DIR]
set -euo pipefail
ROOT=${1:-../shared/data/cave}
RUN=${2:-runs/all16_repro}
OUT=benchmarks/mossfuse_cpu/reproduce
[ -f "$RUN/model.safetensors" ] || bash benchmarks/mossfuse_cpu/train.sh all16 "$ROOT" "$RUN"
SHIPPED=$(python -c "from mossfuse.methods.mossfuse.method import shipped_weights as p; print(p(31, 3, 32).with_suffix(''))")
echo '{"mossfuse": {"inference_dtype": "float32", "num_threads": 1}}' > "$RUN/fp32.json"
for W in shipped retrained; do
  [ $W = shipped ] && WP=$SHIPPED || WP=$RUN/model
  mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --methods mossfuse \
    --weights mossfuse="$WP" --method-config "$RUN/fp32.json" --blind --profile mossfuse-paper \
    --threads 1 --no-figures --out "$OUT/$W"
done
python benchmarks/mossfuse_cpu/compare_reproduction.py "$OUT" "$RUN"
