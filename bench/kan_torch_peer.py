#!/usr/bin/python3
"""PyTorch peer benchmark for spicenn's tunnel-diode KAN (KANalogue-style model).

Usage (Debian's interpreter, OpenBLAS tuning variables unset for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/kan_torch_peer.py

Options: --layers 196,64,10  --bases 2  --rounds 3  --json-only
         (and --threads 1,2  --train-batch 64  --infer-batch 1000  --seconds 3)

On a loaded machine the 2-thread numbers collapse (libgomp's threads spin at
every parallel region's barrier while the other core runs someone else's job);
OMP_WAIT_POLICY=PASSIVE (set before this script starts) makes them robust to
that, at the price of wake-up latency on a quiet machine. The JSON records it.

Install the dependencies first (Debian 12, root): scripts/install-bench-deps.sh

The model is the KANalogue fully connected tunnel-diode KAN ("tdkan") rebuilt
for speed measurement only:
  * every KAN layer clamps its input to [0, 1.4] (the reference's "PosHC"),
    evaluates D fixed basis curves B_d(x) on every input element and computes
        y[b, o] = sum_i sum_d c[i, o, d] * B_d(x[b, i]) + beta[o]
    with one einsum ("bid,iod->bo"); only c and beta are learned;
  * each basis curve is a natural cubic spline (about 30 knots on [0, 1.4]),
    evaluated like the reference: clamp to the knot range, bucketize for the
    interval, then a*dx**3 + b*dx**2 + c*dx + d with per-interval tables;
  * BatchNorm1d between KAN layers (not after the last one);
  * float64 throughout, Adam, cross-entropy.
The curve shapes are synthetic NDR-like bumps (A*(V/Vp)*exp(1 - V/Vp) for a
different Vp per basis, plus a small diode-like rise), not the measured I-V
curves: the benchmark measures speed, not accuracy. Inputs are random 8-bit
pixel values k/255 (as spicenn's bench_kan_software), labels random in 0..9;
no data set is needed.

Measured, each for every thread count in --threads (torch.set_num_threads, and
OpenBLAS's own thread count when the loaded BLAS is OpenBLAS):
  * train: forward + cross-entropy + backward + Adam step, model.train(),
    batch --train-batch (64);
  * infer: forward only, model.eval() under torch.no_grad(), batch
    --infer-batch (1000).
Each measurement: warm-up, then --rounds rounds of a fixed number of
iterations (calibrated so that one round lasts about --seconds seconds); the
median round is reported in samples/s. The last line of stdout is one JSON
object with all numbers (keys like train_batch64_threads1,
infer_batch1000_threads2) for the C++ benchmark scripts to parse.
"""

import argparse
import ctypes
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

DOMAIN = (0.0, 1.4)  # input clamp range == spline knot range, volts
DTYPE = torch.float64
SLOW_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ---------------------------------------------------------------------------
# Basis curves: natural cubic splines through synthetic NDR-like I-V samples
# ---------------------------------------------------------------------------

def ndr_curve(v, vp, vt=0.12):
    """Tunnel-diode-like current: a peak at vp, a valley, then a smooth diode
    rise reaching 1 at the top of the domain."""
    tunnel = (v / vp) * torch.exp(1.0 - v / vp)
    diode = torch.expm1(v / vt) / math.expm1(DOMAIN[1] / vt)
    return tunnel + diode


def natural_cubic_spline_tables(xs, ys):
    """Per-interval tables (a, b, c, d) of the natural cubic spline through
    (xs, ys): on [xs[k], xs[k+1]], s(x) = a*dx^3 + b*dx^2 + c*dx + d, dx = x - xs[k]."""
    n = xs.numel()
    h = xs[1:] - xs[:-1]
    # Second derivatives m, natural ends m[0] = m[n-1] = 0: tridiagonal system.
    mat = torch.zeros(n, n, dtype=DTYPE)
    rhs = torch.zeros(n, dtype=DTYPE)
    mat[0, 0] = 1.0
    mat[n - 1, n - 1] = 1.0
    for k in range(1, n - 1):
        mat[k, k - 1] = h[k - 1]
        mat[k, k] = 2.0 * (h[k - 1] + h[k])
        mat[k, k + 1] = h[k]
        rhs[k] = 6.0 * ((ys[k + 1] - ys[k]) / h[k] - (ys[k] - ys[k - 1]) / h[k - 1])
    m = torch.linalg.solve(mat, rhs)
    a = (m[1:] - m[:-1]) / (6.0 * h)
    b = m[:-1] / 2.0
    c = (ys[1:] - ys[:-1]) / h - h * (2.0 * m[:-1] + m[1:]) / 6.0
    d = ys[:-1].clone()
    return a, b, c, d


