#!/usr/bin/env bash
# SPICE in the loop for every family, in one run (docs/results.md, "SPICE in
# the loop: cost per image"):
#   1. build/bench/bench_spice_loop on each family's trained MNIST model:
#      forward, gradient and training step per image at 1 and 2 ngspice
#      engines, alternating rounds (medians);
#   2. `spicenn train --engine spice` for one short epoch, without mpirun
#      (one engine), under `mpirun -np 1` and `-np 2` (one engine per rank):
#      training samples/s from the metrics CSV.
# Models (made by the reproduce scripts, which this one runs if missing):
#   MON  build/results/mon-mnist/trained.xml (pwl_diode), and the same with
#        Shockley diodes (set-diode)
#   KAN  build/results/kan-mnist/trained.xml (14x14, --pool 2)
#   KN   build/results/kn-mnist14/trained.xml (14x14, --pool 2, --transient standard)
#   bash scripts/bench-spice-loop.sh [ROUNDS [NAME ...]]   # NAME: mon-pwl mon-shockley kan kirchhoffnet (default all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-3}
shift $(($# < 1 ? $# : 1))
only=" $* "
spicenn=build/src/cli/spicenn
out=build/results/spice-loop
mkdir -p "$out"
[ -x build/bench/bench_spice_loop ] || bash scripts/build.sh
[ -f build/results/mon-mnist/trained.xml ] || bash scripts/reproduce-mon-mnist.sh mnist 0
[ -f build/results/kan-mnist/trained.xml ] || bash scripts/reproduce-kan.sh mnist
[ -f build/results/kn-mnist14/trained.xml ] || bash scripts/reproduce-kirchhoffnet-mnist14.sh 0 1
$spicenn set-diode build/results/mon-mnist/trained.xml --diode shockley -o "$out/mon-shockley.xml" 2>/dev/null
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# name | model | bench batch | bench options | train images (+ validation) | train batch | train options
runs=(
  "mon-pwl|build/results/mon-mnist/trained.xml|200|--ac-images 16 --deck-costs|1000|100|128|"
  "mon-shockley|$out/mon-shockley.xml|200|--ac-images 8|1000|100|128|"
  "kan|build/results/kan-mnist/trained.xml|100|--pool 2|500|50|64|--pool 2"
  "kirchhoffnet|build/results/kn-mnist14/trained.xml|4|--pool 2 --transient standard|8|2|4|--pool 2 --transient standard"
)
echo "== $(date -u '+%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
for run in "${runs[@]}"; do
  IFS='|' read -r name model batch bench_opts train_n val_n train_batch train_opts <<< "$run"
  [[ $only == "  " || $only == *" $name "* ]] || continue
  echo "== $name: bench_spice_loop, $batch images per call, $rounds rounds"
  # shellcheck disable=SC2086
  build/bench/bench_spice_loop "$model" --batch "$batch" --rounds "$rounds" $bench_opts | tee "$out/$name.txt"
  echo "== $name: train --engine spice, $train_n images, batch $train_batch (samples/s)"
  for launcher in serial np1 np2; do
    case $launcher in
      serial) cmd=("$spicenn") ;;
      np1) cmd=(mpirun -np 1 "$spicenn") ;;
      np2) cmd=(mpirun -np 2 "$spicenn") ;;
    esac
    # shellcheck disable=SC2086
    "${cmd[@]}" train "$model" --data mnist --engine spice --epochs 1 --batch "$train_batch" \
      --limit "$((train_n + val_n))" --validation "$val_n" --threads 1 --no-test --fresh --progress off \
      --out "$out/$name-$launcher.xml" --metrics "$out/$name-$launcher.csv" $train_opts 2>/dev/null
    printf '%-8s %8.2f samples/s\n' "$launcher" "$(tail -1 "$out/$name-$launcher.csv" | cut -d, -f7)"
  done | tee -a "$out/$name.txt"
done
