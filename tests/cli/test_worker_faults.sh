#!/usr/bin/env bash
# The simulator fails while a model trains against SPICE, in isolated
# engines (--spice-isolation worker, the default; docs/hardening.md):
#   segv, abort  a worker dies by a signal in the middle of a sweep;
#   kill         a worker is killed (SIGKILL) 2 ms into a sweep;
#   hang         an analysis never answers (the time limit, 2 s here, ends it);
#   fatal        ngspice's own fatal error (ControlledExit);
# each once (at the 4th analysis of a worker): the run finishes with a model
# byte-identical to an undisturbed run's.
#   recurring    every worker crashes at its first sweep: the run stops with an
#                error naming the samples, the signal and a saved copy of
#                the netlist, and exits non-zero.
#   test_worker_faults.sh SPICENN WORKDIR KIND
set -euo pipefail
spicenn=$1 work=$2 kind=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$spicenn" init mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 2 -o mon.xml 2> /dev/null
args=(--data moons --limit 300 --validation 60 --engine spice --threads 2 --epochs 1 --batch 20 --lr 0.02 --seed 4
      --progress off --spice-time-limit 2)

if [[ $kind == recurring ]]; then
  if SPICENN_WORKER_FAULT="segv@1" "$spicenn" train mon.xml "${args[@]}" --out out.xml 2> log; then
    fail "training succeeded although every worker crashed"
  fi
  cat log
  grep -q "samples" log || fail "the error does not name the samples"
  grep -q "signal 11" log || fail "the error does not name the signal"
  saved=$(grep -o "saved in [^ ]*\.cir" log | head -1 | cut -d' ' -f3)
  [[ -s $saved ]] || fail "the netlist was not saved ($saved)"
  grep -qi "^\.dc\|^v" "$saved" || fail "the saved file is not the netlist"
  rm -f "$saved"
  echo "ok: a fault that recurs stops the run with an error naming the samples and the netlist"
  exit 0
fi

mkdir whole faulty  # the same command line in both (the model records it)
(cd whole && "$spicenn" train ../mon.xml "${args[@]}" --out out.xml 2> log) ||
  { cat whole/log >&2; fail "the undisturbed run failed"; }
(cd faulty && SPICENN_WORKER_FAULT="$kind@4:$PWD/marker" "$spicenn" train ../mon.xml "${args[@]}" --out out.xml 2> log) ||
  { cat faulty/log >&2; fail "the run with a $kind fault failed"; }
[[ -e faulty/marker ]] || fail "no fault was injected"
cmp -s whole/out.xml faulty/out.xml ||
  { diff whole/out.xml faulty/out.xml | head -20 >&2; fail "the model differs from the undisturbed run's"; }
echo "ok: a $kind fault while training gave the undisturbed run's model"
