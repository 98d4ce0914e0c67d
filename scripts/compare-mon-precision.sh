#!/usr/bin/env bash
# The MON software engine's float32 forward pass (--precision float32) against
# the exact float64 one on whole test sets: every predicted class and the
# output deviation (scripts/compare-predictions.sh), and the time of each
# `spicenn eval` (1 thread, batch 1000, data loading included).
#   bash scripts/compare-mon-precision.sh [SET...]   # default: mnist fashion-mnist
# Needs the trained models of scripts/reproduce-mon-mnist.sh
# (build/results/mon-SET/trained.xml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(mnist fashion-mnist)
spicenn=build/src/cli/spicenn
out=build/results/mon-precision
mkdir -p "$out"
for set in "${sets[@]}"; do
  model=build/results/mon-$set/trained.xml
  [ -f "$model" ] || { echo "compare-mon-precision: $model is missing (bash scripts/reproduce-mon-mnist.sh $set)" >&2; exit 2; }
  echo "== $set: $model"
  for p in float64 float32; do
    $spicenn predict "$model" --data "$set" --engine software --precision "$p" --progress off --out "$out/$set-$p.csv" 2> /dev/null
    start=$(date +%s.%N)
    $spicenn eval "$model" --data "$set" --engine software --precision "$p" --threads 1 --batch 1000 --progress off > /dev/null
    echo "eval --precision $p: $(echo "$(date +%s.%N) - $start" | bc) s"
  done
  bash scripts/compare-predictions.sh "$out/$set-float32.csv" "$out/$set-float64.csv"
done
