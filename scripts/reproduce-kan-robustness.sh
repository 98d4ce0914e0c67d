#!/usr/bin/env bash
# The KANalogue robustness study, done in the circuit: the trained MNIST KAN
# (scripts/reproduce-kan.sh mnist) with every crossbar conductance off by a
# fixed factor 1 + sigma*n (n standard normal, `spicenn perturb`), for
# sigma in {0.01, 0.05, 0.1, 0.2} and 5 draws each, evaluated in SPICE on the
# first N test images (and the software model on the same images). Then one
# perturbed chip (sigma 0.2, draw 1) is fine-tuned against SPICE — forward
# values and gradients from ngspice, the variation held fixed as on a
# fabricated chip — on 2,000 training images (epoch chosen on 500 held-out
# training images) and evaluated in SPICE again.
#   bash scripts/reproduce-kan-robustness.sh [test-images=1000] [finetune-epochs=2]
# Writes build/results/kan-robustness/{robustness.csv,robustness.png,summary.txt}.
# SPICENN_THREADS=N: ngspice engines per evaluation (default 0 = all cores)
# and for the fine-tuning (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
images="${1:-1000}"
ft_epochs="${2:-2}"
spicenn=build/src/cli/spicenn
threads="${SPICENN_THREADS:-0}" ft_threads="${SPICENN_THREADS:-2}"
model=build/results/kan-mnist/trained.xml
out=build/results/kan-robustness
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
[ -f "$model" ] || bash scripts/reproduce-kan.sh mnist 0
# The data flags the model was trained with (reproduce-kan.sh writes them: the
# selected candidate's --pool 2 or --resize 14).
read -r -a data <<< "$(cat build/results/kan-mnist/data-flags.txt 2>/dev/null || echo --data mnist --pool 2)"
accuracy() { sed -n 's/.*"accuracy": *\([0-9.e+-]*\).*/\1/p'; }

echo "sigma,draw,spice_accuracy,software_accuracy" > "$out/robustness.csv"
base_spice=$($spicenn eval "$model" "${data[@]}" --engine spice --limit "$images" --threads "$threads" --json --progress off | accuracy)
base_soft=$($spicenn eval "$model" "${data[@]}" --engine software --limit "$images" --threads "$threads" --json --progress off | accuracy)
echo "0,0,$base_spice,$base_soft" >> "$out/robustness.csv"
for sigma in 0.01 0.05 0.1 0.2; do
  for draw in 1 2 3 4 5; do
    chip="$out/chip-$sigma-$draw.xml"
    $spicenn perturb "$model" --sigma "$sigma" --seed "$draw" -o "$chip" 2>/dev/null
    s=$($spicenn eval "$chip" "${data[@]}" --engine spice --limit "$images" --threads "$threads" --json --progress off | accuracy)
    w=$($spicenn eval "$chip" "${data[@]}" --engine software --limit "$images" --threads "$threads" --json --progress off | accuracy)
    echo "$sigma,$draw,$s,$w" | tee -a "$out/robustness.csv"
  done
done

echo "== fine-tuning the sigma = 0.2, draw 1 chip against SPICE"
chip="$out/chip-0.2-1.xml"
$spicenn train "$chip" "${data[@]}" --engine spice --epochs "$ft_epochs" --batch 32 --lr 0.0005 --limit 2500 \
  --validation 500 --no-test --threads "$ft_threads" --out "$out/chip-0.2-1-tuned.xml" --metrics "$out/finetune.csv" --fresh \
  --progress lines 2>&1 | tail -3
tuned=$($spicenn eval "$out/chip-0.2-1-tuned.xml" "${data[@]}" --engine spice --limit "$images" --threads "$threads" --json --progress off | accuracy)
before=$(awk -F, '$1 == "0.2" && $2 == "1" {print $3}' "$out/robustness.csv")

{
  echo "SPICE accuracy on the first $images MNIST test images (5 draws per sigma; sigma 0: the trained model)"
  printf "%-6s %-10s %-10s %-10s\n" sigma mean std software
  awk -F, 'NR > 1 { s[$1] += $3; ss[$1] += $3 * $3; c[$1]++; w[$1] += $4 }
    END { for (k in s) { m = s[k] / c[k]; v = ss[k] / c[k] - m * m; if (v < 0) v = 0
            printf "%-6s %-10.4f %-10.4f %-10.4f\n", k, m, sqrt(v), w[k] / c[k] } }' "$out/robustness.csv" | sort -g -k1
  echo "sigma 0.2, draw 1: $before before, $tuned after fine-tuning against SPICE"
} | tee "$out/summary.txt"

echo "sigma,tuned_spice_accuracy" > "$out/robustness-tuned.csv"
echo "0.2,$tuned" >> "$out/robustness-tuned.csv"
$spicenn plot "$out/robustness.csv" "$out/robustness-tuned.csv" --x sigma --y spice_accuracy,software_accuracy,tuned_spice_accuracy --y-scale 100 --style points \
  --title "KAN [196,64,10] on MNIST 14x14, in SPICE: fixed conductance variation (first $images test images; tuned: sigma 0.2 draw 1 fine-tuned against SPICE)" \
  -o "$out/robustness.png"
set terminal pngcairo size 800,520 font ",11"
set output "$out/robustness.png"
set title "KAN [196,64,10] on MNIST 14x14, in SPICE: fixed conductance variation (first $images test images)"
set xlabel "relative conductance variation sigma"
set ylabel "test accuracy (%)"
set datafile separator ","
set key bottom left
set grid
set xrange [-0.01:0.21]
plot "$out/robustness.csv" every ::1 using 1:(\$3*100) with points pt 7 ps 1.2 title "SPICE, one draw", \
     "$out/robustness.csv" every ::1 using 1:(\$4*100) with points pt 6 ps 1.8 title "software model, same draw", \
     "< echo 0.2,$tuned" using 1:(\$2*100) with points pt 9 ps 2.5 lc rgb "red" title "sigma 0.2 draw 1, fine-tuned against SPICE"
GP
echo "wrote $out/robustness.png"
