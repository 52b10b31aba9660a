#!/usr/bin/env bash
# Reproducibility check of the shipped run: retrain its first 320 steps (300 degradation warm-up
# + 20 network steps; the network lr is still in its linear warm-up, so it does not depend on the
# total step count) with the documented command and compare the loss log with the committed one.
# Usage: bash benchmarks/mossfuse_cpu/check_reproducible.sh [CAVE_ROOT]
set -euo pipefail
ROOT=${1:-../shared/data/cave}
ALL16=beads,cd,chart_and_stuffed_toy,cloth,face,fake_and_real_food,fake_and_real_lemon_slices,\
fake_and_real_strawberries,fake_and_real_sushi,feathers,flowers,glass_tiles,jelly_beans,\
oil_painting,paints,watercolors
rm -rf runs/repro
mossfuse train --dataset cave --root "$ROOT" --protocol mossfuse-x32 --scenes "$ALL16" \
  --config benchmarks/mossfuse_cpu/train_config.json --steps 20 --out runs/repro
python - <<'PY'
import json
a = [json.loads(x) for x in open("benchmarks/mossfuse_cpu/train_log_all16.jsonl")][:320]
b = [json.loads(x) for x in open("runs/repro/train_log.jsonl")][:320]
assert len(b) == 320 and all(x["step"] == y["step"] for x, y in zip(a, b, strict=True))
worst = {k: max(abs(x[k] - y[k]) for x, y in zip(a, b, strict=True) if k in x and k in y)
         for k in ("total", "ma", "sc", "de", "psf_sigma", "lr")}
print("max abs difference over the first 320 logged steps:", worst)
PY
