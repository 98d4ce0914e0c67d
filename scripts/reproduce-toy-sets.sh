#!/usr/bin/env bash
# Toy sets across the three families (docs/results.md, "Toy sets across the
# three families"):
#   bash scripts/reproduce-toy-sets.sh [FAMILY ...]     # default: mon kan kirchhoffnet
# For each family and each of moons, circles, spirals: init (the sizes and
# hyper-parameters below), train in software (seed 1, batch 32, Adam, one
# thread; the first 1,800 training samples train, the last 200 validate and
# select the epoch: `spicenn train`'s default, --no-test), then the selected
# model once on the 1,000 test samples: `spicenn eval` in software and with
# --engine spice, and `spicenn predict` on the test split with both engines
# (agreement = the fraction of test points where the two predicted classes
# are equal). A family whose SPICE engine is not implemented yet (eval fails
# with "not implemented yet") gets "n/a" in its SPICE cells and the script
# carries on; any other SPICE failure is recorded as "failed" and makes the
# script exit 1 at the end. Decision-boundary plots
# (scripts/plot-decision-boundary.sh) in software, and in SPICE where it runs.
# Output: build/results/toy-sets/table.md, and per model FAMILY-DATA/
# (init.xml, trained.xml, metrics.csv, eval-*.txt, boundary-*.png and the
# predict CSVs next to them).
# KirchhoffNet's SPICE engine runs one transient per sample (about 0.3 s CPU
# on the 2-slice models, 0.9 s on the 4-slice spirals model), so its SPICE
# column covers the first N test samples only (SPICENN_TOY_KN_SPICE_LIMIT,
# default 200; 0 = the whole test split as for the other families): one
# `spicenn predict --engine spice --limit N` gives the SPICE accuracy on
# them, the software predictions of the same N points the agreement, and no
# SPICE decision-boundary plot is drawn (its grid would take hours).
# SPICENN_THREADS: threads / ngspice instances (default 1).
# SPICENN: the spicenn binary (default build/src/cli/spicenn).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${SPICENN_THREADS:-1}"
spicenn="${SPICENN:-build/src/cli/spicenn}"
out=build/results/toy-sets
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
families=("$@")
[ ${#families[@]} -gt 0 ] || families=(mon kan kirchhoffnet)
sets=(moons circles spirals)

# The settings, chosen on the validation split (docs/results.md says which
# candidates were tried). init: arguments of `spicenn init`; train: of
# `spicenn train` besides --data, --batch 32, --seed 1 and the files.
configure() {  # FAMILY DATA -> init, train, spice_limit (0 = the whole test split)
  spice_limit=0
  [ "$1" = kirchhoffnet ] && spice_limit="${SPICENN_TOY_KN_SPICE_LIMIT:-200}"
  case "$1/$2" in
    mon/moons | mon/circles)
      init="mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 1"
      train="--epochs 30 --lr 0.02" ;;
    mon/spirals)
      init="mon --inputs 2 --hidden 64 --outputs 2 --stages 2 --input-scale 3 --seed 1"
      train="--epochs 200 --lr 0.01 --schedule cosine" ;;
    kan/moons | kan/circles)
      init="kan --layers 2,16,2 --bases z15,zaz21 --batch-norm --input-volts 0.6,0.9 --seed 1"
      train="--epochs 30 --lr 0.01 --schedule cosine" ;;
    kan/spirals)
      init="kan --layers 2,32,32,2 --bases z15,zaz21 --batch-norm --input-volts 0.7,1.1 --seed 1"
      train="--epochs 100 --lr 0.01 --schedule cosine" ;;
    kirchhoffnet/moons | kirchhoffnet/circles)
      init="kirchhoffnet --inputs 2 --nodes 10 --outputs 2 --slices 2 --edge-function shift_tanh1 --seed 1"
      train="--epochs 60 --lr 0.01 --schedule cosine" ;;
    kirchhoffnet/spirals)
      init="kirchhoffnet --inputs 2 --nodes 10 --outputs 2 --slices 4 --edge-function shift_tanh2 --seed 1"
      train="--epochs 100 --lr 0.02 --schedule cosine" ;;
    *) echo "$0: unknown family $1" >&2; exit 2 ;;
  esac
}

# "eval --json" -> "98.70 % (987/1000)"
percent() { sed -n 's/.*"samples": *\([0-9]*\), *"correct": *\([0-9]*\), *"accuracy": *\([0-9.e+-]*\),.*/\3 \2 \1/p' |
  awk 'NF == 3 { printf "%.2f %% (%d/%d)", 100 * $1, $2, $3 }'; }
