#!/usr/bin/env bash
# A KirchhoffNet trained by spicenn on MNIST at 14x14 (2x2 average pooling):
# the reference's image topology (246 nodes, 49,132 shift_relu1 edges per
# slice, 2 slices of duration 1, kaiming initial theta), Adam lr 0.002 with
# cosine decay, batch 64, 5 epochs; epoch chosen on the last 5,000 training
# images, the test set evaluated once at the end (METRICS.test.json).
# Continues an interrupted run from its checkpoint. Then SPICE on the first
# N test images (default 0: ~80 s of ngspice per image at this size today).
#   bash scripts/reproduce-kirchhoffnet-mnist14.sh [spice-images] [threads]
# ~1.5 h per epoch on one loaded core (a trained network takes more steps
# than a fresh one: ~60 samples/s per core).
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
  echo "== the first $spice_images test images in SPICE and in software"
  $spicenn eval "$out/trained.xml" --data mnist --pool 2 --engine software --limit "$spice_images" --threads "$threads" \
    --progress off | tee "$out/eval-software-$spice_images.txt" | head -2
  $spicenn eval "$out/trained.xml" --data mnist --pool 2 --engine spice --limit "$spice_images" --threads "$threads" \
    --progress lines | tee "$out/eval-spice-$spice_images.txt" | head -2
fi
