#!/usr/bin/env bash
# Regenerates the fixed models of the regression suite (tests/regression/models/):
#   bash tests/regression/make-models.sh
# Each model: `spicenn init` (fixed seed), then for most a short software
# training run on a toy set (one thread, fixed seeds: bit-identical on every
# platform), so that the parameters are trained values rather than the
# initialization's. The models are committed; this script only documents
# (and can redo) how they were made. SPICENN: the binary (default
# build/src/cli/spicenn).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
spicenn="${SPICENN:-$root/build/src/cli/spicenn}"
out="$root/tests/regression/models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
train() {  # INIT OUT DATA EPOCHS LR
  "$spicenn" train "$1" --data "$3" --engine software --epochs "$4" --lr "$5" --batch 32 --seed 1 --limit 400 \
    --threads 1 --no-test --fresh --progress off --checkpoint-dir "$tmp/ckpt" --out "$2"
}

# MON: 2-4-2, two stages, ideal diode (pwl_diode in SPICE) and Shockley diode.
"$spicenn" init mon --inputs 2 --hidden 4 --outputs 2 --stages 2 --diode ideal --input-scale 3 --seed 1 -o "$tmp/mon-ideal.xml"
train "$tmp/mon-ideal.xml" "$out/mon-ideal-2stage.xml" moons 3 0.02
"$spicenn" init mon --inputs 2 --hidden 4 --outputs 2 --stages 2 --diode shockley --input-scale 3 --seed 2 -o "$tmp/mon-shockley.xml"
train "$tmp/mon-shockley.xml" "$out/mon-shockley-2stage.xml" circles 3 0.02

# KAN: 2-3-2 with batch normalization (train folds it into coef and bias),
# the same with a fixed 10 % conductance mismatch, and a 3-layer 2-3-3-2.
"$spicenn" init kan --layers 2,3,2 --bases z15,zaz21 --batch-norm --input-volts 0.6,0.9 --seed 1 -o "$tmp/kan-bn.xml"
train "$tmp/kan-bn.xml" "$out/kan-bn-folded.xml" moons 3 0.01
"$spicenn" perturb "$out/kan-bn-folded.xml" --sigma 0.1 --seed 3 -o "$out/kan-mismatch.xml"
"$spicenn" init kan --layers 2,3,3,2 --bases z15,zaz21 --input-volts 0.6,0.9 --seed 4 -o "$tmp/kan-3layer.xml"
train "$tmp/kan-3layer.xml" "$out/kan-3layer.xml" circles 3 0.01

# KirchhoffNet: 3 nodes (inputs 1-2, output_nodes 2-3), every builtin edge
# function, 2 or 3 slices.
kn() {  # EDGE_FUNCTION SLICES SEED DATA
  "$spicenn" init kirchhoffnet --inputs 2 --nodes 3 --outputs 2 --slices "$2" --edge-function "$1" --theta-std 0.3 \
    --seed "$3" -o "$tmp/kn.xml"
  train "$tmp/kn.xml" "$out/kirchhoffnet-$1-${2}slices.xml" "$4" 2 0.02
}
kn shift_tanh2 2 1 moons
kn shift_tanh1 3 2 circles
kn shift_relu1 2 3 moons
kn conductance 3 4 circles
# Provenance without this run's temporary and checkout paths, so that a
# rerun reproduces the files byte for byte.
sed -i "s|$tmp/|TMP/|g; s|$root/||g" "$out"/*.xml
ls -l "$out"
