#!/usr/bin/env bash
# Throughput of the KirchhoffNet software model (build/bench/bench_kirchhoffnet_software:
# the reference topologies, shift_relu1, kaiming initial theta, dopri5 at
# rtol = atol = 1e-3, float64, batch 64 of MNIST test images, 1 and 2
# threads), medians of `rounds` rounds, and the ratios to the reference
# implementation's figures (PyTorch 1.13 + torchdiffeq 0.2.5, float32,
# adjoint; measured on this 2-core machine and given in issue 8; torchdiffeq
# is not packaged in Debian, so it cannot be re-run here):
#   14x14 (246 nodes, 49,132 edges/slice): forward 48 / 87, training 18.6 / 30.7 samples/s
#   28x28 (834 nodes, 230,068 edges/slice): forward 5.4 / 8.9 samples/s
# Writes build/results/bench-kirchhoffnet-software.txt.
#   bash scripts/bench-kirchhoffnet-software.sh [rounds=3]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
[ -x build/bench/bench_kirchhoffnet_software ] || bash scripts/build.sh
out=build/results
mkdir -p "$out"
tmp=$(mktemp -d)
for r in $(seq "$rounds"); do
  build/bench/bench_kirchhoffnet_software --benchmark_format=json --benchmark_min_time=2 > "$tmp/run-$r.json" 2> /dev/null
done
/usr/bin/python3 - "$tmp" "$rounds" <<'PY' | tee "$out/bench-kirchhoffnet-software.txt"
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
runs = {}
for r in range(1, rounds + 1):
    for b in json.load(open(f"{tmp}/run-{r}.json"))["benchmarks"]:
        runs.setdefault(b["name"], []).append((b["items_per_second"], b.get("rhs_per_slice", 0)))
reference = {"forward14": (48, 87), "train14": (18.6, 30.7), "forward28": (5.4, 8.9)}
print(f"{'case':<12} {'threads':>7} {'spicenn samples/s':>18} {'reference':>10} {'ratio':>7} {'RHS/slice':>10}")
for name, values in runs.items():
    case = name.split("/")[0].split("_")[-1]
    threads = int(name.split("/")[1])
    rate = statistics.median(v[0] for v in values)
    rhs = statistics.median(v[1] for v in values)
    ref = reference[case][threads - 1]
    print(f"{case:<12} {threads:>7} {rate:>18.1f} {ref:>10} {rate / ref:>6.1f}x {rhs:>10.1f}")
print(f"(medians of {rounds} rounds; bench_kirchhoffnet_software, batch 64, rtol = atol = 1e-3)")
PY
