#!/usr/bin/env bash
# Data-parallel training and evaluation under mpirun (docs/distributed.md):
#   test_mpi.sh SPICENN MPIEXEC WORKDIR train-software|train-spice|eval|resume|hostfile
# train-*: the model trained by mpirun -np 1, 2 and 3 is byte-identical.
# hostfile: 3 ranks placed by a hostfile and talking over TCP only (the
#          transport between machines; here the loopback) train the model
#          of 1 rank, byte for byte.
# eval:    eval under mpirun -np 2 reports what eval without mpirun reports.
# resume:  a -np 2 run whose rank 1 dies mid-epoch, resumed with --resume
#          (by -np 2 and by -np 3), ends byte-identical to an uninterrupted run.
# Every check is on results, never on timing.
set -euo pipefail
spicenn=$1 mpiexec=$2 work=$3 mode=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work"

# CI runs as root; -np 3 on 2 cores needs --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { local n=$1; shift; "$mpiexec" -np "$n" --oversubscribe "$@"; }

fail() { echo "FAIL: $*" >&2; exit 1; }
same() { cmp -s "$1" "$2" || { diff "$1" "$2" | head -20 >&2; fail "$1 and $2 differ"; }; }
# An eval --json report without its wall time.
strip_seconds() { sed -E 's/"seconds": ?[^,}]*//' "$1"; }

# A 2-16-2 MON on moons, software engine, 3 epochs (a last batch of 8 of 32).
train_args_software=(--data moons --engine software --epochs 3 --batch 32 --lr 0.02 --seed 4 --validation 200
                     --progress lines --progress-interval 1000)

case "$mode" in
train-software)
  "$spicenn" init mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 2 -o mon.xml
  # Each run in its own directory with the same file names (the command is recorded in the model).
  for n in 1 2 3; do
    mkdir "np$n"
    (cd "np$n" && mpi "$n" "$spicenn" train ../mon.xml "${train_args_software[@]}" --out out.xml --metrics m.csv 2> log)
    [[ -s np$n/out.xml ]] || fail "np $n wrote no model"
    grep -q "data-parallel over $n MPI rank" "np$n/log" || fail "np $n: no data-parallel note"
    # Progress from rank 0 only: one line per epoch.
    [[ $(grep -c '^epoch [123]/3  train loss' "np$n/log") -eq 3 ]] || { cat "np$n/log" >&2; fail "np $n: expected 3 epoch lines"; }
  done
  same np1/out.xml np2/out.xml
  same np1/out.xml np3/out.xml
  # Same epochs, losses and accuracies in the metrics (columns 1-5).
  for n in 2 3; do same <(cut -d, -f1-5 np1/m.csv) <(cut -d, -f1-5 "np$n/m.csv"); done
  # Another piece count: still the same for 1 and 3 ranks.
  for n in 1 3; do
    mkdir "p4-np$n"
    (cd "p4-np$n" && mpi "$n" "$spicenn" train ../mon.xml "${train_args_software[@]}" --pieces 4 --out out.xml 2> /dev/null)
  done
  same p4-np1/out.xml p4-np3/out.xml
  # Without mpirun: trains as before, no MPI output.
  "$spicenn" train mon.xml "${train_args_software[@]}" --out serial.xml 2> serial.log
  [[ -s serial.xml ]] || fail "serial run wrote no model"
  ! grep -q "data-parallel" serial.log || fail "serial run mentions MPI"
  ;;
train-spice)
  # A 2-4-2 MON against ngspice: 48 training samples, 2 epochs of 6 batches of 8, 16 validation, 40 test samples.
  "$spicenn" init mon --inputs 2 --hidden 4 --outputs 2 --input-scale 3 --seed 3 -o tiny.xml
  for n in 1 2 3; do
    mkdir "np$n"
    (cd "np$n" && mpi "$n" "$spicenn" train ../tiny.xml --data moons --engine spice --epochs 2 --batch 8 --lr 0.05 \
      --limit 64 --validation 16 --test-limit 40 --eval-batch 12 --progress off --out out.xml 2> log) ||
      { cat "np$n/log" >&2; fail "spice np $n"; }
  done
  same np1/out.xml np2/out.xml
  same np1/out.xml np3/out.xml
  ;;
