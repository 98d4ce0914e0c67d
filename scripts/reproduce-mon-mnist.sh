#!/usr/bin/env bash
# Reproduces the MON results in docs/results.md: a one-stage, 100-unit
# resistor-diode network trained in software on MNIST (and Fashion-MNIST),
# then evaluated in SPICE on test images. About 1-2 minutes of training per
# data set on 2 cores; the SPICE evaluation of 2,000 images takes longer.
#   bash scripts/reproduce-mon-mnist.sh [mnist|fashion-mnist] [spice-images]
# (spice-images 0: train and evaluate in software only)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-mnist}"
spice_images="${2:-2000}"
spicenn=build/src/cli/spicenn
out=build/results/mon-$data
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh

$spicenn init mon --inputs 784 --hidden 100 --outputs 10 --seed 1 -o "$out/init.xml"
$spicenn train "$out/init.xml" --data "$data" --engine software --epochs 15 --batch 64 --lr 0.02 \
  --schedule cosine --seed 1 --out "$out/trained.xml" --metrics "$out/metrics.csv" --fresh --progress lines
$spicenn eval "$out/trained.xml" --data "$data" --engine software | tee "$out/eval-software.txt"
[ "$spice_images" -gt 0 ] || exit 0
$spicenn eval "$out/trained.xml" --data "$data" --engine software --limit "$spice_images" | tee "$out/eval-software-$spice_images.txt"
$spicenn eval "$out/trained.xml" --data "$data" --engine spice --limit "$spice_images" | tee "$out/eval-spice-$spice_images.txt"
