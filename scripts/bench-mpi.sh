#!/usr/bin/env bash
# Training throughput under mpirun (docs/distributed.md): samples/s of one
# epoch (the metrics CSV's samples_per_second, rank 0's training time) for
#   - a software MON 784-100-10 on MNIST (10,000 samples, batch 32), and
#   - a spice MON 196-32-10 on 14x14 MNIST (--pool 2; 556 samples, batch 32),
# each without mpirun (--threads 1), and with mpirun -np 1 and -np 2 (one
# thread per rank), in alternating rounds (the machine may be shared, so
# compare figures of the same round).
#   bash scripts/bench-mpi.sh [ROUNDS] [extra mpirun options, e.g. --mca mpi_yield_when_idle 1]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
spicenn="$here/../build/src/cli/spicenn"
rounds=${1:-3}
shift || true
mpirun_opts=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$spicenn" init mon --inputs 784 --hidden 100 --outputs 10 --seed 1 -o sw.xml 2> /dev/null
"$spicenn" init mon --inputs 196 --hidden 32 --outputs 10 --seed 1 -o sp.xml 2> /dev/null
sw=(sw.xml --data mnist --engine software --batch 32 --limit 11000 --validation 1000)
sp=(sp.xml --data mnist --pool 2 --engine spice --batch 32 --limit 600 --validation 44)
rate() {  # NAME, then the command before the train arguments, then --, then the train arguments
  local name=$1; shift
  local launcher=()
  while [[ $1 != -- ]]; do launcher+=("$1"); shift; done
  shift
  "${launcher[@]}" "$spicenn" train "$@" --epochs 1 --no-test --progress off --fresh --out "$name.xml" \
    --metrics "$name.csv" 2> /dev/null
  printf '%-22s %8.1f samples/s\n' "$name" "$(tail -1 "$name.csv" | cut -d, -f7)"
}
for round in $(seq "$rounds"); do
  echo "round $round ($(cut -d' ' -f1-3 /proc/loadavg) load)"
  rate software-serial-t1 -- "${sw[@]}" --threads 1
  rate software-np1 mpirun "${mpirun_opts[@]}" -np 1 -- "${sw[@]}"
  rate software-np2 mpirun "${mpirun_opts[@]}" -np 2 -- "${sw[@]}"
  rate spice-serial-t1 -- "${sp[@]}" --threads 1
  rate spice-np1 mpirun "${mpirun_opts[@]}" -np 1 -- "${sp[@]}"
  rate spice-np2 mpirun "${mpirun_opts[@]}" -np 2 -- "${sp[@]}"
done
