#!/usr/bin/env bash
# SPICE costs of the trained 784-100-10 MNIST MON (docs/results.md, "MON
# co-simulation costs"), all in one run so that the ratios are comparable:
#   1. Newton iterations and time per point of a 200-image batched DC sweep
#      in the ngspice program (`rusage`): pwl_diode, pwl_diode with the
#      literal netlist (one resistor per conductance), ideal_diode;
#   2. one cold `.op` in the ngspice program (wall time, parse included) for
#      the literal netlist (one resistor per conductance, ideal_diode: the
#      MON issue's reference point), and for the default netlist in three
#      pairs with the 200-image sweep (wall time / 200), each pair's ratio;
#   3. build/bench/bench_mon_cosim on the trained model with MNIST test
#      images (software forward, cold op, batched forward, gradient).
# Trains the model first (about a minute) if scripts/reproduce-mon-mnist.sh
# has not been run.
#   bash scripts/bench-mon-cosim.sh [BENCHMARK_FILTER]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
spicenn=build/src/cli/spicenn
out=build/results/mon-mnist
model=$out/trained.xml
[ -x "$spicenn" ] && [ -x build/bench/bench_mon_cosim ] || bash scripts/build.sh
[ -f "$model" ] || bash scripts/reproduce-mon-mnist.sh mnist 0
mkdir -p "$out/bench"

with_rusage() {  # deck -> deck that runs its analysis and prints ngspice's counters
  sed 's/^\.end$/.control\nrun\nrusage all\nquit 0\n.endc\n.end/' "$1"
}

echo "== Newton iterations of a 200-image batched sweep (ngspice -b, rusage)"
$spicenn set-diode "$model" --diode ideal --device pwl_diode -o "$out/bench/pwl.xml" 2>/dev/null
$spicenn set-diode "$model" --diode ideal --device ideal_diode -o "$out/bench/exp.xml" 2>/dev/null
for variant in pwl pwl-literal exp; do
  device=${variant%-literal}
  flags=""
  [ "$variant" = pwl-literal ] && flags=--literal-pairs
  $spicenn compile "$out/bench/$device.xml" --data mnist --limit 200 $flags -o "$out/bench/sweep-$variant.cir" 2>/dev/null
  with_rusage "$out/bench/sweep-$variant.cir" > "$out/bench/sweep-$variant-rusage.cir"
  /usr/bin/time -f "max RSS %M kB" ngspice -b "$out/bench/sweep-$variant-rusage.cir" > "$out/bench/sweep-$variant.log" 2>&1
  awk -v d="$variant" '/^Total iterations/ {it=$4} /^Total analysis time/ {t=$6} /^max RSS/ {m=$3}
    END {printf "%-12s %5d iterations for 200 points (%5.2f per point), analysis %6.1f s (%5.1f ms per image, %4.1f ms per iteration), ngspice max RSS %d MB\n", d, it, it/200, t, 1000*t/200, 1000*t/it, m/1024}' \
    "$out/bench/sweep-$variant.log"
done

echo "== one cold .op of the first test image vs the 200-image sweep, wall time in the ngspice program"
image=$(python3 - <<'PY'
import os
d = open(os.path.expanduser(os.environ.get("SPICENN_DATA_DIR", "~/.cache/spicenn")) + "/mnist/t10k-images-idx3-ubyte", "rb").read()
print(",".join(repr(b / 255.0) for b in d[16:16 + 784]))
PY
)
$spicenn compile "$out/bench/pwl.xml" --input "$image" -o "$out/bench/cold-default.cir" 2>/dev/null
$spicenn compile "$out/bench/exp.xml" --input "$image" --literal-pairs -o "$out/bench/cold-literal.cir" 2>/dev/null
wall() { /usr/bin/time -f "%e" -o "$out/bench/wall.txt" ngspice -b "$1" > /dev/null 2>&1; cat "$out/bench/wall.txt"; }
echo "literal netlist with ideal_diode (the MON issue's reference form): cold .op $(wall "$out/bench/cold-literal.cir") s"
# This machine's neighbours change memory-bound timings by up to 2x within a
# minute, so the default netlist is measured in alternating pairs.
for pair in 1 2 3; do
  cold=$(wall "$out/bench/cold-default.cir")
  sweep=$(wall "$out/bench/sweep-pwl.cir")
  awk -v c="$cold" -v s="$sweep" -v p="$pair" 'BEGIN {printf "pair %d: cold .op %.2f s, sweep %.1f s = %.1f ms per image: %.1fx cheaper per image\n", p, c, s, 1000*s/200, c/(s/200)}'
done

echo "== bench_mon_cosim on $model"
SPICENN_BENCH_MODEL="$model" build/bench/bench_mon_cosim --benchmark_counters_tabular=true \
  --benchmark_filter="${1:-software_forward|cold_op|spice_forward|spice_gradient}"
