#!/usr/bin/env bash
# A MON with a fitted real-diode curve on MNIST (docs/results.md, "MNIST with
# a fitted diode"):
#  1. "measure" a diode: a DC sweep of the builtin shockley_diode's SPICE
#     subcircuit in the ngspice program, -0.6 .. 0.55 V in 5 mV steps, as
#     CSV (a measured curve would take its place);
#  2. fit-device: a natural cubic spline with 200 knots -> shockley_fit.lib
#     (plot beside it);
#  3. set-diode: the 784-100-10 MON trained with ideal diodes
#     (scripts/reproduce-mon-mnist.sh) gets that device; its software law
#     is then the fitted curve (option diode = device);
#  4. fine-tuning in software with that law over the training images left
#     after the validation split, up to E epochs (default 10) with early
#     stopping (patience 3) and the best-validation epoch kept; the learning
#     rate (candidates "0.001 0.003 0.01") is chosen by validation accuracy
#     (ties: lower validation loss, then the earlier-listed rate);
#  5. the test set, once, after every choice: software on all 10,000 and on
#     the first N (default 2,000), SPICE on the same first N, their
#     agreement per image; and `spicenn verify` of the tuned model.
#   bash scripts/reproduce-fitted-diode-mnist.sh [test-images] [validation-images] [learning-rates]
# SPICENN_THREADS: threads / ngspice instances (default 2); SPICENN_BATCH:
# the fine-tuning's batch size (default 128); SPICENN_EPOCHS: E.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
test_images="${1:-2000}"
val_images="${2:-5000}"
rates="${3:-0.001 0.003 0.01}"
threads="${SPICENN_THREADS:-2}"
batch="${SPICENN_BATCH:-128}"
epochs="${SPICENN_EPOCHS:-10}"
spicenn=build/src/cli/spicenn
out=build/results/fitted-diode-mnist
base=build/results/mon-mnist/trained.xml
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f "$base" ] || bash scripts/reproduce-mon-mnist.sh mnist 0

# 1. The sweep, in the ngspice program (the current into the anode is -i(v1)).
cat > "$out/sweep.cir" <<EOF
shockley_diode I-V sweep
.include "$PWD/device_models/shockley_diode.lib"
v1 a 0 dc 0
x1 a 0 shockley_diode
.dc v1 -0.6 0.55 0.005
.print dc i(v1)
.end
EOF
ngspice -b "$out/sweep.cir" 2>/dev/null |
  awk 'BEGIN {print "voltage,current"} /^[0-9]+\t/ {printf "%s,%.7e\n", $2, -$3}' > "$out/shockley-sweep.csv"
echo "sweep: $(($(wc -l < "$out/shockley-sweep.csv") - 1)) points -> $out/shockley-sweep.csv"

# 2-3. The fit and the model with it.
$spicenn fit-device "$out/shockley-sweep.csv" --name shockley_fit --spline --knots 200 \
  -o "$out/shockley_fit.lib" --plot "$out/shockley_fit.svg"
$spicenn set-diode "$base" --device "$out/shockley_fit.lib" -o "$out/fitted.xml"
$spicenn activation "$out/fitted.xml" -o "$out/activation.png" --csv "$out/activation.csv"

# 4. Fine-tuning in software with the fitted law; the rate by validation accuracy.
selected() {  # metrics.csv -> "val_accuracy val_loss epoch" of the epoch the trainer selects
  awk -F, 'NR > 1 && ($5 > a || ($5 == a && $4 < l)) {a = $5; l = $4; e = $1} END {printf "%.4f %.6f %d\n", a, l, e}' "$1"
}
echo "learning rate  validation accuracy  loss  epoch  (software fine-tuning, fitted law)" | tee "$out/selection.txt"
for lr in $rates; do
  $spicenn train "$out/fitted.xml" --data mnist --epochs "$epochs" --patience 3 --validation "$val_images" \
    --batch "$batch" --seed 1 \
    --threads "$threads" --no-test --fresh --progress lines --engine software --lr "$lr" \
    --out "$out/tuned-lr$lr.xml" --metrics "$out/metrics-lr$lr.csv"
  echo "$lr $(selected "$out/metrics-lr$lr.csv")" | tee -a "$out/selection.txt"
done
lr=$(awk 'NR > 1 && (!n++ || $2 > a || ($2 == a && $3 < l)) {a = $2; l = $3; r = $1} END {print r}' "$out/selection.txt")
echo "selected: lr $lr" | tee -a "$out/selection.txt"
cp "$out/tuned-lr$lr.xml" "$out/tuned.xml"

# 5. The test set (no choice is made from here on).
accuracy() {  # model engine limit
  "$spicenn" eval "$1" --data mnist --engine "$2" --limit "$3" --threads "$threads" --progress off | sed -n 2p
}
{
  echo "== the test set"
  echo "fitted diode, before fine-tuning, software, all test images: $(accuracy "$out/fitted.xml" software 0)"
  echo "fitted diode, after fine-tuning (lr $lr), software, all test images: $(accuracy "$out/tuned.xml" software 0)"
} | tee "$out/result.txt"
$spicenn predict "$out/tuned.xml" --data mnist --limit "$test_images" --engine software --progress off \
  -o "$out/software-$test_images.csv"
$spicenn predict "$out/tuned.xml" --data mnist --limit "$test_images" --engine spice --threads "$threads" \
  --progress off -o "$out/spice-$test_images.csv"
echo "first $test_images test images, SPICE against software (the fitted law):" | tee -a "$out/result.txt"
bash scripts/compare-predictions.sh "$out/spice-$test_images.csv" "$out/software-$test_images.csv" | tee -a "$out/result.txt"
echo "== verify (SPICE against the software model with the fitted law)" | tee -a "$out/result.txt"
$spicenn verify "$out/tuned.xml" --samples 8 | tee -a "$out/result.txt"
