#!/usr/bin/env bash
# Decision boundary of a 2-input classifier (any family) on a 2-D toy set:
#   bash scripts/plot-decision-boundary.sh MODEL.xml DATA OUT.png [engine] [title]
# DATA: moons, circles or spirals; engine: software (default) or spice.
# Runs `spicenn predict` on the test split (OUT.test.csv) and on a regular
# grid covering the test points with a 10 % margin on every side
# (OUT.grid.csv), then draws the predicted class map as an image, the test
# points coloured by their true label on top, and the test accuracy (from
# OUT.test.csv) in the title.
# SPICENN_THREADS: threads / ngspice instances (default 1);
# SPICENN_PLOT_GRID: grid points per axis (default 120).
set -euo pipefail
if [ $# -lt 3 ] || [ $# -gt 5 ]; then
  echo "usage: $0 MODEL.xml DATA OUT.png [software|spice] [title]" >&2
  exit 2
fi
model="$1"
data="$2"
png="$3"
engine="${4:-software}"
title="${5:-$(basename "$model" .xml) on $data}"
threads="${SPICENN_THREADS:-1}"
n="${SPICENN_PLOT_GRID:-120}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
spicenn="${SPICENN:-$root/build/src/cli/spicenn}"
[ -x "$spicenn" ] || bash "$root/scripts/build.sh"

base="${png%.png}"
test_csv="$base.test.csv"
grid_csv="$base.grid.csv"
mkdir -p "$(dirname "$png")"

"$spicenn" predict "$model" --data "$data" --split test --engine "$engine" --threads "$threads" -o "$test_csv"
# The test points' range plus a 10 % margin: XMIN,XMAX,YMIN,YMAX.
range=$(awk -F, 'NR == 1 { if ($1 != "x0" || $2 != "x1" || $3 != "label") { print "bad header: " $0 > "/dev/stderr"; exit 1 }; next }
  NR == 2 { a = b = $1; c = d = $2 }
  { if ($1 < a) a = $1; if ($1 > b) b = $1; if ($2 < c) c = $2; if ($2 > d) d = $2 }
  END { mx = 0.1 * (b - a); my = 0.1 * (d - c); printf "%.4f,%.4f,%.4f,%.4f", a - mx, b + mx, c - my, d + my }' "$test_csv")
"$spicenn" predict "$model" --grid "$range,$n" --engine "$engine" --threads "$threads" -o "$grid_csv"
# The class map under the test points, drawn by spicenn's plotting module
# (gnuplot; the accuracy in the title is computed from the test CSV).
"$spicenn" plot "$grid_csv" --points "$test_csv" -o "$png" --title "$title ($engine)"
