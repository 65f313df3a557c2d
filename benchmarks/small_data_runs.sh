#!/usr/bin/env bash
# Issue 19's measurement, in the order docs/PRESET_RULE.md fixes (about 5-6 hours on 2 CPU cores, one job at a time):
#   1. pgfa tune-preset on seen-class development splits of UTD-MHAD, NW-UCLA and MSR Action3D;
#   2. pgfa reproduce with the paper's settings (5 random splits, PGFA and two-stage) on each set;
#   3. pgfa reproduce --preset small with each set's leave-one-dataset-out winner from step 1.
# Every step is resumable: run the script again and finished runs are reused.
# Then: python benchmarks/small_data.py --paper SET=OUT/paper-SET ... --preset SET=OUT/preset-SET ...
#
# Usage: bash benchmarks/small_data_runs.sh [OUT] [DATA]   (defaults: runs/small-data, ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/small-data}
DATA=${2:-../shared/data}
PGFA=${PGFA:-.venv/bin/pgfa}
PY=${PY:-.venv/bin/python}
SETS=("utd_mhad 5" "msr_action3d 5" "nw_ucla 3")
mkdir -p "$OUT"

specs=()
for entry in "${SETS[@]}"; do
  read -r name k <<< "$entry"
  specs+=(--set-spec "$DATA/$name/$name.pkl,$name,$k")
done
$PGFA tune-preset "${specs[@]}" --out "$OUT/tune" > "$OUT/tune.log" 2>&1

for entry in "${SETS[@]}"; do
  read -r name k <<< "$entry"
  $PGFA reproduce --data "$DATA/$name/$name.pkl" --classes "$name" --unseen-count "$k" --splits 5 --seeds 0 \
    --methods pgfa,two-stage --out "$OUT/paper-$name" > "$OUT/paper-$name.log" 2>&1
done

for entry in "${SETS[@]}"; do
  read -r name k <<< "$entry"
  # the leave-one-dataset-out winner: chosen on the other two sets only
  read -r -a chosen <<< "$($PY -m pgfa.experiments.preset_tuning "$OUT/tune/results.json" "$name")"
  $PGFA reproduce --data "$DATA/$name/$name.pkl" --classes "$name" --unseen-count "$k" --splits 5 --seeds 0 \
    --methods pgfa,two-stage --preset small --set "${chosen[@]}" --out "$OUT/preset-$name" \
    > "$OUT/preset-$name.log" 2>&1
done
echo "done: $OUT"
