#!/usr/bin/env bash
# Non-ideality recovery (docs/results.md): a MON trained in software with
# ideal diodes is evaluated in SPICE with Shockley diodes, then fine-tuned for
# one epoch against SPICE (forward values and gradients from ngspice).
#   bash scripts/reproduce-nonideality.sh [circles|moons|spirals]
# Both trainings use the first 1,800 of the 2,000 training samples; the last
# 200 are the validation split (`spicenn train`'s default), on which the
# software training's epoch (of 30) is chosen; the fine-tuning has one epoch,
# so nothing to choose (its validation accuracy is printed). Each model is
# then evaluated on the 1,000 test samples (no choice is made from them).
# SPICENN_THREADS: threads / ngspice instances (default 1).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-circles}"
threads="${SPICENN_THREADS:-1}"
spicenn=build/src/cli/spicenn
out=build/results/nonideality-$data
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
accuracy() { "$spicenn" eval "$1" --data "$data" --engine "$2" --threads "$threads" --progress off | sed -n 2p; }
selected() {  # metrics.csv: the epoch the trainer selects (best validation accuracy, ties: lower loss)
  awk -F, 'NR > 1 && ($5 > a || ($5 == a && $4 < l)) {a = $5; l = $4; e = $1}
    END {printf "epoch %d of %d, validation accuracy %.2f %%, loss %.4f", e, NR - 1, 100 * a, l}' "$1"
}

$spicenn init mon --inputs 2 --hidden 16 --outputs 2 --seed 3 -o "$out/init.xml"
$spicenn train "$out/init.xml" --data "$data" --engine software --epochs 30 --lr 0.03 --batch 32 --seed 1 \
  --threads "$threads" --no-test --out "$out/ideal.xml" --metrics "$out/metrics-ideal.csv" --fresh --progress off
echo "ideal diodes, trained in software: selected $(selected "$out/metrics-ideal.csv")"
echo "ideal diodes, software:            $(accuracy "$out/ideal.xml" software)"
echo "ideal diodes, SPICE (pwl_diode):   $(accuracy "$out/ideal.xml" spice)"
$spicenn set-diode "$out/ideal.xml" --diode shockley -o "$out/shockley.xml"
echo "Shockley diodes, SPICE, before:    $(accuracy "$out/shockley.xml" spice)"
$spicenn train "$out/shockley.xml" --data "$data" --engine spice --epochs 1 --lr 0.01 --batch 32 --seed 1 \
  --threads "$threads" --no-test --out "$out/tuned.xml" --metrics "$out/metrics-tuned.csv" --fresh --progress off
echo "fine-tuned against SPICE: $(selected "$out/metrics-tuned.csv")"
echo "Shockley diodes, SPICE, after one epoch against SPICE: $(accuracy "$out/tuned.xml" spice)"
