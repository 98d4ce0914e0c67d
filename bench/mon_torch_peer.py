#!/usr/bin/python3
"""PyTorch peer benchmark for spicenn's resistor-diode MON (a monDEQ).

Usage (Debian's interpreter, OpenBLAS tuning variables unset for this command only):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/mon_torch_peer.py

Options: --tol 1e-2  --alpha 1.0  --max-iter 50  --rounds 3  --json-only
         (and --threads 1,2  --train-batch 64  --infer-batch 1000  --seconds 3  --lr 1e-7)

Install the dependencies first (Debian 12, root): scripts/install-bench-deps.sh

The model is the monotone operator equilibrium network of Winston & Kolter
(NeurIPS 2020) as in their reference code (locuslab/monotone_op_net, mon.py,
splitting.py, train.py), rewritten here for speed measurement only:
  * MONSingleFc 784 -> 100: z = ReLU(W z + U x + b) with
    W = (1 - m) I - A^T A + B - B^T, U: nn.Linear(784, 100), A, B: 100 x 100;
  * MONPeacemanRachford: the forward equilibrium by Peaceman-Rachford
    splitting with step alpha, (I + alpha (I - W))^-1 formed once per
    forward (init_inverse), iterations until the relative change of z is
    below tol (at most max_iter), then one more application of the layer
    with autograd; the backward pass solves the adjoint equation by the same
    splitting (transposed inverse), with the same alpha, tol and max_iter;
  * a readout nn.Linear(100, 10), cross-entropy, Adam; float32 throughout
    (the reference's dtype).
Weights are those of spicenn's benchmark network (bench/bench_mon_software.cpp:
ir::init_mon(784, 100, 10) with every bias shifted by -1.4, so that about
half of the hidden units are clamped), drawn from the same distributions
with torch's generator and written as a monDEQ: W = I - a G (B = 0,
A = chol(a G - m I)^T), U = a H, b = a bias, with a = 1/sqrt(lmin lmax) of G
so that I - W has its spectrum around 1 (where the reference's alpha = 1 is
a good splitting step). The fixed point z* is then the circuit's
equilibrium v*. Inputs are MNIST-like like spicenn's benchmark (784 pixels,
19 % lit, values uniform in [0.5, 1]); labels are random.

The learning rate is tiny (--lr 1e-7) so that the network, its clamped
fraction and its iteration counts stay put while it is measured; Adam's cost
does not depend on it.

Measured, each for every thread count in --threads (torch.set_num_threads, and
OpenBLAS's own thread count when the loaded BLAS is OpenBLAS):
  * train: forward + cross-entropy + backward + Adam step, batch --train-batch (64);
  * infer: forward only under torch.no_grad(), batch --infer-batch (1000).
Each measurement: warm-up, then --rounds rounds of a fixed number of
iterations (calibrated so that one round lasts about --seconds seconds); the
median round is reported in samples/s. Also reported: the forward and
backward iteration counts, the fraction of clamped hidden units, and the
equilibrium's residuals on a batch of 1000 (max over samples):
  * fixed_point: |z - ReLU(W z + U x + b)|_inf / |z|_inf (the monDEQ residual);
  * kkt_scaled: spicenn's scaled complementarity residual of v = z for the
    circuit (G, s) (src/models/mon_equilibrium.hpp), in float64.
The last line of stdout is one JSON object with all numbers (keys like
train_batch64_threads1, infer_batch1000_threads2) for scripts/bench-mon-software.sh.
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
from torch.autograd import Function

DTYPE = torch.float32
SLOW_BLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# ---------------------------------------------------------------------------
# monDEQ (after locuslab/monotone_op_net mon.py and splitting.py)
# ---------------------------------------------------------------------------

class MONSingleFc(nn.Module):
    """Single fully connected MON layer: W = (1 - m) I - A^T A + B - B^T."""

    def __init__(self, in_dim, out_dim, m=1.0):
        super().__init__()
        self.U = nn.Linear(in_dim, out_dim)
        self.A = nn.Linear(out_dim, out_dim, bias=False)
        self.B = nn.Linear(out_dim, out_dim, bias=False)
        self.m = m

    def z_shape(self, n_batch):
        return ((n_batch, self.A.in_features),)

    def forward(self, x, *z):
        return (self.U(x) + self.multiply(*z)[0],)

    def bias(self, x):
        return (self.U(x),)

    def multiply(self, *z):
        ATAz = self.A(z[0]) @ self.A.weight
        return ((1 - self.m) * z[0] - ATAz + self.B(z[0]) - z[0] @ self.B.weight,)

    def multiply_transpose(self, *g):
        ATAg = self.A(g[0]) @ self.A.weight
        return ((1 - self.m) * g[0] - ATAg - self.B(g[0]) + g[0] @ self.B.weight,)

    def init_inverse(self, alpha, beta):
        I = torch.eye(self.A.weight.shape[0], dtype=self.A.weight.dtype, device=self.A.weight.device)
        W = (1 - self.m) * I - self.A.weight.T @ self.A.weight + self.B.weight - self.B.weight.T
        self.Winv = torch.inverse(alpha * I + beta * W)

    def inverse(self, *z):
        return (z[0] @ self.Winv.transpose(0, 1),)

    def inverse_transpose(self, *g):
        return (g[0] @ self.Winv,)


class MONReLU(nn.Module):
    def forward(self, *z):
        return tuple(F.relu(z_) for z_ in z)

    def derivative(self, *z):
        return tuple((z_ > 0).type_as(z[0]) for z_ in z)


class MONPeacemanRachford(nn.Module):
    def __init__(self, linear_module, nonlin_module, alpha=1.0, tol=1e-5, max_iter=50):
        super().__init__()
        self.linear_module = linear_module
        self.nonlin_module = nonlin_module
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.fwd_iters = []
        self.bkwd_iters = []

    def forward(self, x):
        self.linear_module.init_inverse(1 + self.alpha, -self.alpha)
        with torch.no_grad():
            z = tuple(torch.zeros(s, dtype=x.dtype, device=x.device) for s in self.linear_module.z_shape(x.shape[0]))
            u = tuple(torch.zeros(s, dtype=x.dtype, device=x.device) for s in self.linear_module.z_shape(x.shape[0]))
            n = len(z)
            bias = self.linear_module.bias(x)
            err, it = 1.0, 0
            while err > self.tol and it < self.max_iter:
                u_12 = tuple(2 * z[i] - u[i] for i in range(n))
                z_12 = self.linear_module.inverse(*tuple(u_12[i] + self.alpha * bias[i] for i in range(n)))
                u = tuple(2 * z_12[i] - u_12[i] for i in range(n))
                zn = self.nonlin_module(*u)
                err = sum((zn[i] - z[i]).norm().item() / (1e-6 + zn[i].norm().item()) for i in range(n))
                z = zn
                it += 1
        self.fwd_iters.append(it)
        zn = self.linear_module(x, *z)
        zn = self.nonlin_module(*zn)
        return self.Backward.apply(self, *zn)

    class Backward(Function):
        @staticmethod
        def forward(ctx, splitter, *z):
            ctx.splitter = splitter
            ctx.save_for_backward(*z)
            return z

        @staticmethod
        def backward(ctx, *g):
            sp = ctx.splitter
            n = len(g)
            z = ctx.saved_tensors
            j = sp.nonlin_module.derivative(*z)
            I = [j[i] == 0 for i in range(n)]
            d = [(1 - j[i]) / j[i] for i in range(n)]
            v = tuple(j[i] * g[i] for i in range(n))
            z = tuple(torch.zeros(s, dtype=g[0].dtype, device=g[0].device) for s in sp.linear_module.z_shape(g[0].shape[0]))
            u = tuple(torch.zeros(s, dtype=g[0].dtype, device=g[0].device) for s in sp.linear_module.z_shape(g[0].shape[0]))
            err, it = 1.0, 0
            zn = z
            while err > sp.tol and it < sp.max_iter:
                u_12 = tuple(2 * z[i] - u[i] for i in range(n))
                z_12 = sp.linear_module.inverse_transpose(*u_12)
                u = tuple(2 * z_12[i] - u_12[i] for i in range(n))
                zn = tuple((u[i] + sp.alpha * (1 + d[i]) * v[i]) / (1 + sp.alpha * d[i]) for i in range(n))
                for i in range(n):
                    zn[i][I[i]] = v[i][I[i]]
                err = sum((zn[i] - z[i]).norm().item() / (1e-6 + zn[i].norm().item()) for i in range(n))
                z = zn
                it += 1
            sp.bkwd_iters.append(it)
            dg = sp.linear_module.multiply_transpose(*zn)
            dg = tuple(g[i] + dg[i] for i in range(n))
            return (None,) + dg


class SingleFcNet(nn.Module):
    def __init__(self, in_dim=784, hidden=100, classes=10, m=0.1, **kwargs):
        super().__init__()
        self.linear_module = MONSingleFc(in_dim, hidden, m=m)
        self.mon = MONPeacemanRachford(self.linear_module, MONReLU(), **kwargs)
        self.Wout = nn.Linear(hidden, classes)

    def forward(self, x):
        z = self.mon(x.view(x.shape[0], -1))
        return self.Wout(z[-1])


# ---------------------------------------------------------------------------
# spicenn's benchmark network, written as a monDEQ
# ---------------------------------------------------------------------------

def circuit(inputs, hidden, gen, bias_shift=-1.4):
    """G, H, bias like ir::init_mon(inputs, hidden, ...) with every bias moved by
    bias_shift (bench_mon_software's bias_shift_x10 = -10), float64."""
    dt = torch.float64
    g = torch.rand(hidden, hidden, generator=gen, dtype=dt) / math.sqrt(hidden)
    g = torch.triu(g, 1)
    g = g + g.T
    g_ground = torch.rand(hidden, generator=gen, dtype=dt)
    h_pos = torch.rand(hidden, inputs, generator=gen, dtype=dt) / math.sqrt(inputs)
    h_neg = torch.rand(hidden, inputs, generator=gen, dtype=dt) / math.sqrt(inputs)
    bias = 0.1 * math.sqrt(inputs) * torch.rand(hidden, generator=gen, dtype=dt) + bias_shift
    G = -g
    G += torch.diag(g_ground + g.sum(1) + h_pos.sum(1) + h_neg.sum(1))
    return G, h_pos - h_neg, bias


def load_circuit(net, G, H, bias):
    """W = I - a G, U = a H, b = a bias (B = 0, A^T A = a G - m I)."""
    ev = torch.linalg.eigvalsh(G)
    a = 1.0 / math.sqrt(ev[0].item() * ev[-1].item())
    m = 0.5 * a * ev[0].item()
    n = G.shape[0]
    lin = net.linear_module
    lin.m = m
    A = torch.linalg.cholesky(a * G - m * torch.eye(n, dtype=G.dtype)).T  # A^T A = a G - m I
    with torch.no_grad():
        lin.A.weight.copy_(A.to(DTYPE))
        lin.B.weight.zero_()
        lin.U.weight.copy_((a * H).to(DTYPE))
        lin.U.bias.copy_((a * bias).to(DTYPE))
    return a


def clamp_half(net, x, target=0.5):
    """Shifts U's bias (the reference's own initialization otherwise) so that
    the equilibrium clamps `target` of the hidden units on x; returns the shift."""
    lin = net.linear_module
    b0 = lin.U.bias.detach().clone()
    tol, net.mon.tol = net.mon.tol, 1e-6
    lo, hi = -1.0, 1.0
    with torch.no_grad():
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            lin.U.bias.copy_(b0 + mid)
            frac = (net.mon(x)[0] <= 0).float().mean().item()
            lo, hi = (mid, hi) if frac > target else (lo, mid)
        lin.U.bias.copy_(b0 + 0.5 * (lo + hi))
    net.mon.tol = tol
    net.mon.fwd_iters.clear()
    return 0.5 * (lo + hi)


def monDEQ_as_circuit(net):
    """(G, H, bias) with the same equilibrium when W is symmetric: I - W = G,
    U = H (float64). For the reference's B != 0, W is not symmetric and the
    KKT residual below is that of (I - W) v - U x - b >= 0 complementarity."""
    lin = net.linear_module
    n = lin.A.weight.shape[0]
    with torch.no_grad():
        A, B = lin.A.weight.double(), lin.B.weight.double()
        W = (1 - lin.m) * torch.eye(n, dtype=A.dtype) - A.T @ A + B - B.T
        return torch.eye(n, dtype=A.dtype) - W, lin.U.weight.double(), lin.U.bias.double()


def kkt_scaled_residual(G, s, v):
    """spicenn's scaled complementarity residual per sample (columns), float64."""
    w = G @ v - s
    r = G.abs() @ v.abs() + s.abs()
    vmax = v.abs().amax(0, keepdim=True)

    def ratio(x, scale):
        out = torch.where(scale > 0, x / torch.where(scale > 0, scale, torch.ones_like(scale)), torch.zeros_like(x))
        return torch.where((scale <= 0) & (x != 0), torch.full_like(x, math.inf), out)

    neg_v = ratio((-v).clamp(min=0), vmax.expand_as(v))
    neg_w = ratio((-w).clamp(min=0), r)
    comp = torch.minimum(ratio(w.abs(), r), ratio(v.abs(), vmax.expand_as(v)))
    return torch.maximum(torch.maximum(neg_v, neg_w), comp).amax(0)


def mnist_like(batch, n_in, gen):
    """784 pixels, 19 % lit with values uniform in [0.5, 1] (bench/bench_inputs.hpp)."""
    lit = torch.rand(batch, n_in, generator=gen) < 0.19
    vals = 0.5 + 0.5 * torch.rand(batch, n_in, generator=gen)
    return torch.where(lit, vals, torch.zeros_like(vals)).to(DTYPE)


# ---------------------------------------------------------------------------
# Environment / BLAS reporting (as bench/kan_torch_peer.py)
# ---------------------------------------------------------------------------

def loaded_blas_libraries():
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


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------

def calibrate(step, seconds):
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
    iters = calibrate(step, seconds)
    rates = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        rates.append(iters * samples_per_step / (time.perf_counter() - t0))
    return statistics.median(rates), rates, iters


def make_train_step(model, batch, n_in, lr, pool=8):
    gen = torch.Generator().manual_seed(1)
    xs = [mnist_like(batch, n_in, gen) for _ in range(pool)]
    ys = [torch.randint(0, 10, (batch,), generator=gen) for _ in range(pool)]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
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
    xs = [mnist_like(batch, n_in, gen) for _ in range(pool)]
    state = {"k": 0}

    def step():
        k = state["k"] = (state["k"] + 1) % pool
        with torch.no_grad():
            model(xs[k])

    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inputs", type=int, default=784)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--weights", choices=("reference", "circuit"), default="reference",
                    help="reference: the reference's own initialization (m = 1) with U's bias shifted so that half "
                         "of the hidden units are clamped; circuit: spicenn's benchmark circuit written as a monDEQ")
    ap.add_argument("--m", type=float, default=1.0, help="monotonicity parameter (reference MNIST FC: 1.0)")
    ap.add_argument("--alpha", type=float, default=1.0, help="Peaceman-Rachford step (reference default 1.0)")
    ap.add_argument("--tol", type=float, default=1e-2, help="relative change of z that stops the splitting")
    ap.add_argument("--max-iter", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-7)
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds per measurement")
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    ap.add_argument("--train-batch", type=int, default=64)
    ap.add_argument("--infer-batch", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=3.0, help="target length of one round")
    ap.add_argument("--json-only", action="store_true", help="print only the JSON line on stdout")
    args = ap.parse_args()
    threads = [int(s) for s in args.threads.split(",") if s.strip()]

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

    torch.manual_seed(0)
    default_threads = torch.get_num_threads()
    gen = torch.Generator().manual_seed(7)
    G, H, bias = circuit(args.inputs, args.hidden, gen)
    model = SingleFcNet(args.inputs, args.hidden, 10, m=args.m, alpha=args.alpha, tol=args.tol, max_iter=args.max_iter)
    x = mnist_like(1000, args.inputs, torch.Generator().manual_seed(3))
    if args.weights == "circuit":
        scale = load_circuit(model, G, H, bias)
        weights = f"spicenn's circuit: W = I - {scale:.4g} G, U = {scale:.4g} H"
    else:
        shift = clamp_half(model, x)
        G, H, bias = monDEQ_as_circuit(model)
        weights = f"reference init (torch seed 0), m {args.m}, U bias shifted by {shift:.4g}"
    openblas = OpenBLAS()
    model(torch.rand(2, args.inputs))  # load BLAS & kernels before inspecting the process
    ob_info = openblas.info()

    # Equilibrium quality on a batch of 1000 (what inference computes).
    with torch.no_grad():
        model.mon.fwd_iters.clear()
        z = model.mon(x)[0]
        fwd_iters = model.mon.fwd_iters[-1]
        lin = model.linear_module
        fz = F.relu(lin(x, z)[0])
        fixed_point = ((z - fz).abs().amax(1) / z.abs().amax(1).clamp(min=1e-30)).max().item()
        s = (H @ x.double().T) + bias[:, None]
        kkt = kkt_scaled_residual(G, s, z.double().T)
        clamped = (z <= 0).double().mean().item()
    # Backward iterations at the training batch.
    xt = mnist_like(args.train_batch, args.inputs, torch.Generator().manual_seed(4))
    model.mon.bkwd_iters.clear()
    model.mon.fwd_iters.clear()
    F.cross_entropy(model(xt), torch.randint(0, 10, (args.train_batch,), generator=torch.Generator().manual_seed(5))).backward()
    model.zero_grad()
    train_fwd_iters, train_bkwd_iters = model.mon.fwd_iters[-1], model.mon.bkwd_iters[-1]

    say(f"python {platform.python_version()} ({sys.executable}), torch {torch.__version__}, "
        f"default threads {default_threads}, os.cpu_count() {os.cpu_count()}")
    say("BLAS libraries loaded: " + (", ".join(loaded_blas_libraries()) or "none found"))
    say(f"OpenBLAS: {ob_info}" if ob_info else "OpenBLAS: not the loaded BLAS")
    say(f"model: monDEQ {args.inputs} -> {args.hidden} -> 10, Peaceman-Rachford alpha {args.alpha}, tol {args.tol}, "
        f"max_iter {args.max_iter}, float32; weights: {weights}")
    say(f"equilibrium (batch 1000): {fwd_iters} iterations, clamped fraction {clamped:.3f}, "
        f"fixed-point residual {fixed_point:.2e}, scaled KKT residual max {kkt.max().item():.2e} "
        f"median {kkt.median().item():.2e}")
    say(f"training batch {args.train_batch}: {train_fwd_iters} forward, {train_bkwd_iters} backward iterations")

    result = {
        "unit": "samples/s",
        "model": f"monDEQ {args.inputs}-{args.hidden}-10 PR float32",
        "weights": args.weights, "m": args.m,
        "alpha": args.alpha, "tol": args.tol, "max_iter": args.max_iter, "lr": args.lr,
        "rounds": args.rounds,
        "torch_version": torch.__version__,
        "openblas": ob_info,
        "openblas_env_set": {v: os.environ[v] for v in set_vars},
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "forward_iterations_batch1000": fwd_iters,
        "train_forward_iterations": train_fwd_iters,
        "train_backward_iterations": train_bkwd_iters,
        "clamped_fraction": round(clamped, 4),
        "fixed_point_residual": fixed_point,
        "kkt_scaled_residual_max": kkt.max().item(),
        "kkt_scaled_residual_median": kkt.median().item(),
        "round_rates": {},
        "iterations_per_round": {},
    }
    for nt in threads:
        torch.set_num_threads(nt)
        openblas.set_threads(nt)
        for kind in ("train", "infer"):
            batch = args.train_batch if kind == "train" else args.infer_batch
            if kind == "train":
                model.train()
                step = make_train_step(model, batch, args.inputs, args.lr)
            else:
                model.eval()
                step = make_infer_step(model, batch, args.inputs)
            key = f"{kind}_batch{batch}_threads{nt}"
            med, rates, iters = measure(step, batch, args.rounds, args.seconds)
            result[key] = round(med, 1)
            result["round_rates"][key] = [round(r, 1) for r in rates]
            result["iterations_per_round"][key] = iters
            say(f"{key:28s} {med:12,.0f} samples/s  (rounds: " + ", ".join(f"{r:,.0f}" for r in rates)
                + f"; {iters} iterations each, torch threads {torch.get_num_threads()})")
    torch.set_num_threads(default_threads)
    result["loadavg_before"] = [round(x, 2) for x in load_before]
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    say(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
