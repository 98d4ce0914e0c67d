#!/usr/bin/env bash
# Reproduces the MON results in docs/results.md: a one-stage, 100-unit
# resistor-diode network trained in software on MNIST (and Fashion-MNIST),
# then evaluated in SPICE on test images, as trained and with every
# conductance below 1 uS removed (`spicenn prune`).
#
# Model selection is honest: every candidate setting (EPOCHS:LR, Adam with
# cosine decay, batch 64, seed 1) trains on the first 55,000 training images
# and its epoch is chosen on the last 5,000 (validation; `spicenn train`
# does this). The candidate with the best validation accuracy (ties: lower
# validation loss, then the earlier-listed candidate) becomes trained.xml,
# and only that model (and its pruned copy) is evaluated on the test set.
#   bash scripts/reproduce-mon-mnist.sh [mnist|fashion-mnist] [spice-images] [epochs] [candidates]
# spice-images 0: train and evaluate in software only. candidates: a list of
# EPOCHS:LR, default "15:0.02" for mnist and "15:0.02 15:0.01 30:0.01 30:0.02"
# for fashion-mnist; giving epochs instead trains the single candidate
# EPOCHS:0.02. The candidates run one after another with SPICENN_THREADS
# threads / ngspice instances (default 1): about 50 s per 15 epochs on one
# thread (fashion-mnist, all four: 5 minutes); the SPICE evaluation of 2,000
# images about 45 s (trained) and 30 s (pruned). Selection: $out/selection.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-mnist}"
spice_images="${2:-2000}"
default_candidates="15:0.02"
[ "$data" = fashion-mnist ] && default_candidates="15:0.02 15:0.01 30:0.01 30:0.02"
if [ -n "${3:-}" ]; then default_candidates="$3:0.02"; fi
candidates="${4:-$default_candidates}"
threads="${SPICENN_THREADS:-1}"
spicenn=build/src/cli/spicenn
out=build/results/mon-$data
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh

$spicenn init mon --inputs 784 --hidden 100 --outputs 10 --seed 1 -o "$out/init.xml"
for c in $candidates; do
  epochs="${c%%:*}" lr="${c#*:}"
  $spicenn train "$out/init.xml" --data "$data" --engine software --epochs "$epochs" --batch 64 --lr "$lr" \
    --schedule cosine --seed 1 --threads "$threads" --no-test --out "$out/trained-e$epochs-lr$lr.xml" \
    --metrics "$out/metrics-e$epochs-lr$lr.csv" --fresh --progress lines
done

# The selected epoch of each candidate: its best validation accuracy (ties: lower loss).
echo "candidate (epochs:lr)  val_accuracy  val_loss  selected epoch" | tee "$out/selection.txt"
for c in $candidates; do
  epochs="${c%%:*}" lr="${c#*:}"
  awk -F, -v c="$c" 'NR > 1 && ($5 > a || ($5 == a && $4 < l)) {a = $5; l = $4; e = $1}
    END {printf "%-22s %.4f        %.6f  %d\n", c, a, l, e}' "$out/metrics-e$epochs-lr$lr.csv"
done | tee -a "$out/selection.txt"
best=$(awk 'NR > 1 && (!n++ || $2 > a || ($2 == a && $3 < l)) {a = $2; l = $3; c = $1} END {print c}' "$out/selection.txt")
echo "selected: $best" | tee -a "$out/selection.txt"
epochs="${best%%:*}" lr="${best#*:}"
cp "$out/trained-e$epochs-lr$lr.xml" "$out/trained.xml"
cp "$out/metrics-e$epochs-lr$lr.csv" "$out/metrics.csv"

echo "== the test set with the selected model (no choice is made from here on)"
$spicenn eval "$out/trained.xml" --data "$data" --engine software --threads "$threads" | tee "$out/eval-software.txt"
# Realistic resistors: drop every conductance below 1 uS (no resistor above 1 Mohm).
$spicenn prune "$out/trained.xml" --below 1e-6 -o "$out/pruned.xml"
$spicenn eval "$out/pruned.xml" --data "$data" --engine software --threads "$threads" | tee "$out/eval-pruned-software.txt"
[ "$spice_images" -gt 0 ] || exit 0
for model in trained pruned; do
  $spicenn eval "$out/$model.xml" --data "$data" --engine software --threads "$threads" --limit "$spice_images" | tee "$out/eval-$model-software-$spice_images.txt"
  $spicenn eval "$out/$model.xml" --data "$data" --engine spice --threads "$threads" --limit "$spice_images" | tee "$out/eval-$model-spice-$spice_images.txt"
done