def make_bases(count, knots=30):
    """`count` spline tables with different peak voltages (Vp spread over the domain)."""
    xs = torch.linspace(DOMAIN[0], DOMAIN[1], knots, dtype=DTYPE)
    bases = []
    for k in range(count):
        vp = 0.20 + 0.25 * k / max(1, count - 1) if count > 1 else 0.25
        ys = ndr_curve(xs, vp)
        ys = ys / ys.abs().max()
        bases.append((xs,) + natural_cubic_spline_tables(xs, ys))
    return bases


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------

class TunnelKANLayer(nn.Module):
    def __init__(self, n_in, n_out, bases):
        super().__init__()
        self.n_in, self.n_out, self.n_bases = n_in, n_out, len(bases)
        for k, (xs, a, b, c, d) in enumerate(bases):
            for name, t in (("xs", xs), ("a", a), ("b", b), ("c", c), ("d", d)):
                self.register_buffer(f"basis{k}_{name}", t.clone())
        self.coeffs = nn.Parameter(torch.empty(n_in, n_out, self.n_bases, dtype=DTYPE))
        nn.init.normal_(self.coeffs, mean=0.0, std=1.0 / (n_in * self.n_bases))
        self.bias = nn.Parameter(torch.zeros(n_out, dtype=DTYPE))

    def spline(self, k, x):
        xs = getattr(self, f"basis{k}_xs")
        a = getattr(self, f"basis{k}_a")
        b = getattr(self, f"basis{k}_b")
        c = getattr(self, f"basis{k}_c")
        d = getattr(self, f"basis{k}_d")
        flat = torch.clamp(x.clone().reshape(-1), xs[0], xs[-1])
        idx = torch.clamp(torch.bucketize(flat, xs) - 1, 0, xs.numel() - 2)
        dx = flat - xs[idx]
        y = a[idx] * dx ** 3 + b[idx] * dx ** 2 + c[idx] * dx + d[idx]
        return y.reshape(x.shape)

    def forward(self, x):
        x = torch.clamp(x.to(DTYPE), DOMAIN[0], DOMAIN[1])
        basis = torch.stack([self.spline(k, x) for k in range(self.n_bases)], dim=-1)
        return torch.einsum("bid,iod->bo", basis, self.coeffs) + self.bias


class TunnelKAN(nn.Module):
    def __init__(self, dims, n_bases):
        super().__init__()
        bases = make_bases(n_bases)
        layers = []
        for k in range(len(dims) - 1):
            layers.append(TunnelKANLayer(dims[k], dims[k + 1], bases))
            if k < len(dims) - 2:
                layers.append(nn.BatchNorm1d(dims[k + 1], dtype=DTYPE))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.reshape(x.size(0), -1).to(DTYPE))


# ---------------------------------------------------------------------------
# Environment / BLAS reporting
# ---------------------------------------------------------------------------

def loaded_blas_libraries():
    """Shared objects mapped into this process that look like a BLAS/LAPACK."""
    libs = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path).lower()
                if any(s in base for s in ("blas", "lapack", "blis", "mkl", "atlas")):
                    if path not in libs:
                        libs.append(path)
    except OSError:
        pass
    return libs


class OpenBLAS:
    """ctypes handle on the loaded OpenBLAS (if the BLAS in use is OpenBLAS)."""

    def __init__(self):
        self.lib = None
        for path in loaded_blas_libraries():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            if hasattr(lib, "openblas_set_num_threads"):
                self.lib = lib
                break

    def info(self):
        if self.lib is None:
            return None
        out = {}
        for name in ("openblas_get_config", "openblas_get_corename"):
            fn = getattr(self.lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                out[name[len("openblas_get_"):]] = fn().decode(errors="replace").strip()
        fn = getattr(self.lib, "openblas_get_num_threads", None)
        if fn is not None:
            out["num_threads"] = int(fn())
        return out

    def set_threads(self, n):
        if self.lib is not None:
            self.lib.openblas_set_num_threads(ctypes.c_int(n))


def blas_config_lines():
    lines = []
    for line in torch.__config__.show().splitlines():
        if "BLAS" not in line.upper():
            continue
        if "Build settings" in line:  # one very long line: keep its BLAS items
            items = [s.strip() for s in line.split(":", 1)[-1].split(",")]
            lines.append("  - Build settings: " + ", ".join(s for s in items if "BLAS" in s.upper() or "LAPACK" in s.upper()))
        else:
            lines.append(line.rstrip())
    return lines


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------

def calibrate(step, seconds, samples_per_step):
    """Iterations per round so that a round lasts about `seconds` (>= 3 iterations)."""
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min(0.5, seconds / 4) and n >= 3:
            break
    return max(3, int(math.ceil(n * seconds / elapsed)))


def measure(step, samples_per_step, rounds, seconds, warmup_seconds=0.5):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < warmup_seconds:
        step()
    iters = calibrate(step, seconds, samples_per_step)
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        rates.append(iters * samples_per_step / (time.perf_counter() - t0))
    return statistics.median(rates), rates, iters


def pixels(batch, n_in, gen):
    """8-bit pixel values k/255, k uniform in 0..255, as the spicenn benchmark's inputs."""
    return torch.randint(0, 256, (batch, n_in), generator=gen).to(torch.float64) / 255.0


def make_train_step(model, batch, n_classes, n_in, pool=8):
    gen = torch.Generator().manual_seed(1)
    xs = [pixels(batch, n_in, gen) for _ in range(pool)]
    ys = [torch.randint(0, n_classes, (batch,), generator=gen) for _ in range(pool)]
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    state = {"k": 0}

    def step():
        k = state["k"] = (state["k"] + 1) % pool
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[k]), ys[k])
        loss.backward()
        opt.step()

    return step


