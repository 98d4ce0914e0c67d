#!/usr/bin/env bash
# Reproduces the MON results in docs/results.md: a one-stage, 100-unit
# resistor-diode network trained in software on MNIST (and Fashion-MNIST),
# then evaluated in SPICE on test images, as trained and with every
# conductance below 1 uS removed (`spicenn prune`). About 1-2 minutes of training per
# data set on 2 cores; the SPICE evaluation of 2,000 images takes longer.
#   bash scripts/reproduce-mon-mnist.sh [mnist|fashion-mnist] [spice-images] [epochs]
# (spice-images 0: train and evaluate in software only; epochs: 15 for
# mnist, 30 for fashion-mnist, the best of the runs in docs/results.md)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-mnist}"
spice_images="${2:-2000}"
default_epochs=15
[ "$data" = fashion-mnist ] && default_epochs=30
epochs="${3:-$default_epochs}"
spicenn=build/src/cli/spicenn
out=build/results/mon-$data
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh

$spicenn init mon --inputs 784 --hidden 100 --outputs 10 --seed 1 -o "$out/init.xml"
$spicenn train "$out/init.xml" --data "$data" --engine software --epochs "$epochs" --batch 64 --lr 0.02 \
  --schedule cosine --seed 1 --out "$out/trained.xml" --metrics "$out/metrics.csv" --fresh --progress lines
$spicenn eval "$out/trained.xml" --data "$data" --engine software | tee "$out/eval-software.txt"
# Realistic resistors: drop every conductance below 1 uS (no resistor above 1 Mohm).
$spicenn prune "$out/trained.xml" --below 1e-6 -o "$out/pruned.xml"
$spicenn eval "$out/pruned.xml" --data "$data" --engine software | tee "$out/eval-pruned-software.txt"
[ "$spice_images" -gt 0 ] || exit 0
for model in trained pruned; do
  $spicenn eval "$out/$model.xml" --data "$data" --engine software --limit "$spice_images" | tee "$out/eval-$model-software-$spice_images.txt"
  $spicenn eval "$out/$model.xml" --data "$data" --engine spice --limit "$spice_images" | tee "$out/eval-$model-spice-$spice_images.txt"
done
