#!/usr/bin/env bash
# The node voltages of a KirchhoffNet over time for one input, software ODE
# (lines) and ngspice's transient (points), in one PNG (gnuplot):
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
columns=$(head -1 "$csv" | tr ',' '\n' | grep -c '^software_')
summary=$(sed -n 's/.*largest |software - spice| \([^ ]*\) (signal scale \([^)]*\)).*/max |software - spice| = \1 (signal scale \2)/p' "${png%.png}.log")
gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output "$png"
set datafile separator ","
set key outside right
set xlabel "time (normalized units; 1 = $(sed -n 's/.*second="\([^"]*\)".*/\1/p' "$model" | head -1) s)"
set ylabel "node voltage (normalized)"
set title "$(basename "$model"): input $input\n$summary"
plot for [i=0:$((columns - 1))] "$csv" using 1:(column(3 + 2*i)) with lines lw 2 lc (i+1) title columnhead(3 + 2*i), \
     for [i=0:$((columns - 1))] "$csv" every 8 using 1:(column(4 + 2*i)) with points pt 6 ps 0.8 lc (i+1) title columnhead(4 + 2*i)
GP
echo "wrote $png"
