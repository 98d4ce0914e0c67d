#!/usr/bin/env python3
"""Tests of scripts/import-kirchhoffnet.py (registered by tests/scripts/CMakeLists.txt).

    test_import_kirchhoffnet.py --importer PY --spicenn EXE --work DIR refuse
    test_import_kirchhoffnet.py --importer PY --spicenn EXE --work DIR --reference DIR reference

`refuse` needs nothing but the importer: it feeds it configs it must refuse
and a broken checkpoint, and checks the message names the config key or file.

`reference` imports the trained MNIST model of the reference implementation
(DIR/model.pth, config.yaml, metric.yaml; exit 77 = skipped when DIR/model.pth
is absent), loads the result with `spicenn info`, and checks it against facts
derived here without the importer's code: the edge list from a closed form of
the reference topology (_mix_connect of zhengqigao/kirchhoffnet
src/utils/topology.py) and theta straight from the raw float32 storages
archive/data/<k> of model.pth (theta0 of edge e at byte 4*e, theta1 at byte
4*(E + e)).
"""

import argparse
import array
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

SKIP = 77
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"FAIL: {what}")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# ---------------------------------------------------------------- refusals

BASE_CONFIG = """\
batch_size: 512
network:
  adjoint: true
  encoder: null
  fill: zeros
  initialization: kaiming
  model:
    args: {}
    name: ShiftRelu1
  net_struct:
  - args: {fully_connect_node: 50, height: 28, kernel_repeat: 1, neighbor_size: 4, num_channel: 1, repeat: [1, 1], width: 28}
    name: _mix_connect
  - args: {fully_connect_node: 50, height: 28, kernel_repeat: 1, neighbor_size: 4, num_channel: 1, repeat: [1, 1], width: 28}
    name: _mix_connect
  projector: last10
  residual: null
num_worker: 8
simulation: {first_step: 1e-2, method: dopri5, min_step: 1e-5, step_size: 1e-6, t_end: [0.0, 1.0, 2.0], tol: 1e-3}
test: {metric: [top1, top5]}
test_bench: mnist
train: {lr: 5e-4, num_epoch: 300, save_epoch: 1, scheduler: steplr_100_0.3}
"""

# (replace this, with this) in BASE_CONFIG -> a phrase the message must contain.
REFUSALS = [
    (("name: ShiftRelu1", "name: ShiftTanh1"), "network.model.name"),
    (("encoder: null", "encoder: [784, 100]"), "network.encoder"),
    (("residual: null", "residual: [0, 1]"), "network.residual"),
    (("fill: zeros", "fill: repeat"), "network.fill"),
    (("projector: last10", "projector: mlp_834_10"), "network.projector"),
    (("    name: _mix_connect\n  projector", "    name: _fully_connect\n  projector"), "network.net_struct[1].name"),
    (("width: 28}\n    name: _mix_connect\n  projector", "width: 28, sharing: true}\n    name: _mix_connect\n  projector"),
     "network.net_struct[1].args.sharing"),
    (("t_end: [0.0, 1.0, 2.0]", "t_end: [0.0, 1.0]"), "simulation.t_end"),
    (("test_bench: mnist", "test_bench: cifar10"), "test_bench"),
    (("  adjoint: true\n", "  adjoint: true\n  dropout: 0.1\n"), "network: unsupported key dropout"),
]


def test_refusals(args):
    work = os.path.join(args.work, "refuse")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = os.path.join(work, "out.xml")
    for (old, new), phrase in REFUSALS:
        check(old in BASE_CONFIG, f"test setup: {old!r} is in the base config")
        with open(os.path.join(work, "config.yaml"), "w") as f:
            f.write(BASE_CONFIG.replace(old, new, 1))
        r = run([sys.executable, args.importer, "--reference", work, "-o", out])
        check(r.returncode == 1, f"{phrase}: exit code {r.returncode} (want 1)")
        check(phrase in r.stderr and "config.yaml" in r.stderr,
              f"{phrase}: the message names the key and the file: {r.stderr.strip()!r}")
        check(not os.path.exists(out), f"{phrase}: no output written")

    # The base config is accepted; then the checkpoint is checked.
    with open(os.path.join(work, "config.yaml"), "w") as f:
        f.write(BASE_CONFIG)
    r = run([sys.executable, args.importer, "--reference", work, "-o", out])
    check(r.returncode == 1 and "model.pth: cannot read" in r.stderr,
          f"missing model.pth is reported: {r.stderr.strip()!r}")
    with zipfile.ZipFile(os.path.join(work, "model.pth"), "w") as z:
        z.writestr("archive/version", "3\n")
    r = run([sys.executable, args.importer, "--reference", work, "-o", out])
    check(r.returncode == 1 and "model.pth: expected one <prefix>/data.pkl" in r.stderr,
          f"a zip without data.pkl is reported: {r.stderr.strip()!r}")
    with open(os.path.join(work, "model.pth"), "wb") as f:
        f.write(b"not a zip")
    r = run([sys.executable, args.importer, "--reference", work, "-o", out])
    check(r.returncode == 1 and "model.pth: not a zip archive" in r.stderr,
          f"a non-zip model.pth is reported: {r.stderr.strip()!r}")


# ---------------------------------------------------------------- reference

W = 28            # image width = height
K = 4             # neighbor_size
P = W - K + 1     # 25 patch positions per axis
PIXELS = W * W    # 784
FC = 50           # fully_connect_node
PAIRS = K * K * (K * K - 1)          # 240 ordered pairs per patch
NEIGHBOR = P * P * PAIRS             # 150000
GROUND = 2 * PIXELS                  # 1568
E = NEIGHBOR + GROUND + FC * 2 * (PIXELS + 1)  # 230068


