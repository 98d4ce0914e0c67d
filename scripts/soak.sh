#!/usr/bin/env bash
# Memory of the SPICE evaluators over many calls (docs/results.md, "Soak:
# memory of the SPICE evaluators"): build/bench/soak_spice_evaluator on a
# small model of each family, forward and gradient alternating with a
# set_model after every gradient (as in training), the resident set read
# every REPORT calls; fails if it grows by more than 2 MiB after the first
# REPORT calls (the program's --limit-mb).
#   bash scripts/soak.sh [CALLS] [REPORT] [MODEL ...]   # default 100000 5000, all four models
# MODEL: mon-pwl mon-shockley kan kn (a subset, e.g. to give the slower
# KirchhoffNet transient fewer calls in a second run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
calls=${1:-100000}
report=${2:-5000}
shift $(($# < 2 ? $# : 2))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mon-pwl mon-shockley kan kn)
spicenn=build/src/cli/spicenn
out=build/results/soak
mkdir -p "$out"
[ -x build/bench/soak_spice_evaluator ] || bash scripts/build.sh
$spicenn init mon --inputs 2 --hidden 16 --outputs 2 --seed 1 -o "$out/mon-pwl.xml" 2> /dev/null
$spicenn init mon --inputs 4 --hidden 8 --outputs 3 --stages 2 --diode shockley --seed 1 -o "$out/mon-shockley.xml" 2> /dev/null
$spicenn init kan --layers 4,6,3 --bases z15,zaz21 -o "$out/kan.xml" 2> /dev/null
$spicenn init kirchhoffnet --inputs 2 --nodes 4 --outputs 2 --slices 2 --edge-function shift_tanh2 -o "$out/kn.xml" 2> /dev/null
status=0
for name in "${models[@]}"; do
  echo "== $name ($(date -u '+%F %H:%M UTC'))"
  build/bench/soak_spice_evaluator "$out/$name.xml" --calls "$calls" --report "$report" | tee "$out/$name.txt" || status=1
done
exit $status
