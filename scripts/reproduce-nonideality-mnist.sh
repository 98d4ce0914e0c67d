#!/usr/bin/env bash
# Non-ideality recovery at MNIST scale (docs/results.md): the 784-100-10 MON
# trained in software with ideal diodes (scripts/reproduce-mon-mnist.sh) is
# given Shockley diodes, evaluated, fine-tuned against SPICE (forward values
# and gradients from ngspice) on the first N training images, and evaluated
# again. One full epoch against SPICE (the 55,000 training images left
# after the 5,000 validation images) is
#   SPICENN_THREADS=2 SPICENN_BATCH=128 bash scripts/reproduce-nonideality-mnist.sh 55000 2000 5000
# (docs/results.md: the Shockley diodes' gradient by central nudged sweeps).
#   bash scripts/reproduce-nonideality-mnist.sh [N] [test-images] [validation-images] [learning-rates]
# Model selection is honest: training images N+1 .. N+V (V = validation-images,
# default 1,000) are the validation split of both fine-tunings (`--limit N+V
# --validation V`). The learning rate (default candidates "0.001 0.003 0.01")
# is chosen by the validation accuracy of the same fine-tuning in software
# (the diodes' exact law; ties: lower validation loss, then the
# earlier-listed rate), and the SPICE fine-tuning uses it. The test images
# are used only for the figures printed, after all choices are made.
# SPICENN_THREADS: threads / ngspice instances (default 1); SPICENN_BATCH:
# the fine-tunings' batch size (default 32); SPICENN_RESUME=1: the SPICE
# fine-tuning continues from its checkpoint (after Ctrl-C or a crash).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
train_images="${1:-2000}"
test_images="${2:-2000}"
val_images="${3:-1000}"
rates="${4:-0.001 0.003 0.01}"
threads="${SPICENN_THREADS:-1}"
batch="${SPICENN_BATCH:-32}"
spicenn=build/src/cli/spicenn
out=build/results/nonideality-mnist
base=build/results/mon-mnist/trained.xml
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f "$base" ] || bash scripts/reproduce-mon-mnist.sh mnist 0
accuracy() {  # model engine limit
  "$spicenn" eval "$1" --data mnist --engine "$2" --limit "$3" --threads "$threads" --progress off | sed -n 2p
}
selected() {  # metrics.csv -> "val_accuracy val_loss epoch" of the epoch the trainer selects
  awk -F, 'NR > 1 && ($5 > a || ($5 == a && $4 < l)) {a = $5; l = $4; e = $1} END {printf "%.4f %.6f %d\n", a, l, e}' "$1"
}
finetune=(--data mnist --epochs 1 --limit "$((train_images + val_images))" --validation "$val_images" --batch "$batch" --seed 1
  --threads "$threads" --no-test --fresh --progress lines)

$spicenn set-diode "$base" --diode shockley -o "$out/shockley.xml"

echo "learning rate  validation accuracy  loss  (software fine-tuning, exact Shockley law)" | tee "$out/selection.txt"
for lr in $rates; do
  $spicenn train "$out/shockley.xml" "${finetune[@]}" --engine software --lr "$lr" \
    --out "$out/tuned-software-lr$lr.xml" --metrics "$out/metrics-software-lr$lr.csv"
  echo "$lr $(selected "$out/metrics-software-lr$lr.csv")" | tee -a "$out/selection.txt"
done
lr=$(awk 'NR > 1 && (!n++ || $2 > a || ($2 == a && $3 < l)) {a = $2; l = $3; r = $1} END {print r}' "$out/selection.txt")
echo "selected: lr $lr" | tee -a "$out/selection.txt"

# SPICENN_RESUME=1: continue an interrupted SPICE fine-tuning from its checkpoint.
spice_finetune=("${finetune[@]}")
[ "${SPICENN_RESUME:-0}" = 1 ] && spice_finetune=("${finetune[@]/--fresh/--resume}")
$spicenn train "$out/shockley.xml" "${spice_finetune[@]}" --engine spice --lr "$lr" \
  --out "$out/tuned.xml" --metrics "$out/metrics.csv"
echo "SPICE fine-tuning, validation accuracy, loss, epoch: $(selected "$out/metrics.csv")"

echo "== the test set (no choice is made from here on)"
echo "ideal diodes, software, all test images:          $(accuracy "$base" software 0)"
echo "ideal diodes, SPICE (pwl_diode), first $test_images:      $(accuracy "$base" spice "$test_images")"
echo "Shockley diodes, software (exact law), all:       $(accuracy "$out/shockley.xml" software 0)"
echo "Shockley diodes, SPICE, first $test_images, before:     $(accuracy "$out/shockley.xml" spice "$test_images")"
echo "after fine-tuning on $train_images images against SPICE (lr $lr):"
echo "  SPICE, first $test_images test images:    $(accuracy "$out/tuned.xml" spice "$test_images")"
echo "  software (exact law), all test images: $(accuracy "$out/tuned.xml" software 0)"
echo "cross-check, the same fine-tuning in software (exact law), all test images: $(accuracy "$out/tuned-software-lr$lr.xml" software 0)"
