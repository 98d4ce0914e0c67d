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
command -v gnuplot >/dev/null || { echo "$0: gnuplot not found (bash scripts/install-deps.sh installs gnuplot-nox)" >&2; exit 1; }

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
# Test accuracy: the fraction of rows whose predicted class is the label.
read -r correct total < <(awk -F, 'NR > 1 { t++; if ($3 == $4) c++ } END { print c + 0, t }' "$test_csv")
accuracy=$(awk -v c="$correct" -v t="$total" 'BEGIN { printf "%.2f", 100 * c / t }')
IFS=, read -r xmin xmax ymin ymax <<<"$range"

if echo 'set terminal' | gnuplot 2>&1 | grep -q pngcairo; then terminal="pngcairo size 720,640 font ',10'"; else terminal="png size 720,640"; fi
gnuplot <<GP
set terminal $terminal
set output "$png"
set title "$title ($engine): test accuracy $accuracy % ($correct/$total)" noenhanced
set datafile separator ","
set xrange [$xmin:$xmax]
set yrange [$ymin:$ymax]
set size ratio -1
set xlabel "x0"
set ylabel "x1"
unset colorbox
set cbrange [-0.5:2.5]
set palette maxcolors 3
set palette defined (0 "#c6dbef", 1 "#fdd0a2", 2 "#c7e9c0")
set key outside right top vertical
point_colour(label) = label == 0 ? 0x08519c : label == 1 ? 0xd94801 : 0x238b45
plot "$grid_csv" every ::1 using 1:2:3 with image notitle, \
     "$test_csv" every ::1 using 1:(\$3 == 0 ? \$2 : NaN):(point_colour(\$3)) with points pt 7 ps 0.45 lc rgb variable title "test, label 0", \
     "$test_csv" every ::1 using 1:(\$3 == 1 ? \$2 : NaN):(point_colour(\$3)) with points pt 7 ps 0.45 lc rgb variable title "test, label 1"
GP
echo "$png: $engine, test accuracy $accuracy % ($correct/$total); predictions in $test_csv, $grid_csv"
