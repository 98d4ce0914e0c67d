#!/usr/bin/env bash
# The MON software model against its PyTorch peer (a monDEQ), in one session:
# 784 -> 100 -> 10, ideal diodes / ReLU, about half of the hidden units
# clamped; training throughput (batch 64, samples/s) and inference throughput
# (batch 1000; float64, and spicenn's float32 path), with 1 and 2 threads.
#   spicenn: build/bench/bench_mon_software, the exact equilibrium (active
#            set, scaled KKT residual <= 1e-12), unconstrained warm start,
#            bias shift -1.4 (BM_mon_*/pr_iters:0/bias_shift_x10:-10); and
#            mon_precision::float32 (BM_mon_infer_float32: projected Jacobi in
#            float32, scaled residual <= 1e-5)
#   PyTorch: bench/mon_torch_peer.py (Peaceman-Rachford, float32, tol 1e-2,
#            the reference's initialization) with Debian's python3-torch on
#            OpenBLAS, OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that
#            command only, OMP_WAIT_POLICY=PASSIVE (libgomp threads that spin at
#            barriers collapse on a loaded 2-core machine; see kan_torch_peer.py)
# The two alternate for `rounds` rounds (ours, peer, ours, peer, ...: the
# machine drifts); the medians and their ratios are printed and written to
# build/results/bench-mon-software.txt. Extra arguments go to the peer
# (e.g. --weights circuit).
#   bash scripts/bench-mon-software.sh [rounds=3] [peer options...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds="${1:-3}"
shift || true
bash scripts/install-bench-deps.sh > /dev/null
[ -x build/bench/bench_mon_software ] || bash scripts/build.sh
out=build/results
mkdir -p "$out"
tmp=$(mktemp -d)
for r in $(seq "$rounds"); do
  build/bench/bench_mon_software --benchmark_filter='BM_mon_(train|infer|infer_float32)/threads:[12]/(pr_iters:0/)?bias_shift_x10:-10' \
    --benchmark_format=json --benchmark_min_time=3 > "$tmp/spicenn-$r.json" 2> /dev/null
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/mon_torch_peer.py --rounds 1 --json-only "$@" \
    > "$tmp/torch-$r.json" 2> "$tmp/torch-$r.err"
done
/usr/bin/python3 - "$tmp" "$rounds" <<'PY' | tee "$out/bench-mon-software.txt"
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
ours, theirs, resid, resid32, peer = {}, {}, [], [], None
for r in range(1, rounds + 1):
    for b in json.load(open(f"{tmp}/spicenn-{r}.json"))["benchmarks"]:
        kind = "train" if "train" in b["name"] else "infer32" if "float32" in b["name"] else "infer"
        threads = b["name"].split("threads:")[1].split("/")[0]
        ours.setdefault((kind, threads), []).append(b["items_per_second"])
        if kind == "infer32":
            resid32.append(b["f64_resid"])
        else:
            resid.append(b["max_resid"])
    peer = json.loads(open(f"{tmp}/torch-{r}.json").read().strip().splitlines()[-1])
    for kind, batch in (("train", 64), ("infer", 1000)):
        for threads in ("1", "2"):
            theirs.setdefault((kind, threads), []).append(peer[f"{kind}_batch{batch}_threads{threads}"])
print(f"MON 784-100-10, ~50 % of hidden units clamped; medians of {rounds} alternating rounds, samples/s")
print(f"spicenn: exact equilibrium, float64, scaled KKT residual max {max(resid):.2e}; "
      f"float32 inference (projected Jacobi): the same residual, evaluated in float64, max {max(resid32):.2e}")
print(f"PyTorch: {peer['model']}, weights {peer['weights']}, tol {peer['tol']}: "
      f"{peer['forward_iterations_batch1000']} forward iterations (batch 1000), "
      f"{peer['train_forward_iterations']}/{peer['train_backward_iterations']} forward/backward (batch 64), "
      f"clamped {peer['clamped_fraction']:.3f}, fixed-point residual {peer['fixed_point_residual']:.2e}, "
      f"scaled KKT residual max {peer['kkt_scaled_residual_max']:.2e} median {peer['kkt_scaled_residual_median']:.2e}")
print(f"{'':24} {'spicenn':>10} {'PyTorch':>10} {'ratio':>7}")
for kind, batch in (("train", 64), ("infer", 1000), ("infer32", 1000)):
    for threads in ("1", "2"):
        a = statistics.median(ours[(kind, threads)])
        b = statistics.median(theirs[("infer" if kind == "infer32" else kind, threads)])
        label = "infer float32" if kind == "infer32" else kind
        print(f"{label} batch {batch:<5} {threads} thr  {a:10.0f} {b:10.0f} {a / b:7.2f}")
PY
rm -rf "$tmp"
