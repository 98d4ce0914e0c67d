#!/usr/bin/env bash
# The node voltages of a KirchhoffNet over time for one input, software ODE
# (lines) and ngspice's transient (points), in one PNG (`spicenn plot`):
#   bash scripts/plot-kirchhoffnet-trajectory.sh MODEL.xml INPUT OUT.png [NODES]
# INPUT: comma-separated initial voltages of the input nodes; NODES: e.g.
# 3,7,8 (default: the output nodes). Writes OUT.csv next to the PNG.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ $# -ge 3 ] || { echo "usage: $0 MODEL.xml INPUT OUT.png [NODES]" >&2; exit 2; }
model="$1" input="$2" png="$3" nodes="${4:-}"
spicenn=build/src/cli/spicenn
[ -x "$spicenn" ] || bash scripts/build.sh
csv="${png%.png}.csv"
args=("$model" --input "$input" -o "$csv")
[ -n "$nodes" ] && args+=(--nodes "$nodes")
$spicenn trajectory "${args[@]}" 2> "${png%.png}.log"
cat "${png%.png}.log" >&2
$spicenn plot "$csv" -o "$png" --title "$(basename "$model"): input $input"
