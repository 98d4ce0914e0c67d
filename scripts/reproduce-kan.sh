#!/usr/bin/env bash
# Reproduces the KAN results in docs/results.md, trained in software:
#   mnist          the KANalogue network [196, 64, 10] on MNIST at 14x14 (2x2 average pooling,
#                  or bilinear resizing as the reference's torchvision Resize)
#   fashion-mnist  [784, 256, 10] on Fashion-MNIST at 28x28
# both with the z15 and zaz21 basis devices and batch normalization (folded
# into the layers when the model is written).
#
# Model selection is honest: every candidate trains on the first 55,000
# training images and its epoch is chosen on the last 5,000 (validation);
# the candidate with the best validation accuracy is evaluated once on the
# 10,000 test images. Candidates (the hyper-parameters explored):
#   direct   the signal straight onto the devices (inputs 0..1 V, hidden
#            0..1.4 V), as the KANalogue reference code
#   flanks   inputs 0.4..1.0 V, hidden 0.3..1.0 V (spicenn's default)
#   shift    flanks, training images shifted by up to 1 pixel (augmentation)
#   resize   flanks on 14x14 images made as the KANalogue reference makes
#            them (torchvision Resize: PIL's antialiased bilinear filter,
#            `--resize 14`) instead of 2x2 average pooling (MNIST only)
#   resize-shift  resize, and training images shifted by up to 1 pixel
# The selected settings are also refitted on all 60,000 training images
# (the full schedule, last epoch) and that model tested once. Then the
# selected model in SPICE on the first N test images, with the software
# model on the same images, and `spicenn verify`.
#   bash scripts/reproduce-kan.sh [mnist|fashion-mnist] [spice-images] [epochs] [candidates]
# Defaults: mnist: 2000 SPICE images, 60 epochs, all five candidates
# (~3 min of training one candidate at a time, ~1 min of SPICE); fashion-mnist: 1000 SPICE
# images, 30 epochs, candidates "direct flanks" (~15 min, SPICE ~10 min).
# SPICENN_JOBS=N trains N candidates at a time (default 2, one thread each);
# SPICENN_THREADS=N caps the threads / ngspice engines of the evaluations
# (default 0 = all cores). The results depend on neither.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
set_name="${1:-mnist}"
case "$set_name" in
  mnist) layers=196,64,10 pool=2 d_images=2000 d_epochs=60 d_candidates="direct flanks shift resize resize-shift" shift=1 ;;
  fashion-mnist) layers=784,256,10 pool=1 d_images=1000 d_epochs=30 d_candidates="direct flanks" shift=2 ;;
  *) echo "usage: $0 [mnist|fashion-mnist] [spice-images] [epochs] [candidates]" >&2; exit 2 ;;
esac
spice_images="${2:-$d_images}"
epochs="${3:-$d_epochs}"
candidates="${4:-$d_candidates}"
spicenn=build/src/cli/spicenn
out=build/results/kan-$set_name
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
jobs="${SPICENN_JOBS:-2}" threads="${SPICENN_THREADS:-0}"

# Per candidate: the four `init kan` flags, then the data flags (as train,
# eval and compile take them), then the training-only flags.
flags_of() {
  case "$1" in
    direct) echo "--input-volts 0,1 --hidden-volts 0,1.4 --data $set_name --pool $pool" ;;
    flanks) echo "--input-volts 0.4,1.0 --hidden-volts 0.3,1.0 --data $set_name --pool $pool" ;;
    shift) echo "--input-volts 0.4,1.0 --hidden-volts 0.3,1.0 --data $set_name --pool $pool --augment-shift $shift" ;;
    resize) echo "--input-volts 0.4,1.0 --hidden-volts 0.3,1.0 --data $set_name --resize $((28 / pool))" ;;
    resize-shift) echo "--input-volts 0.4,1.0 --hidden-volts 0.3,1.0 --data $set_name --resize $((28 / pool)) --augment-shift $shift" ;;
    *) echo "unknown candidate '$1'" >&2; exit 2 ;;
  esac
}
split_flags() {  # sets init_flags, data, train_flags for candidate $1
  local f
  read -r -a f <<< "$(flags_of "$1")"
  init_flags=("${f[@]:0:4}") data=("${f[@]:4:4}") train_flags=("${f[@]:8}")
}

