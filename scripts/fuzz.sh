#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang in build-fuzz/ and
# fuzzes each for a given time (docs/hardening.md).
#
#   bash scripts/fuzz.sh                 # 60 s per target, every target
#   bash scripts/fuzz.sh 3600            # an hour per target
#   bash scripts/fuzz.sh 600 iv_csv ngspice_output
#   PARALLEL=2 NICE=19 bash scripts/fuzz.sh 3600   # two targets at a time, politely
#   CPU_SECONDS=3600 PARALLEL=5 bash scripts/fuzz.sh 14400
#       # all at once, each stopped once it has had an hour of CPU (or 4 h pass)
#
# The time argument is wall time (libFuzzer's -max_total_time). CPU_SECONDS
# stops each fuzzer (SIGINT: libFuzzer prints its final statistics) once it
# has used that much CPU, so a run that shares the machine still gives every
# target its hour; the summary reports each target's CPU time. TIMEOUT (default
# 10 s of wall time) is libFuzzer's -timeout: one input taking that long is a
# finding (a hang); raise it where the fuzzers run beside heavy jobs at a low
# priority and may wait that long for a core.
#
# Seeds come from tests/fuzz/<target>/ (never written); what libFuzzer adds
# is kept in $FUZZ_WORK/corpus/<target>/ (default ~/.cache/spicenn/fuzz), so
# a later run starts from it. Findings (crash-*, leak-*, timeout-*, oom-*,
# slow-unit-*) go to $FUZZ_WORK/artifacts/<target>/, the log of each run to
# $FUZZ_WORK/logs/<target>.log. Replay one with
#   build-fuzz/tests/fuzz/fuzz_<target> <file>
# Prints executions and findings per target; exits 1 if there are findings.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
seconds="${1:-60}"
shift || true
all_targets=(model_loader iv_csv device_library netlist_template ngspice_output)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
build="${FUZZ_BUILD_DIR:-build-fuzz}"
work="${FUZZ_WORK:-$HOME/.cache/spicenn/fuzz}"
jobs="${JOBS:-$(nproc)}"
parallel="${PARALLEL:-1}"
nice_level="${NICE:-0}"
cpu_budget="${CPU_SECONDS:-}"
unit_timeout="${TIMEOUT:-10}"
cxx="${CXX_FUZZ:-clang++}"

# Debian's clang (14 on Debian 12) ships libFuzzer (-fsanitize=fuzzer).
if ! command -v "$cxx" >/dev/null && [ "$cxx" = clang++ ]; then bash scripts/apt-install-missing.sh fuzz.sh clang; fi
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (Debian package clang)" >&2; exit 2; }
nice -n "$nice_level" cmake -S . -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DSPICENN_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
nice -n "$nice_level" cmake --build "$build" -j"$jobs" "${build_targets[@]}"

fuzz_one() {
  local t="$1"
  local exe="$build/tests/fuzz/fuzz_$t"
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t" "$work/logs"
  local dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # -timeout: one input taking that long is a finding (a hang); -rss_limit_mb: so is 2 GB.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
    nice -n "$nice_level" "$exe" -max_total_time="$seconds" -timeout="$unit_timeout" -rss_limit_mb=2048 \
    -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "${dict[@]}" \
    "$work/corpus/$t" "tests/fuzz/$t" >"$work/logs/$t.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$work/logs/$t.pid"
  wait "$pid" || true
  # The children's line of `times` (run in this shell, not in a pipe's
  # subshell): the fuzzer's user and system CPU time.
  times >"$work/logs/$t.times"
  tail -1 "$work/logs/$t.times" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }' >"$work/logs/$t.cpu"
  rm -f "$work/logs/$t.pid" "$work/logs/$t.times"
}

# With CPU_SECONDS: every 10 s, interrupt the fuzzers that have had their CPU.
watch_cpu_budget() {
  local ticks
  ticks=$(getconf CLK_TCK)
  while sleep 10; do
    for f in "$work"/logs/*.pid; do
      [ -e "$f" ] || continue
      local pid used
      pid=$(cat "$f")
      used=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || continue
      [ "$used" -ge $((cpu_budget * ticks)) ] && kill -INT "$pid" 2>/dev/null
    done
  done
}

mkdir -p "$work"
stamp="$work/.run-started"
touch "$stamp"
rm -f "$work"/logs/*.pid "$work"/logs/*.cpu
echo "fuzz.sh: ${#targets[@]} target(s), $seconds s each${cpu_budget:+ or $cpu_budget s of CPU}, $parallel at a time; work dir $work"
if [ -n "$cpu_budget" ]; then
  watch_cpu_budget &
  watcher=$!
  trap 'kill "$watcher" 2>/dev/null || true' EXIT  # also on an early exit
fi
running=0
fuzzers=()
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  fuzzers+=($!)
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait "${fuzzers[@]}" 2>/dev/null || true  # not the watcher, which the EXIT trap ends

findings=0
printf '%-18s %12s %10s %9s %8s %9s\n' target executions exec/s cpu_s corpus findings
for t in "${targets[@]}"; do
  log="$work/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work/corpus/$t" -type f | wc -l)
  found=$(find "$work/artifacts/$t" -type f -newer "$stamp" | wc -l)  # this run's
  cpu=$(cat "$work/logs/$t.cpu" 2>/dev/null || echo "?")
  printf '%-18s %12s %10s %9s %8s %9s\n' "$t" "${execs:-?}" "${rate:-?}" "$cpu" "$corpus" "$found"
  if [ "$found" -gt 0 ] || [ -z "$execs" ]; then
    findings=1
    echo "  $t: see $log and $work/artifacts/$t/" >&2
  fi
done
exit "$findings"
