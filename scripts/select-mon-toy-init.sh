#!/usr/bin/env bash
# How `spicenn init mon --input-scale` was chosen for the 2-D toy sets
# (docs/results.md, "Toy sets across the three families"): 2-16-2 MONs,
# init seeds 1..12, each trained in software (Adam lr 0.02, batch 32, seed 1,
# one thread) on the first 1,800 training samples; printed: the best
# validation accuracy (last 200 training samples) of each run and how many
# runs reach 100 %. Moons and circles 10 epochs, spirals 30 epochs. The test
# split is not touched.
#   bash scripts/select-mon-toy-init.sh [SCALE ...]     # default: 1 2 3 5 10
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spicenn=build/src/cli/spicenn
[ -x "$spicenn" ] || bash scripts/build.sh
scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(1 2 3 5 10)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for data in moons circles spirals; do
  epochs=10
  [ "$data" = spirals ] && epochs=30
  for scale in "${scales[@]}"; do
    accuracies=()
    for seed in $(seq 1 12); do
      $spicenn init mon --inputs 2 --hidden 16 --outputs 2 --seed "$seed" --input-scale "$scale" -o "$work/init.xml" 2>/dev/null
      $spicenn train "$work/init.xml" --data "$data" --epochs "$epochs" --lr 0.02 --batch 32 --seed 1 --threads 1 --no-test \
        --fresh --progress off --out "$work/trained.xml" --metrics "$work/metrics.csv" 2>/dev/null
      accuracies+=("$(awk -F, 'NR > 1 && $5 > a {a = $5} END {printf "%.1f", 100 * a}' "$work/metrics.csv")")
    done
    printf '%-8s epochs %-3s input scale %-4s validation %%: %s  (100 %%: %s of 12; mean %s)\n' "$data" "$epochs" "$scale" \
      "${accuracies[*]}" "$(printf '%s\n' "${accuracies[@]}" | grep -c '^100.0$' || true)" \
      "$(printf '%s\n' "${accuracies[@]}" | awk '{s += $1} END {printf "%.2f", s / NR}')"
  done
done
