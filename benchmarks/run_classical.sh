#!/usr/bin/env bash
# Classical baselines on the 16 local CAVE scenes (all in the paper's training split; none is
# used to fit anything: the classical methods have no training). Each block writes its own
# folder with results.md, per_scene.csv, summary.json, config.json and figures.
# Usage: bash benchmarks/run_classical.sh [CAVE_ROOT]  (--resume: finished records with the
# same config are kept; delete a folder to recompute it)
set -euo pipefail
ROOT=${1:-../shared/data/cave}
METHODS=bicubic,gsa,cnmf,hysure
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --methods $METHODS \
  --known-degradation --profile mossfuse-paper --resume --out benchmarks/cave_x32_known
mossfuse benchmark --root "$ROOT" --protocol mossfuse-x32 --methods $METHODS \
  --blind --profile mossfuse-paper --resume --out benchmarks/cave_x32_blind
mossfuse benchmark --root "$ROOT" --protocol wald-x8 --methods $METHODS \
  --known-degradation --profile standard,mossfuse-paper --resume --out benchmarks/cave_x8_known
