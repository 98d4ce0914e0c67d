#!/usr/bin/env bash
# The fitted-device path end to end: I-V points of a tunnel diode (written
# here: an Esaki-type curve, I = Ip·(V/Vp)·e^(1−V/Vp) + Iv·e^(A(V−Vv)) +
# Is·(e^(V/(n·VT))−1), sampled every 10 mV on 0..0.6 V with 1 % seeded noise,
# standing in for a measurement) -> `spicenn fit-device` (cubic regression
# spline, library file + PNG plot) -> a KAN whose basis is that library ->
# trained on MNIST 14x14 (epoch chosen on the validation split) -> the test
# set once in software -> SPICE on the first N test images.
#   bash scripts/reproduce-kan-fitted-device.sh [spice-images=500] [epochs=15]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spice_images="${1:-500}"
epochs="${2:-15}"
spicenn=build/src/cli/spicenn
out=build/results/kan-fitted-device
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
data=(--data mnist --pool 2)

awk 'BEGIN {
  srand(7); ip = 1e-4; vp = 0.065; iv = 1.2e-5; a = 9; vv = 0.35; is = 1e-12; nvt = 0.0517
  print "voltage,current  # synthetic Esaki-type tunnel diode, 1 % noise"
  for (k = 0; k <= 60; ++k) {
    v = k * 0.01
    i = ip * (v / vp) * exp(1 - v / vp) + iv * exp(a * (v - vv)) + is * (exp(v / nvt) - 1)
    u = rand() + rand() + rand() + rand() + rand() + rand() - 3   # ~N(0, 0.5)
    printf "%.3f,%.6e\n", v, i * (1 + 0.02 * u)
  }
}' > "$out/tunnel-diode-iv.csv"

$spicenn fit-device "$out/tunnel-diode-iv.csv" --name tunnel_fit --spline -o "$out/tunnel_fit.lib" \
  --plot "$out/tunnel_fit.png" | tee "$out/fit.txt"
$spicenn init kan --layers 196,64,10 --bases "$out/tunnel_fit.lib" --batch-norm --input-volts 0.02,0.5 \
  --hidden-volts 0.02,0.5 --seed 1 -o "$out/init.xml"
$spicenn train "$out/init.xml" "${data[@]}" --engine software --epochs "$epochs" --batch 64 --lr 0.002 --schedule cosine \
  --weight-decay 0.1 --seed 1 --no-test --out "$out/trained.xml" --metrics "$out/metrics.csv" --fresh --progress lines \
  2>&1 | tail -2
echo "== the test set, once"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --progress off | tee "$out/eval-software.txt" | head -2
echo "== SPICE on the first $spice_images test images, and the software model on the same images"
$spicenn eval "$out/trained.xml" "${data[@]}" --engine software --limit "$spice_images" --progress off | tee "$out/eval-software-$spice_images.txt" | head -2
$spicenn eval "$out/trained.xml" "${data[@]}" --engine spice --limit "$spice_images" --progress off | tee "$out/eval-spice-$spice_images.txt" | head -2
$spicenn verify "$out/trained.xml" --samples 4 | tee "$out/verify.txt" | tail -1
