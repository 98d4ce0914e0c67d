#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang in build-fuzz/ and
# fuzzes each for a given time (docs/hardening.md).
#
#   bash scripts/fuzz.sh                 # 60 s per target, every target
#   bash scripts/fuzz.sh 3600            # an hour per target
#   bash scripts/fuzz.sh 600 iv_csv ngspice_output
#   PARALLEL=2 NICE=19 bash scripts/fuzz.sh 3600   # two targets at a time, politely
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
  # -timeout: one input taking 10 s is a finding (a hang); -rss_limit_mb: so is 2 GB.
  ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
    nice -n "$nice_level" "$exe" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" "${dict[@]}" \
    "$work/corpus/$t" "tests/fuzz/$t" >"$work/logs/$t.log" 2>&1 || true
}

mkdir -p "$work"
stamp="$work/.run-started"
touch "$stamp"
echo "fuzz.sh: ${#targets[@]} target(s), $seconds s each, $parallel at a time; work dir $work"
running=0
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

findings=0
printf '%-18s %12s %10s %8s %9s\n' target executions exec/s corpus findings
for t in "${targets[@]}"; do
  log="$work/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$work/corpus/$t" -type f | wc -l)
  found=$(find "$work/artifacts/$t" -type f -newer "$stamp" | wc -l)  # this run's
  printf '%-18s %12s %10s %8s %9s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$found"
  if [ "$found" -gt 0 ] || [ -z "$execs" ]; then
    findings=1
    echo "  $t: see $log and $work/artifacts/$t/" >&2
  fi
done
exit "$findings"
