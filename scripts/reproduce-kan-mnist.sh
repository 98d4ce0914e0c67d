#!/usr/bin/env bash
# Reproduces the KAN MNIST result in docs/results.md: the KANalogue network
# [196, 64, 10] with the z15 and zaz21 basis devices and batch normalization,
# on MNIST at 14x14 (2x2 average pooling), trained in software.
#
# Model selection is honest: each candidate trains on the first 55,000
# training images; its epoch is chosen on the last 5,000 (validation); the
# candidate with the best validation accuracy is evaluated once on the
# 10,000 test images. Candidates: where the signal drives the devices —
# straight (inputs 0..1 V, hidden 0..1.4 V, as the reference code) or on the
# rising flanks (inputs 0.4..1.0 V, hidden 0.3..1.0 V, spicenn's default).
# Then the selected model (batch normalization folded) in SPICE on the first
# N test images, with the software model on the same images.
#   bash scripts/reproduce-kan-mnist.sh [spice-images=2000] [epochs=60]
# About 3 minutes of training per candidate (both in parallel on 2 cores)
# and 25 s of SPICE per 2,000 images.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spice_images="${1:-2000}"
epochs="${2:-60}"
spicenn=build/src/cli/spicenn
out=build/results/kan-mnist
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
data=(--data mnist --pool 2)

declare -A volts=([direct]="--input-volts 0,1 --hidden-volts 0,1.4" [flanks]="--input-volts 0.4,1.0 --hidden-volts 0.3,1.0")
for c in direct flanks; do
  # shellcheck disable=SC2086
  $spicenn init kan --layers 196,64,10 --bases z15,zaz21 --batch-norm ${volts[$c]} --seed 1 -o "$out/init-$c.xml"
  $spicenn train "$out/init-$c.xml" "${data[@]}" --engine software --epochs "$epochs" --batch 64 --lr 0.002 \
    --schedule cosine --weight-decay 0.1 --seed 1 --threads 1 --no-test --out "$out/trained-$c.xml" \
    --metrics "$out/metrics-$c.csv" --fresh --progress lines > "$out/train-$c.log" 2>&1 &
done
wait
best="" best_acc=0
echo "candidate  best validation accuracy (epoch)"
for c in direct flanks; do
  read -r acc epoch < <(awk -F, 'NR > 1 && $5 > a {a = $5; e = $1} END {print a, e}' "$out/metrics-$c.csv")
  printf "%-10s %s (%s)\n" "$c" "$acc" "$epoch"
  if awk -v a="$acc" -v b="$best_acc" 'BEGIN {exit !(a > b)}'; then best=$c best_acc=$acc; fi
done | tee "$out/selection.txt"
best=$(awk 'NR > 1 {if ($2 > a) {a = $2; c = $1}} END {print c}' "$out/selection.txt")
echo "selected: $best" | tee -a "$out/selection.txt"
cp "$out/trained-$best.xml" "$out/trained.xml"

echo "== the test set, once, with the selected model"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --json > "$out/test-software.json"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software | tee "$out/eval-software.txt" | head -2
[ "$spice_images" -gt 0 ] || exit 0
echo "== SPICE on the first $spice_images test images, and the software model on the same images"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --limit "$spice_images" | tee "$out/eval-software-$spice_images.txt" | head -2
$spicenn eval "$out/trained.xml" "${data[@]}" --engine spice --limit "$spice_images" | tee "$out/eval-spice-$spice_images.txt" | head -2
$spicenn verify "$out/trained.xml" --samples 8 | tee "$out/verify.txt" | tail -1