def expected_edge(e):
    """Edge e of one slice, in closed form (not the importer's loops)."""
    if e < NEIGHBOR:
        patch, r = divmod(e, PAIRS)
        j, kk = divmod(r, K * K - 1)
        k = kk if kk < j else kk + 1           # the 15 partners of j, skipping j
        py, px = divmod(patch, P)

        def node(off):
            return (py + off // K) * W + px + off % K + 1
        return node(j), node(k)
    e -= NEIGHBOR
    if e < GROUND:
        n = e // 2 + 1
        return (n, 0) if e % 2 == 0 else (0, n)
    e -= GROUND
    hub, r = divmod(e, 2 * (PIXELS + 1))
    i = r // 2
    hub += PIXELS + 1
    return (i, hub) if r % 2 == 0 else (hub, i)


def numbers(element, cast):
    return [cast(t) for t in element.text.split()]


def test_reference(args):
    pth = os.path.join(args.reference, "model.pth")
    if not os.path.isfile(pth):
        print(f"SKIP: the reference checkpoint {pth} is absent (set SPICENN_KIRCHHOFFNET_REFERENCE at "
              f"configure time to its directory)")
        return SKIP
    work = os.path.join(args.work, "reference")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = os.path.join(work, "kirchhoffnet-mnist.xml")
    r = run([sys.executable, args.importer, "--reference", args.reference, "-o", out])
    print(r.stdout, end="")
    if r.returncode != 0:
        print(r.stderr)
        check(False, f"importer exit code {r.returncode}")
        return 1

    r = run([args.spicenn, "info", out])
    check(r.returncode == 0, f"spicenn info loads the model: {r.stderr.strip()}")
    for line in ("size    edges        230068", "size    nodes        834", "size    inputs       784",
                 "size    outputs      10", "size    slices       2", "option  edge_function shift_relu1",
                 "920272 trainable values"):
        check(line in r.stdout, f"spicenn info shows {line!r}")

    root = ET.parse(out).getroot()
    check(root.get("family") == "kirchhoffnet", "family kirchhoffnet")
    sizes = {s.get("name"): int(s.get("value")) for s in root.find("sizes")}
    check(sizes == {"inputs": 784, "nodes": 834, "outputs": 10, "slices": 2, "edges": E, "theta": 2},
          f"sizes {sizes}")
    prov = root.find("provenance")
    check(prov.get("accuracy") == "0.9942" and prov.get("data") == "mnist", "provenance accuracy and data")
    notes = prov.find("notes").text
    for phrase in ("dopri5", "rtol = atol = 0.001", "first_step 0.01", "model.pth"):
        check(phrase in notes, f"notes mention {phrase!r}")
    t = {x.get("name"): x for x in root.find("parameters")}
    check(numbers(t["capacitance"], float) == [1.0] * 834, "capacitance 1 for every node")
    check(numbers(t["output_nodes"], int) == list(range(825, 835)), "output_nodes 825..834")

    hand = {0: (1, 2), 1: (1, 3), 2: (1, 4), 3: (1, 29), 14: (1, 88), 15: (2, 1), 16: (2, 3), 240: (2, 3),
            6000: (29, 30), 149760: (697, 698), 149999: (784, 783), 150000: (1, 0), 150001: (0, 1),
            150002: (2, 0), 151567: (0, 784), 151568: (0, 785), 151569: (785, 0), 151570: (1, 785),
            153136: (784, 785), 153137: (785, 784), 153138: (0, 786), 230066: (784, 834), 230067: (834, 784)}
    with zipfile.ZipFile(pth) as z:
        raw = [z.read(f"archive/data/{k}") for k in range(2)]
    for k in range(2):
        check(len(raw[k]) == 4 * 2 * E, f"archive/data/{k} holds 2 x {E} float32")
        edges = numbers(t[f"slice{k}.edges"], int)
        check(len(edges) == 2 * E, f"slice{k}: {E} edges")
        pairs = list(zip(edges[0::2], edges[1::2]))
        for e, want in hand.items():
            check(pairs[e] == want, f"slice{k} edge {e} is {pairs[e]} (want {want})")
        wrong = [e for e in range(E) if pairs[e] != expected_edge(e)]
        check(not wrong, f"slice{k}: {len(wrong)} edges differ from the closed form, first {wrong[:5]}")
        theta = numbers(t[f"slice{k}.theta"], float)
        for e in (0, 1, 2, 12345, 149999, 150000, 151568, 200000, E - 1):
            t0 = struct.unpack_from("<f", raw[k], 4 * e)[0]
            t1 = struct.unpack_from("<f", raw[k], 4 * (E + e))[0]
            check(theta[2 * e] == t0 and theta[2 * e + 1] == t1,
                  f"slice{k} edge {e}: theta {theta[2 * e:2 * e + 2]} (want exactly [{t0!r}, {t1!r}])")
        v = array.array("f")
        v.frombytes(raw[k])
        if sys.byteorder != "little":
            v.byteswap()
        check(theta[0::2] == v[:E].tolist() and theta[1::2] == v[E:].tolist(),
              f"slice{k}: every theta equals the raw storage exactly")
        check(float(t[f"slice{k}.duration"].text) == 1.0, f"slice{k}: duration 1")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--importer", required=True)
    ap.add_argument("--spicenn", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--reference")
    ap.add_argument("mode", choices=["refuse", "reference"])
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    if args.mode == "refuse":
        rc = test_refusals(args)
    else:
        if not args.reference:
            ap.error("reference needs --reference DIR")
        rc = test_reference(args)
    if rc == SKIP:
        return SKIP
    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
