#!/usr/bin/env bash
# The KAN software model against its PyTorch peer, in one session: the
# KANalogue network [196, 64, 10], 2 bases, batch normalization, float64;
# training throughput (one optimizer step per batch of 64, samples/s) and
# inference throughput (batch 1000), with 1 and 2 threads.
#   spicenn: build/bench/bench_kan_software
#   PyTorch: bench/kan_torch_peer.py with Debian's python3-torch on OpenBLAS,
#            OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only
# The two alternate for `rounds` rounds (machines drift); the medians and
# their ratios are printed and written to build/results/bench-kan-software.txt.
#   bash scripts/bench-kan-software.sh [rounds=3]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
bash scripts/install-bench-deps.sh > /dev/null
[ -x build/bench/bench_kan_software ] || bash scripts/build.sh
out=build/results
mkdir -p "$out"
tmp=$(mktemp -d)
for r in $(seq "$rounds"); do
  build/bench/bench_kan_software --benchmark_format=json --benchmark_min_time=3 > "$tmp/spicenn-$r.json" 2> /dev/null
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/kan_torch_peer.py --rounds 1 --json-only \
    > "$tmp/torch-$r.json" 2> "$tmp/torch-$r.err"
done
/usr/bin/python3 - "$tmp" "$rounds" <<'PY' | tee "$out/bench-kan-software.txt"
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
ours = {}
theirs = {}
for r in range(1, rounds + 1):
    for b in json.load(open(f"{tmp}/spicenn-{r}.json"))["benchmarks"]:
        kind = "train" if "train" in b["name"] else "infer"
        threads = b["name"].split("threads:")[1].split("/")[0]
        ours.setdefault((kind, threads), []).append(b["items_per_second"])
    peer = json.loads(open(f"{tmp}/torch-{r}.json").read().strip().splitlines()[-1])
    for kind, batch in (("train", 64), ("infer", 1000)):
        for threads in ("1", "2"):
            theirs.setdefault((kind, threads), []).append(peer[f"{kind}_batch{batch}_threads{threads}"])
print(f"KAN [196, 64, 10], 2 bases, batch norm, float64; medians of {rounds} alternating rounds, samples/s")
print(f"{'':24} {'spicenn':>10} {'PyTorch':>10} {'ratio':>7}")
for kind, batch in (("train", 64), ("infer", 1000)):
    for threads in ("1", "2"):
        a = statistics.median(ours[(kind, threads)])
        b = statistics.median(theirs[(kind, threads)])
        print(f"{kind} batch {batch:<5} {threads} thr  {a:10.0f} {b:10.0f} {a / b:7.2f}")
PY
rm -rf "$tmp"
