#!/usr/bin/env bash
# The reference implementation's trained MNIST KirchhoffNet (834 nodes,
# 2 slices of 230,068 shift_relu1 edges; published test top-1 99.42 %) in
# spicenn: imported from its checkpoint (scripts/import-kirchhoffnet.py),
# then evaluated once on the 10,000 MNIST test images by the software model
# at the reference's tolerances (dopri5, rtol = atol = 1e-3).
#   bash scripts/reproduce-kirchhoffnet-reference.sh [REFERENCE_DIR] [threads]
# REFERENCE_DIR holds model.pth, config.yaml, metric.yaml (default: the
# importer's). Writes build/results/kn-mnist/. ~6 minutes on 1 core.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
reference=("${1:+--reference}" "${1:-}")
[ -n "${1:-}" ] || reference=()
threads="${2:-0}"
spicenn=build/src/cli/spicenn
out=build/results/kn-mnist
mkdir -p "$out"
[ -x "$spicenn" ] || bash scripts/build.sh
python3 scripts/import-kirchhoffnet.py "${reference[@]}" -o "$out/reference.xml"
$spicenn info "$out/reference.xml" | head -12
echo "== the 10,000 MNIST test images, software model (rtol = atol = 1e-3, as the reference)"
$spicenn eval "$out/reference.xml" --data mnist --threads "$threads" --progress lines | tee "$out/reference-test-software.txt" | head -2
