#!/usr/bin/env bash
# Non-ideality recovery (docs/results.md): a MON trained in software with
# ideal diodes is evaluated in SPICE with Shockley diodes, then fine-tuned for
# one epoch against SPICE (forward values and gradients from ngspice).
#   bash scripts/reproduce-nonideality.sh [circles|moons|spirals]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-circles}"
spicenn=build/src/cli/spicenn
out=build/results/nonideality-$data
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
accuracy() { "$spicenn" eval "$1" --data "$data" --engine "$2" --progress off | sed -n 2p; }

$spicenn init mon --inputs 2 --hidden 16 --outputs 2 --seed 3 -o "$out/init.xml"
$spicenn train "$out/init.xml" --data "$data" --engine software --epochs 30 --lr 0.03 --batch 32 --seed 1 \
  --out "$out/ideal.xml" --fresh --progress off
echo "ideal diodes, software:            $(accuracy "$out/ideal.xml" software)"
echo "ideal diodes, SPICE (pwl_diode):   $(accuracy "$out/ideal.xml" spice)"
$spicenn set-diode "$out/ideal.xml" --diode shockley -o "$out/shockley.xml"
echo "Shockley diodes, SPICE, before:    $(accuracy "$out/shockley.xml" spice)"
$spicenn train "$out/shockley.xml" --data "$data" --engine spice --epochs 1 --lr 0.01 --batch 32 --seed 1 \
  --out "$out/tuned.xml" --fresh --progress off
echo "Shockley diodes, SPICE, after one epoch against SPICE: $(accuracy "$out/tuned.xml" spice)"
