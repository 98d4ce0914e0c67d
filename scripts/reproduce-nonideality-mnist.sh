#!/usr/bin/env bash
# Non-ideality recovery at MNIST scale (docs/results.md): the 784-100-10 MON
# trained in software with ideal diodes (scripts/reproduce-mon-mnist.sh) is
# given Shockley diodes, evaluated, fine-tuned against SPICE (forward values
# and gradients from ngspice) on the first N training images, and evaluated
# again. One full epoch against SPICE (60,000 images at ~0.2-0.4 s each) is
# out of reach on 2 cores; N = 2,000 takes about 10 minutes.
#   bash scripts/reproduce-nonideality-mnist.sh [N] [test-images]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
train_images="${1:-2000}"
test_images="${2:-2000}"
spicenn=build/src/cli/spicenn
out=build/results/nonideality-mnist
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f build/results/mon-mnist/trained.xml ] || bash scripts/reproduce-mon-mnist.sh mnist 0
accuracy() {  # model engine limit
  "$spicenn" eval "$1" --data mnist --engine "$2" --limit "$3" --progress off | sed -n 2p
}

$spicenn set-diode build/results/mon-mnist/trained.xml --diode shockley -o "$out/shockley.xml"
echo "ideal diodes, software, all test images:          $(accuracy build/results/mon-mnist/trained.xml software 0)"
echo "Shockley diodes, software (exact law), all:       $(accuracy "$out/shockley.xml" software 0)"
echo "Shockley diodes, SPICE, first $test_images, before:     $(accuracy "$out/shockley.xml" spice "$test_images")"
$spicenn train "$out/shockley.xml" --data mnist --engine spice --epochs 1 --limit "$train_images" --batch 32 --lr 0.01 \
  --seed 1 --no-test --out "$out/tuned.xml" --metrics "$out/metrics.csv" --fresh --progress lines
echo "after fine-tuning on $train_images images against SPICE:"
echo "  SPICE, first $test_images test images:    $(accuracy "$out/tuned.xml" spice "$test_images")"
echo "  software (exact law), all test images: $(accuracy "$out/tuned.xml" software 0)"