# SPICENN_JOBS candidates at a time, one thread each.
running=0
for c in $candidates; do
  split_flags "$c"
  $spicenn init kan --layers "$layers" --bases z15,zaz21 --batch-norm "${init_flags[@]}" --seed 1 -o "$out/init-$c.xml"
  $spicenn train "$out/init-$c.xml" "${data[@]}" "${train_flags[@]}" --engine software --epochs "$epochs" --batch 64 \
    --lr 0.002 --schedule cosine --weight-decay 0.1 --seed 1 --threads 1 --no-test --out "$out/trained-$c.xml" \
    --metrics "$out/metrics-$c.csv" --fresh --progress lines > "$out/train-$c.log" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait

echo "candidate  validation accuracy (epoch)" | tee "$out/selection.txt"
for c in $candidates; do
  awk -F, -v c="$c" 'NR > 1 && $5 > a {a = $5; e = $1} END {printf "%-10s %.4f (%d)\n", c, a, e}' "$out/metrics-$c.csv"
done | tee -a "$out/selection.txt"
best=$(awk 'NR > 1 && $2 > a {a = $2; c = $1} END {print c}' "$out/selection.txt")
echo "selected: $best" | tee -a "$out/selection.txt"
cp "$out/trained-$best.xml" "$out/trained.xml"
split_flags "$best"  # the selected candidate's data flags from here on
echo "${data[*]}" > "$out/data-flags.txt"

# Realistic resistors: no crossbar conductance below 1 uS (no resistor above 1 Mohm).
$spicenn prune "$out/trained.xml" --below 1e-6 -o "$out/pruned.xml" 2>&1 | tail -1

echo "== the test set, once, with the selected model (and its pruned circuit)"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --threads "$threads" --json --progress off > "$out/test-software.json"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --threads "$threads" --progress off | tee "$out/eval-software.txt" | head -2
$spicenn eval "$out/pruned.xml" "${data[@]}" --engine software --threads "$threads" --progress off | tee "$out/eval-pruned-software.txt" | head -2
# The selected settings refitted on all 60,000 training images (no
# validation set: the full schedule, last epoch), tested once as well.
$spicenn train "$out/init-$best.xml" "${data[@]}" "${train_flags[@]}" --validation 0 --engine software --epochs "$epochs" \
  --batch 64 --lr 0.002 --schedule cosine --weight-decay 0.1 --seed 1 --threads 1 --no-test --out "$out/trained-all.xml" \
  --metrics "$out/metrics-all.csv" --fresh --progress off 2>&1 | tail -1
$spicenn eval "$out/trained-all.xml" "${data[@]}" --engine software --threads "$threads" --progress off | tee "$out/eval-all-software.txt" | head -2

[ "$spice_images" -gt 0 ] || exit 0
echo "== SPICE on the first $spice_images test images, and the software model on the same images"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --threads "$threads" --limit "$spice_images" --progress off | tee "$out/eval-software-$spice_images.txt" | head -2
$spicenn eval "$out/trained.xml" "${data[@]}" --engine spice --threads "$threads" --limit "$spice_images" --progress lines | tee "$out/eval-spice-$spice_images.txt" | head -2
$spicenn compile "$out/trained.xml" -o "$out/trained.cir" 2>&1 | tail -1 | tee "$out/compile.txt"
$spicenn compile "$out/pruned.xml" -o "$out/pruned.cir" 2>&1 | tail -1 | tee "$out/compile-pruned.txt"
if [ "$set_name" = mnist ]; then  # the pruned circuit in SPICE too (Fashion-MNIST's takes ~15 min per 1000 images)
  $spicenn eval "$out/pruned.xml" "${data[@]}" --engine software --threads "$threads" --limit "$spice_images" --progress off | tee "$out/eval-pruned-software-$spice_images.txt" | head -2
  $spicenn eval "$out/pruned.xml" "${data[@]}" --engine spice --threads "$threads" --limit "$spice_images" --progress off | tee "$out/eval-pruned-spice-$spice_images.txt" | head -2
fi
$spicenn verify "$out/trained.xml" --samples 4 | tee "$out/verify.txt" | tail -1
