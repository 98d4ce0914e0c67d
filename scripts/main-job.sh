#!/usr/bin/env bash
# The main job: installs and builds spicenn, then takes a small resistor-diode
# network (steps 1-7), a small tunnel-diode KAN (steps 8-9) and a small
# KirchhoffNet (steps 10-11) through the
# whole pipeline: create it, compile it to a netlist, simulate the netlist in
# embedded ngspice and in the ngspice program, verify it against the
# software model, and train it against the SPICE simulation.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
spicenn=build/src/cli/spicenn
out=build/main-job
mkdir -p "$out"

echo "== 1. a small MON: 2 inputs, 8 hidden diode-clamped nodes, 2 outputs (Shockley diodes)"
$spicenn init mon --inputs 2 --hidden 8 --outputs 2 --diode shockley --seed 7 -o "$out/mon.xml"
$spicenn info "$out/mon.xml"

echo "== 2. compile to a SPICE netlist for the input (0.5, -0.25)"
$spicenn compile "$out/mon.xml" --input 0.5,-0.25 -o "$out/mon.cir"

echo "== 3. simulate in embedded ngspice (operating point)"
$spicenn simulate "$out/mon.cir" --probe out0 --probe out1 --probe h0 --probe h1

echo "== 4. the same netlist in the ngspice program"
ngspice -b "$out/mon.cir" 2>/dev/null | grep -E '^\s+(out0|out1|h0|h1)\s'

echo "== 5. software model vs SPICE on 20 random inputs (outputs, hidden state, gradients)"
$spicenn verify "$out/mon.xml" --samples 20

echo "== 6. train the network against SPICE on two moons: forward values and gradients from ngspice"
$spicenn train "$out/mon.xml" --data moons --engine spice --epochs 3 --batch 20 --lr 0.05 \
  --out "$out/mon-moons.xml" --metrics "$out/mon-moons.csv" --fresh --progress lines

echo "== 7. accuracy of the trained circuit, evaluated in SPICE (test split)"
$spicenn eval "$out/mon-moons.xml" --data moons --engine spice

echo "== 8. a small device-basis KAN (2-8-2, tunnel-diode bases z15 and zaz21): compile, simulate in ngspice"
$spicenn init kan --layers 2,8,2 --bases z15,zaz21 --input-volts 0.5,0.7 --seed 2 -o "$out/kan.xml"
$spicenn compile "$out/kan.xml" --input 0.5,-0.25 -o "$out/kan.cir"
ngspice -b "$out/kan.cir" 2>/dev/null | grep -E '^\s+(out0|out1)\s'
$spicenn verify "$out/kan.xml" --samples 10 --input-range -1,1

echo "== 9. train the KAN against SPICE on circles: basis currents and device conductances from ngspice"
$spicenn train "$out/kan.xml" --data circles --engine spice --epochs 3 --batch 20 --lr 0.02 \
  --out "$out/kan-circles.xml" --metrics "$out/kan-circles.csv" --fresh --progress lines
$spicenn eval "$out/kan-circles.xml" --data circles --engine spice

echo "== 10. a small KirchhoffNet (2 inputs, 8 nodes, every node pair joined by a tanh edge, 2 time slices):"
echo "       compile to a transient netlist, run it in the ngspice program, verify against the software ODE"
$spicenn init kirchhoffnet --inputs 2 --nodes 8 --outputs 2 --slices 2 --edge-function shift_tanh1 --seed 3 -o "$out/kn.xml"
$spicenn compile "$out/kn.xml" --input 0.5,-0.25 --precise -o "$out/kn.cir"
ngspice -b "$out/kn.cir" 2>/dev/null | grep -E '^out[0-9]+_t\s'
$spicenn run "$out/kn.xml" --input 0.5,-0.25 --ode-rtol 1e-9 --ode-atol 1e-9 | head -2
$spicenn verify "$out/kn.xml" --samples 4

echo "== 11. train the KirchhoffNet against SPICE on moons (transients in ngspice, the software adjoint re-anchored"
echo "       to the SPICE state at every slice boundary), after a software pre-training; evaluate in SPICE"
$spicenn train "$out/kn.xml" --data moons --engine software --epochs 10 --batch 32 --lr 0.01 \
  --out "$out/kn-moons-software.xml" --metrics "$out/kn-moons-software.csv" --fresh --progress lines
$spicenn train "$out/kn-moons-software.xml" --data moons --engine spice --epochs 1 --batch 20 --lr 0.002 --limit 100 \
  --validation 20 --no-test --out "$out/kn-moons.xml" --metrics "$out/kn-moons.csv" --fresh --progress lines
$spicenn eval "$out/kn-moons.xml" --data moons --engine spice --limit 100
