#!/usr/bin/env bash
# MossFuse CPU recipe (docs/training.md): the held-out run (12 dev-train scenes, validated on the
# 4 dev-val scenes) and the shipped run (all 16 local CAVE scenes), mossfuse-x32, inputs only.
# Usage: bash benchmarks/mossfuse_cpu/train.sh heldout|all16 [CAVE_ROOT] [OUT_DIR]
set -euo pipefail
WHICH=${1:?heldout or all16}
ROOT=${2:-../shared/data/cave}
OUT=${3:-runs/$WHICH}
CFG=benchmarks/mossfuse_cpu/train_config.json
ALL16=beads,cd,chart_and_stuffed_toy,cloth,face,fake_and_real_food,fake_and_real_lemon_slices,\
fake_and_real_strawberries,fake_and_real_sushi,feathers,flowers,glass_tiles,jelly_beans,\
oil_painting,paints,watercolors
case $WHICH in
  heldout) mossfuse train --dataset cave --root "$ROOT" --protocol mossfuse-x32 --split dev-train \
             --val-split dev-val --val-crop 256 --config $CFG --out "$OUT" ;;
  all16) mossfuse train --dataset cave --root "$ROOT" --protocol mossfuse-x32 --scenes "$ALL16" \
             --config $CFG --out "$OUT" ;;
  *) echo "usage: $0 heldout|all16 [CAVE_ROOT]" >&2; exit 2 ;;
esac
