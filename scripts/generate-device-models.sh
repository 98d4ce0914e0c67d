#!/usr/bin/env bash
# Regenerates the checked-in builtin device libraries device_models/*.lib
# from the C++ parameter sets (src/devices/builtin_parameters.cpp) through the
# one SPICE writer (src/devices/library_writer.cpp).
#
#   scripts/generate-device-models.sh [BUILD_DIR]     (default: build-dev)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-dev}"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build"
fi
cmake --build "$build" --target spicenn_generate_device_models -j2
exe="$(find "$build" -type f -name spicenn_generate_device_models -perm -u+x | head -n 1)"
"$exe" "$root/device_models"