# Two predict CSVs of the same points -> "99.90 % (999/1000)", the fraction
# of rows whose predicted class (column 4) is the same; fails if the
# points differ.
agreement() {
  paste -d, "$1" "$2" | awk -F, -v n="$(head -1 "$1" | awk -F, '{print NF}')" '
    NR == 1 { next }
    { if ($1 != $(n + 1) || $2 != $(n + 2)) { print "the two CSVs hold different points at row " NR > "/dev/stderr"; bad = 1; exit 1 }
      t++; if ($4 == $(n + 4)) s++ }
    END { if (!bad) printf "%.2f %% (%d/%d)", 100 * s / t, s, t }'
}
# A predict CSV (x0,x1,label,predicted) -> "99.50 % (199/200)"
csv_accuracy() { awk -F, 'NR > 1 { t++; if ($3 == $4) c++ } END { printf "%.2f %% (%d/%d)", 100 * c / t, c, t }' "$1"; }
selected() {  # metrics.csv -> "26/30, 100.00 %": the epoch the trainer selects (best validation accuracy, ties: lower loss)
  awk -F, 'NR > 1 && ($5 > a || ($5 == a && $4 < l)) {a = $5; l = $4; e = $1}
    END {printf "%d/%d, %.2f %%", e, NR - 1, 100 * a}' "$1"
}

status=0
rows=()
start_all=$(date +%s)
for family in "${families[@]}"; do
  for data in "${sets[@]}"; do
    configure "$family" "$data"
    dir="$out/$family-$data"
    mkdir -p "$dir"
    t0=$(date +%s)
    echo "== $family on $data: init $init; train $train"
    $spicenn init $init -o "$dir/init.xml" || exit 1
    $spicenn train "$dir/init.xml" --data "$data" --engine software $train --batch 32 --seed 1 --threads "$threads" \
      --no-test --fresh --progress off --out "$dir/trained.xml" --metrics "$dir/metrics.csv" || exit 1
    sel=$(selected "$dir/metrics.csv")
    t_train=$(( $(date +%s) - t0 ))
    # The test split, once, with the selected model.
    $spicenn eval "$dir/trained.xml" --data "$data" --engine software --threads "$threads" --json --progress off \
      > "$dir/eval-software.json" || exit 1
    sw=$(percent < "$dir/eval-software.json")
    SPICENN_THREADS=$threads bash scripts/plot-decision-boundary.sh "$dir/trained.xml" "$data" "$dir/boundary-software.png" \
      software "$family on $data" || exit 1
    if [ "$spice_limit" -gt 0 ]; then
      # The first N test samples in SPICE; software on the same N points.
      head -n $((spice_limit + 1)) "$dir/boundary-software.test.csv" > "$dir/software-test-first$spice_limit.csv"
      ts=$(date +%s)
      if $spicenn predict "$dir/trained.xml" --data "$data" --split test --limit "$spice_limit" --engine spice \
        --threads "$threads" -o "$dir/spice-test-first$spice_limit.csv" 2> "$dir/eval-spice.err"; then
        echo "   SPICE on the first $spice_limit test samples: $(( $(date +%s) - ts )) s"
        sp="$(csv_accuracy "$dir/spice-test-first$spice_limit.csv") on the first $spice_limit (software on them: $(csv_accuracy "$dir/software-test-first$spice_limit.csv"))"
        agree=$(agreement "$dir/software-test-first$spice_limit.csv" "$dir/spice-test-first$spice_limit.csv") || { agree=failed; status=1; }
      else
        echo "   SPICE predict failed: $(cat "$dir/eval-spice.err")" >&2
        sp="failed"
        agree="failed"
        status=1
      fi
    elif $spicenn eval "$dir/trained.xml" --data "$data" --engine spice --threads "$threads" --json --progress off \
      > "$dir/eval-spice.json" 2> "$dir/eval-spice.err"; then
      sp=$(percent < "$dir/eval-spice.json")
      if SPICENN_THREADS=$threads SPICENN_PLOT_GRID="${SPICENN_PLOT_GRID_SPICE:-80}" bash scripts/plot-decision-boundary.sh \
        "$dir/trained.xml" "$data" "$dir/boundary-spice.png" spice "$family on $data"; then
        agree=$(agreement "$dir/boundary-software.test.csv" "$dir/boundary-spice.test.csv") || { agree=failed; status=1; }
      else
        agree=failed
        status=1
      fi
    elif grep -q "not implemented yet" "$dir/eval-spice.err"; then
      echo "   SPICE: $(cat "$dir/eval-spice.err") -> n/a"
      sp="n/a"
      agree="n/a"
    else
      echo "   SPICE eval failed: $(cat "$dir/eval-spice.err")" >&2
      sp="failed"
      agree="failed"
      status=1
    fi
    seconds=$(( $(date +%s) - t0 ))
    echo "   selected epoch $sel (validation); test: software $sw, SPICE $sp, agreement $agree; ${seconds} s (training ${t_train} s)"
    rows+=("| $family | $data | \`init $init\`; \`train $train\` | $sel | $sw | $sp | $agree | $seconds |")
  done
done

{
  echo "| family | data | model and training (batch 32, seed 1, software) | selected epoch, validation accuracy | test, software | test, SPICE | agreement SPICE/software | seconds |"
  echo "|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Generated $(date -u '+%Y-%m-%d %H:%M UTC') by \`bash scripts/reproduce-toy-sets.sh ${*:-}\` in $(( $(date +%s) - start_all )) s."
} > "$out/table.md"
cat "$out/table.md"
exit $status
