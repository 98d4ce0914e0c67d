#!/usr/bin/env bash
# The published MNIST KirchhoffNet (imported by
# scripts/reproduce-kirchhoffnet-reference.sh into build/results/kn-mnist/)
# in ngspice: the first N test images (default 200) with the standard
# transient (ngspice's default tolerances; docs/kirchhoffnet.md "Transient
# cost"), and the software model on the same images; then the comparison.
# Runs in pieces of 10 images, each its own CSV: an interrupted run resumes
# where it stopped, and a second run started with `reverse` works from the
# last piece down (two machines' cores, or two cores each with their own
# engine). ~50 s of CPU per image (two decks of 230,068 sources, 1.9 GB).
#   bash scripts/reproduce-kirchhoffnet-reference-spice.sh [N] [threads] [forward|reverse|compare]
# (compare: no simulation, only the comparison over the pieces done so far).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n="${1:-200}"
threads="${2:-1}"
order="${3:-forward}"
piece=10
spicenn=build/src/cli/spicenn
out=build/results/kn-mnist
model="$out/reference.xml"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f "$model" ] || { echo "no $model: run scripts/reproduce-kirchhoffnet-reference.sh first" >&2; exit 1; }
mkdir -p "$out/spice-pieces"
starts=()
for ((k = 0; k < n; k += piece)); do starts+=("$k"); done
[ "$order" = reverse ] && mapfile -t starts < <(printf '%s\n' "${starts[@]}" | sort -rn)
[ "$order" = compare ] && starts=()  # only compare the pieces done so far
for k in "${starts[@]}"; do
  count=$((n - k < piece ? n - k : piece))
  f="$out/spice-pieces/spice-$k-$count.csv"
  [ -s "$f" ] && continue
  echo "== test images $k..$((k + count - 1)) in SPICE ($(date -u +%H:%M:%S))"
  $spicenn predict "$model" --data mnist --offset "$k" --limit "$count" --engine spice --transient standard \
    --batch "$threads" --threads "$threads" --progress lines -o "$f.tmp"
  mv "$f.tmp" "$f"
done
# The software model on the same pieces, then both joined (one header) over
# the pieces done so far: a partial comparison while runs are still going.
spice_parts=() software_parts=()
for ((k = 0; k < n; k += piece)); do
  count=$((n - k < piece ? n - k : piece))
  f="$out/spice-pieces/spice-$k-$count.csv" g="$out/spice-pieces/software-$k-$count.csv"
  [ -s "$f" ] || continue
  [ -s "$g" ] || $spicenn predict "$model" --data mnist --offset "$k" --limit "$count" --engine software --threads "$threads" \
    --progress off -o "$g"
  spice_parts+=("$f") software_parts+=("$g")
done
((${#spice_parts[@]})) || { echo "no piece done yet"; exit 0; }
join_csv() { head -1 "$1"; for f in "$@"; do tail -n +2 "$f"; done; }
images=$(join_csv "${spice_parts[@]}" | tail -n +2 | wc -l)
tag=$n
((images == n)) || { tag="partial-$images-of-$n"; echo "== $images of $n images done so far"; }
join_csv "${spice_parts[@]}" > "$out/predict-spice-$tag.csv"
join_csv "${software_parts[@]}" > "$out/predict-software-$tag.csv"
bash scripts/compare-predictions.sh "$out/predict-spice-$tag.csv" "$out/predict-software-$tag.csv" |
  tee "$out/spice-vs-software-$tag.txt"