def make_infer_step(model, batch, n_in, pool=4):
    gen = torch.Generator().manual_seed(2)
    xs = [pixels(batch, n_in, gen) for _ in range(pool)]
    state = {"k": 0}

    def step():
        k = state["k"] = (state["k"] + 1) % pool
        with torch.no_grad():
            model(xs[k])

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", default="196,64,10", help="layer widths, comma-separated")
    ap.add_argument("--bases", type=int, default=2, help="basis curves per edge")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per measurement")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--infer-batch", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=3.0, help="target length of one round")
    ap.add_argument("--json-only", action="store_true", help="print only the JSON line on stdout")
    args = ap.parse_args()

    dims = [int(s) for s in args.layers.split(",") if s.strip()]
    threads = [int(s) for s in args.threads.split(",") if s.strip()]
    if len(dims) < 2 or args.bases < 1 or args.rounds < 1 or not threads:
        ap.error("need >= 2 layer widths, --bases >= 1, --rounds >= 1 and a thread count")

    def say(*a):
        if not args.json_only:
            print(*a, flush=True)

    set_vars = [v for v in SLOW_BLAS_VARS if v in os.environ]
    if set_vars:
        shown = " ".join(f"{v}={os.environ[v]}" for v in set_vars)
        print(f"WARNING: {shown} set; these select slow OpenBLAS kernels and the numbers\n"
              f"are not comparable. Run as\n"
              f"  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 {sys.argv[0]}",
              file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"WARNING: load average {load_before[0]:.2f} before the run: other processes "
              f"compete for the cores; multi-threaded numbers suffer most", file=sys.stderr, flush=True)

    torch.manual_seed(0)
    default_threads = torch.get_num_threads()
    model = TunnelKAN(dims, args.bases)
    model(torch.rand(2, dims[0]))  # load BLAS & kernels before inspecting the process
    openblas = OpenBLAS()
    blas_libs = loaded_blas_libraries()
    blas_lines = blas_config_lines()
    ob_info = openblas.info()

    say(f"python {platform.python_version()} ({sys.executable})")
    say(f"torch.__version__ = {torch.__version__}")
    say(f"torch.get_num_threads() = {default_threads} (default), os.cpu_count() = {os.cpu_count()}")
    say("torch BLAS config:")
    for line in blas_lines:
        say(line)
    say("BLAS libraries loaded: " + (", ".join(blas_libs) or "none found"))
    if ob_info:
        say(f"OpenBLAS: {ob_info}")
    else:
        say("OpenBLAS: not the loaded BLAS")
    n_params = sum(p.numel() for p in model.parameters())
    say(f"model: layers {dims}, {args.bases} bases, BatchNorm1d, float64, {n_params} parameters")

    result = {
        "unit": "samples/s",
        "layers": dims,
        "bases": args.bases,
        "rounds": args.rounds,
        "torch_version": torch.__version__,
        "torch_default_threads": default_threads,
        "blas_config": blas_lines,
        "blas_libraries": blas_libs,
        "openblas": ob_info,
        "openblas_env_set": {v: os.environ[v] for v in set_vars},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "round_rates": {},
        "iterations_per_round": {},
    }
    n_classes = dims[-1]
    for nt in threads:
        torch.set_num_threads(nt)
        openblas.set_threads(nt)
        for kind in ("train", "infer"):
            batch = args.train_batch if kind == "train" else args.infer_batch
            if kind == "train":
                model.train()
                step = make_train_step(model, batch, n_classes, dims[0])
            else:
                model.eval()
                step = make_infer_step(model, batch, dims[0])
            key = f"{kind}_batch{batch}_threads{nt}"
            med, rates, iters = measure(step, batch, args.rounds, args.seconds)
            result[key] = round(med, 1)
            result["round_rates"][key] = [round(r, 1) for r in rates]
            result["iterations_per_round"][key] = iters
            say(f"{key:28s} {med:12,.0f} samples/s  (rounds: "
                + ", ".join(f"{r:,.0f}" for r in rates) + f"; {iters} iterations each, "
                f"torch threads {torch.get_num_threads()})")
    torch.set_num_threads(default_threads)
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    say(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
