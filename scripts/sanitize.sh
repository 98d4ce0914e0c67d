#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer build of the whole test suite.
#
#   bash scripts/sanitize.sh            # configure build-asan/, build, run every ctest test
#   JOBS=1 NICE=19 bash scripts/sanitize.sh   # politely, on a busy machine
#
# The build (g++, RelWithDebInfo, -fsanitize=address,undefined
# -fno-sanitize-recover=all -fno-omit-frame-pointer) lives in build-asan/,
# apart from build/. Any sanitizer report aborts the process, so it fails
# its test. The embedded ngspice is Debian's uninstrumented shared library
# (private copies loaded with dlopen); ASan intercepts its malloc/free, so
# its heap errors would be reported too. What ngspice allocates and keeps
# is left out of leak checking by the engine itself (ngspice_library.hpp:
# ngspice_allocations_untracked); scripts/sanitize/lsan.supp holds the one
# third-party (glibc) suppression; the mpi tests run without LeakSanitizer
# (Open MPI). Nothing of spicenn's is suppressed.
# Prints the build and test times at the end (docs/hardening.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
build="${BUILD_DIR:-build-asan}"
jobs="${JOBS:-$(nproc)}"
nice_level="${NICE:-0}"
run() { nice -n "$nice_level" "$@"; }

flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
start=$(date +%s)
run cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPICENN_BUILD_BENCH=OFF -DSPICENN_TEST_TIMEOUT_FACTOR=5 \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
run cmake --build "$build" -j"$jobs"
built=$(date +%s)

# detect_leaks stays on; new_delete_type_mismatch and the other defaults too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:strict_string_checks=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/scripts/sanitize/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
run ctest --test-dir "$build" --output-on-failure -j"$jobs" --timeout 1500 -LE mpi || status=$?
# Under mpirun, Open MPI's runtime and the components it dlopens and
# dlcloses keep allocations whose reports name no module (no suppression
# can match them): the mpi tests run with ASan and UBSan but without
# LeakSanitizer.
ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" run ctest --test-dir "$build" --output-on-failure -j"$jobs" \
  --timeout 1500 -L mpi || status=$?
done_at=$(date +%s)
echo "sanitize.sh: build $((built - start)) s, tests $((done_at - built)) s, total $((done_at - start)) s (jobs $jobs); ctest exit $status"
exit "$status"