eval)
  "$spicenn" init mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 2 -o mon.xml
  "$spicenn" train mon.xml --data moons --engine software --epochs 1 --batch 32 --lr 0.02 --progress off \
    --out trained.xml 2> /dev/null
  # Software engine, the whole test split in 7 uneven batches; spice engine, 90 samples in 4 batches.
  "$spicenn" eval trained.xml --data moons --batch 150 --json > serial.json
  mpi 2 "$spicenn" eval trained.xml --data moons --batch 150 --json > mpi.json
  [[ $(wc -l < mpi.json) -eq 1 ]] || fail "eval under mpirun printed more than one report"
  same <(strip_seconds serial.json) <(strip_seconds mpi.json)
  # One engine, as each rank has: the sweep of a batch then starts from the same points.
  "$spicenn" eval trained.xml --data moons --engine spice --limit 90 --batch 25 --threads 1 --json > serial-spice.json
  mpi 2 "$spicenn" eval trained.xml --data moons --engine spice --limit 90 --batch 25 --json > mpi-spice.json
  same <(strip_seconds serial-spice.json) <(strip_seconds mpi-spice.json)
  mpi 3 "$spicenn" eval trained.xml --data moons --engine spice --limit 90 --batch 25 --json > mpi3-spice.json
  same <(strip_seconds serial-spice.json) <(strip_seconds mpi3-spice.json)
  grep -Eq '"samples": ?90' mpi-spice.json || fail "spice eval: not 90 samples"
  ;;
resume)
  "$spicenn" init mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 2 -o mon.xml
  args=("${train_args_software[@]}" --checkpoint-every 5)
  mkdir whole cut cut3
  (cd whole && mpi 2 "$spicenn" train ../mon.xml "${args[@]}" --out out.xml 2> /dev/null)
  # 57 batches per epoch: rank 1 dies after step 72 (epoch 2, batch 15); checkpoints every 5 steps.
  if (cd cut && mpi 2 -x SPICENN_TEST_KILL_RANK=1 -x SPICENN_TEST_KILL_AFTER_STEPS=72 \
      "$spicenn" train ../mon.xml "${args[@]}" --out out.xml 2> log); then
    fail "the run with a dying rank succeeded"
  fi
  grep -q "dying" cut/log || { cat cut/log >&2; fail "rank 1 did not die"; }
  [[ ! -e cut/out.xml ]] || fail "the killed run wrote its model"
  latest=$(cat cut/out.xml.checkpoint/latest)
  [[ $latest == epoch000001-batch0000* ]] || fail "unexpected last checkpoint $latest"
  cp -r cut/out.xml.checkpoint cut3/
  (cd cut && mpi 2 "$spicenn" train ../mon.xml "${args[@]}" --out out.xml --resume 2> resume.log)
  grep -q "resuming from" cut/resume.log || fail "no resume note"
  same whole/out.xml cut/out.xml
  # Resumed by 3 ranks instead of 2: the same model.
  (cd cut3 && mpi 3 "$spicenn" train ../mon.xml "${args[@]}" --out out.xml --resume 2> /dev/null)
  same whole/out.xml cut3/out.xml
  ;;
hostfile)
  "$spicenn" init mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 2 -o mon.xml
  printf '# this machine, as docs/distributed.md lists the hosts of a cluster\nlocalhost slots=3\n' > hosts.txt
  mkdir np1 tcp3
  (cd np1 && mpi 1 "$spicenn" train ../mon.xml "${train_args_software[@]}" --out out.xml 2> log)
  (cd tcp3 && "$mpiexec" --hostfile ../hosts.txt -np 3 --map-by slot --mca btl self,tcp \
    --mca btl_tcp_if_include lo "$spicenn" train ../mon.xml "${train_args_software[@]}" --out out.xml 2> log) ||
    { cat tcp3/log >&2; fail "hostfile run"; }
  grep -q "data-parallel over 3 MPI rank" tcp3/log || fail "hostfile run: no data-parallel note"
  same np1/out.xml tcp3/out.xml
  ;;
*) fail "unknown mode $mode" ;;
esac
echo "ok: $mode"
