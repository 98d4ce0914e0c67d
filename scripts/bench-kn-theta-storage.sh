#!/usr/bin/env bash
# What θ storage costs in a KirchhoffNet circuit (docs/kirchhoffnet.md,
# "θ storage"): the trained 14x14 MNIST model compiled with θ inline and with
# θ on alterable dc sources (--theta resistor), each deck parsed alone and
# parsed + integrated (the whole gated transient) in the ngspice program:
# wall time and peak memory. ~5 minutes.
#   bash scripts/bench-kn-theta-storage.sh [MODEL.xml]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model=${1:-build/results/kn-mnist14/trained.xml}
spicenn=build/src/cli/spicenn
out=build/results/kn-theta-storage
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f "$model" ] || bash scripts/reproduce-kirchhoffnet-mnist14.sh 0 1
command -v /usr/bin/time > /dev/null || bash scripts/install-bench-deps.sh
inputs=$("$spicenn" info "$model" --json 2> /dev/null | sed -n 's/.*"inputs": *\([0-9]*\).*/\1/p' | head -1)
input=$(awk -v n="${inputs:-196}" 'BEGIN { srand(1); for (i = 0; i < n; i++) printf "%s%.3f", (i ? "," : ""), rand() }')
echo "== $(date -u '+%F %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg), model $model"
for theta in inline resistor; do
  "$spicenn" compile "$model" --theta "$theta" --input "$input" -o "$out/$theta.cir" 2>&1 | sed -n 1p
  grep -v '^\.tran\|^\.meas' "$out/$theta.cir" > "$out/$theta-parse.cir"
  # (ngspice exits 1 on a deck without an analysis: not an error here)
  /usr/bin/time -o "$out/$theta-parse.time" -f "$theta: parse only %e s, peak %M kB" \
    ngspice -b "$out/$theta-parse.cir" > /dev/null 2>&1 || true
  cat "$out/$theta-parse.time"
  /usr/bin/time -o "$out/$theta.time" -f "$theta: parse + transient %e s, peak %M kB" \
    ngspice -b "$out/$theta.cir" > "$out/$theta.log" 2>&1
  cat "$out/$theta.time"
  grep -m1 'out0_t' "$out/$theta.log"
done
