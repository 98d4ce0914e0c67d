#!/usr/bin/env bash
# kill -9 of a training process at a random moment, then --resume: the final
# model is byte-identical to an uninterrupted run (docs/hardening.md).
#   test_kill_resume.sh SPICENN WORKDIR SEED
# A 2-16-2 MON trained against SPICE on moons, checkpoints every 3 batches;
# the kill lands anywhere in the run (between or during sweeps, checkpoint
# writes, validation), at a time drawn from SEED. Checks are on results,
# never on timing: a kill that came after the run had finished is drawn again.
set -euo pipefail
spicenn=$1 work=$2 seed=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$spicenn" init mon --inputs 2 --hidden 16 --outputs 2 --input-scale 3 --seed 2 -o mon.xml 2> /dev/null
args=(--data moons --limit 600 --validation 100 --engine spice --threads 1 --epochs 2 --batch 25 --lr 0.02 --seed 4
      --checkpoint-every 3 --progress lines --progress-interval 1000)
mkdir whole
start=$(date +%s%N)
(cd whole && "$spicenn" train ../mon.xml "${args[@]}" --out out.xml 2> log) || { cat whole/log >&2; fail "the uninterrupted run failed"; }
span_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ -s whole/out.xml ]] || fail "the uninterrupted run wrote no model"

RANDOM=$seed
for attempt in 1 2 3 4 5 6; do
  rm -rf cut && mkdir cut
  delay_ms=$(( span_ms * (5 + RANDOM % 85) / 100 ))   # 5 % .. 90 % of an uninterrupted run
  (cd cut && exec "$spicenn" train ../mon.xml "${args[@]}" --out out.xml 2> log) &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  kill -9 "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null && status=0 || status=$?
  if [[ $status -eq 137 && ! -e cut/out.xml ]]; then
    echo "killed after ${delay_ms} ms of a ${span_ms} ms run (attempt $attempt)"
    break
  fi
  echo "attempt $attempt: the run ended before the kill (status $status); drawing a shorter delay"
  span_ms=$(( span_ms * 2 / 3 ))
  [[ $attempt -lt 6 ]] || fail "could not kill the run while it was training"
done
if [[ -e cut/out.xml.checkpoint/latest ]]; then
  echo "last checkpoint: $(cat cut/out.xml.checkpoint/latest)"
  (cd cut && "$spicenn" train ../mon.xml "${args[@]}" --out out.xml --resume 2> resume.log) ||
    { cat cut/resume.log >&2; fail "--resume failed"; }
  grep -q "resuming from" cut/resume.log || fail "no resume note"
else
  echo "killed before the first checkpoint: a fresh run"
  (cd cut && "$spicenn" train ../mon.xml "${args[@]}" --out out.xml --fresh 2> resume.log) ||
    { cat cut/resume.log >&2; fail "the rerun failed"; }
fi
cmp -s whole/out.xml cut/out.xml || { diff whole/out.xml cut/out.xml | head -20 >&2; fail "the resumed model differs"; }
echo "ok: the resumed model is byte-identical to the uninterrupted one"
