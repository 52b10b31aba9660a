#!/usr/bin/env bash
# Issue #18 "no behaviour change": re-run the classical benchmarks (benchmarks/run_classical.sh)
# and SCALMU's CAVE benchmarks (the scalmu rows of benchmarks/scalmu/run.sh) with the current
# code into OUT (default /tmp/mossfuse-rerun), then compare every metric with the committed
# folders: python benchmarks/refactor_check/compare.py OUT
# Usage: bash benchmarks/refactor_check/rerun.sh [OUT] [CAVE_ROOT]
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/mossfuse-rerun}
ROOT=${2:-../shared/data/cave}
METHODS=bicubic,gsa,cnmf,hysure
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --methods $METHODS \
  --known-degradation --profile mossfuse-paper --resume --out "$OUT/cave_x32_known"
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --methods $METHODS \
  --blind --profile mossfuse-paper --resume --out "$OUT/cave_x32_blind"
mossfuse benchmark --root "$ROOT" --protocol wald-x8 --methods $METHODS \
  --known-degradation --profile standard,mossfuse-paper --resume --out "$OUT/cave_x8_known"
export OMP_NUM_THREADS=1
for P in mossfuse-x32 wald-x8; do
  PROFILE=mossfuse-paper
  [ "$P" = wald-x8 ] && PROFILE=standard,mossfuse-paper
  mossfuse benchmark --root "$ROOT" --protocol $P --methods scalmu --known-degradation \
    --profile $PROFILE --threads 1 --figure-scenes 2 --out "$OUT/scalmu_cave_$P"
done
