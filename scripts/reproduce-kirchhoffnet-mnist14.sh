#!/usr/bin/env bash
# A KirchhoffNet trained by spicenn on MNIST at 14x14 (2x2 average pooling):
# the reference's image topology (246 nodes, 49,132 shift_relu1 edges per
# slice, 2 slices of duration 1, kaiming initial theta), Adam lr 0.002 with
# cosine decay, batch 64, 5 epochs; epoch chosen on the last 5,000 training
# images, the test set evaluated once at the end (METRICS.test.json).
# Continues an interrupted run from its checkpoint. Then SPICE on the first
# N test images (default 0), compared with software on the same images.
#   bash scripts/reproduce-kirchhoffnet-mnist14.sh [spice-images] [threads]
# ~6 min per epoch on one quiet core (164 samples/s), up to ~40 min on a
# loaded machine; SPICE ~8 s per image per engine (--transient standard).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spice_images="${1:-0}"
threads="${2:-1}"
spicenn=build/src/cli/spicenn
out=build/results/kn-mnist14
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f "$out/init.xml" ] || $spicenn init kirchhoffnet --image 14x14 --hub 50 --outputs 10 --slices 2 --duration 1 \
  --edge-function shift_relu1 --init kaiming --seed 1 -o "$out/init.xml"
resume=(--fresh)
[ -d "$out/trained.xml.checkpoint" ] && resume=(--resume)
$spicenn train "$out/init.xml" --data mnist --pool 2 --epochs 5 --batch 64 --lr 0.002 --schedule cosine \
  --threads "$threads" --out "$out/trained.xml" --metrics "$out/metrics.csv" "${resume[@]}" \
  --progress lines --progress-interval 120 2>&1 | tee -a "$out/train.log"
if [ "$spice_images" -gt 0 ]; then
  # The standard transient (ngspice's default tolerances; docs/kirchhoffnet.md
  # "Transient cost"): ~8 s of CPU per image at this size.
  echo "== the first $spice_images test images in SPICE (standard transient) and in software"
  $spicenn predict "$out/trained.xml" --data mnist --pool 2 --limit "$spice_images" --engine software --threads "$threads" \
    --progress off -o "$out/predict-software-$spice_images.csv"
  $spicenn predict "$out/trained.xml" --data mnist --pool 2 --limit "$spice_images" --engine spice --transient standard \
    --batch 10 --threads "$threads" --progress lines -o "$out/predict-spice-$spice_images.csv"
  bash scripts/compare-predictions.sh "$out/predict-spice-$spice_images.csv" "$out/predict-software-$spice_images.csv" |
    tee "$out/spice-vs-software-$spice_images.txt"
fi
