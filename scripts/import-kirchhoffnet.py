#!/usr/bin/env python3
"""Import a trained KirchhoffNet checkpoint of the reference implementation
(github.com/zhengqigao/kirchhoffnet, src/main_image_classify.py) as a spicenn
model file (family kirchhoffnet, docs/model-format.md section 5.3).

    python3 scripts/import-kirchhoffnet.py [--reference DIR] -o model.xml

DIR holds the reference run: model.pth (the state dict torch.save wrote),
config.yaml (the run's configuration) and, optionally, metric.yaml (its test
metrics). The default DIR is ../shared/reference/kirchhoffnet-mnist next to
the repository. See docs/kirchhoffnet.md.

Needs only the Python standard library and python3-yaml: torch is not used.
model.pth is a zip archive whose data.pkl is unpickled with a restricted
Unpickler that rebuilds each tensor from the raw little-endian storage
(archive/data/<key>). The edge list of every time slice is rebuilt from the
config's topology (_mix_connect of src/utils/topology.py) in the reference's
order, which is also the order of the parameter columns: edge e of slice k
uses param[:, e] of circuit.layer_list.k.model.param.

Anything the importer does not understand (another topology, edge model,
projector, encoder, residual connection, fill, data set) is refused with a
message naming the config key.
"""

import argparse
import array
import collections
import io
import math
import os
import pickle
import re
import sys
import tempfile
import zipfile
from xml.sax.saxutils import escape, quoteattr

try:
    import yaml
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("import-kirchhoffnet: python3-yaml is missing (apt-get install python3-yaml; "
             "scripts/install-deps.sh installs it)")

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REFERENCE = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "reference", "kirchhoffnet-mnist"))

# The default <scale> of ir::init_kirchhoffnet (src/ir/init.cpp).
SCALE = {"volt": "1", "ampere": "1e-04", "ohm": "10000", "farad": "1e-09", "second": "1e-05"}

# Reference edge model -> (spicenn edge_function, parameter rows). Row r of
# param is theta r of the edge: ShiftRelu1 is param[1] * relu(v_s - v_d - param[0])
# and spicenn's shift_relu1 is theta1 * relu(v_s - v_d - theta0).
EDGE_MODELS = {"ShiftRelu1": ("shift_relu1", 2)}

# Inputs of the test benches the importer knows: (number of inputs, data name).
TEST_BENCHES = {"mnist": (784, "mnist")}


class ImportFailure(Exception):
    """A problem with the reference files; the message names the file and key."""


def fail(where, message):
    raise ImportFailure(f"{where}: {message}")


# ---------------------------------------------------------------- topology

def unfold_single(image, channels, rows, cols, k):
    """torch.nn.functional.unfold(image[None], kernel_size=k, stride=1, padding=0)[0]
    of a (channels, rows, cols) image: out[r][p] with r = (c*k + ky)*k + kx (the
    kernel offset, channel-major) and p = py*(cols-k+1) + px (the patch position,
    row-major), out[r][p] = image[c][py+ky][px+kx]."""
    prow, pcol = rows - k + 1, cols - k + 1
    out = []
    for c in range(channels):
        for ky in range(k):
            for kx in range(k):
                out.append([image[c][py + ky][px + kx] for py in range(prow) for px in range(pcol)])
    return out


def mix_connect(num_channel, width, height, neighbor_size, fully_connect_node, repeat, kernel_repeat):
    """The edge list (source, destination) of _mix_connect (padding=False,
    sharing=False, parallel=1), in the reference's order."""
    # torch.arange(1, 1 + C*W*H).reshape(C, W, H): node = flat index + 1.
    image = [[[1 + (c * width + y) * height + x for x in range(height)] for y in range(width)]
             for c in range(num_channel)]
    tmp = unfold_single(image, num_channel, width, height, neighbor_size)
    edges = []
    rows_, patches = len(tmp), len(tmp[0])
    for i in range(patches):
        for j in range(rows_):
            for k in range(rows_):
                if j != k and tmp[j][i] != 0 and tmp[k][i] != 0:
                    for _ in range(kernel_repeat):
                        edges.append((tmp[j][i], tmp[k][i]))
    max_node = max(max(s, d) for s, d in edges)
    for node in range(1, max_node + 1):
        edges.extend([(node, 0)] * repeat[0])
        edges.extend([(0, node)] * repeat[1])
    for node in range(max_node + 1, max_node + 1 + fully_connect_node):
        for i in range(max_node + 1):
            edges.extend([(i, node)] * repeat[0])
            edges.extend([(node, i)] * repeat[1])
    return edges


# ---------------------------------------------------------------- config

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def number(cfg_file, key, v):
    # YAML 1.1 (PyYAML) reads "1e-3" as a string; the reference applies float().
    try:
        if isinstance(v, bool):
            raise ValueError
        return float(v)
    except (TypeError, ValueError):
        fail(cfg_file, f"{key} = {v!r} is not a number")


def check_keys(cfg_file, key, d, known):
    if not isinstance(d, dict):
        fail(cfg_file, f"{key} must be a mapping, got {type(d).__name__}")
    unknown = sorted(set(d) - set(known))
    if unknown:
        fail(cfg_file, f"{key}: unsupported key{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))} "
                       f"(the importer understands: {', '.join(sorted(known))})")


def require(cfg_file, key, d, name):
    if name not in d:
        fail(cfg_file, f"missing key {key}.{name}" if key else f"missing key {name}")
    return d[name]


MIX_CONNECT_ARGS = {
    "num_channel": None, "width": None, "height": None, "neighbor_size": None, "fully_connect_node": None,
    "repeat": [1, 0], "padding": False, "kernel_repeat": 1, "sharing": False, "parallel": 1,
}


def read_topology(cfg_file, key, entry):
    check_keys(cfg_file, key, entry, ["name", "args"])
    name = require(cfg_file, key, entry, "name")
    if name != "_mix_connect":
        fail(cfg_file, f"{key}.name = {name!r} is not supported (only _mix_connect)")
    args = entry.get("args") or {}
    check_keys(cfg_file, f"{key}.args", args, MIX_CONNECT_ARGS)
    a = {}
    for n, default in MIX_CONNECT_ARGS.items():
        if n not in args and default is None:
            fail(cfg_file, f"missing key {key}.args.{n}")
        a[n] = args.get(n, default)
    for n in ("num_channel", "width", "height", "neighbor_size", "kernel_repeat"):
        if not is_int(a[n]) or a[n] < 1:
            fail(cfg_file, f"{key}.args.{n} = {a[n]!r} must be an integer >= 1")
    if not is_int(a["fully_connect_node"]) or a["fully_connect_node"] < 0:
        fail(cfg_file, f"{key}.args.fully_connect_node = {a['fully_connect_node']!r} must be an integer >= 0")
    r = a["repeat"]
    if not (isinstance(r, list) and len(r) == 2 and all(is_int(x) and x >= 0 for x in r)):
        fail(cfg_file, f"{key}.args.repeat = {r!r} must be a list of two integers >= 0")
    if a["neighbor_size"] > min(a["width"], a["height"]):
        fail(cfg_file, f"{key}.args.neighbor_size = {a['neighbor_size']} exceeds the image "
                       f"{a['width']}x{a['height']}")
    for n in ("padding", "sharing"):
        if a[n] is not False:
            fail(cfg_file, f"{key}.args.{n} = {a[n]!r} is not supported (only false)")
    if a["parallel"] != 1:
        fail(cfg_file, f"{key}.args.parallel = {a['parallel']!r} is not supported (only 1)")
    return {n: a[n] for n in ("num_channel", "width", "height", "neighbor_size", "fully_connect_node",
                              "repeat", "kernel_repeat")}


def read_config(cfg_file):
    try:
        with open(cfg_file, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
    except OSError as e:
        fail(cfg_file, f"cannot read: {e.strerror}")
    except yaml.YAMLError as e:
        fail(cfg_file, f"not valid YAML: {e}")
    check_keys(cfg_file, "the top level", cfg,
               ["batch_size", "network", "num_worker", "simulation", "test", "test_bench", "train"])

    bench = require(cfg_file, "", cfg, "test_bench")
    if bench not in TEST_BENCHES:
        fail(cfg_file, f"test_bench = {bench!r} is not supported (known: {', '.join(sorted(TEST_BENCHES))})")
    inputs, data = TEST_BENCHES[bench]

    net = require(cfg_file, "", cfg, "network")
    check_keys(cfg_file, "network", net,
               ["adjoint", "encoder", "fill", "initialization", "model", "net_struct", "projector", "residual"])
    encoder = net.get("encoder")
    if encoder not in (None, "none"):
        fail(cfg_file, f"network.encoder = {encoder!r} is not supported (only null: no encoder network)")
    residual = net.get("residual")
    if residual is not None:
        fail(cfg_file, f"network.residual = {residual!r} is not supported (only null)")
    fill = require(cfg_file, "network", net, "fill")
    if fill not in ("zeros", "zero"):
        fail(cfg_file, f"network.fill = {fill!r} is not supported (only zeros: non-input nodes start at 0)")

    model = require(cfg_file, "network", net, "model")
    check_keys(cfg_file, "network.model", model, ["name", "args"])
    mname = require(cfg_file, "network.model", model, "name")
    if mname not in EDGE_MODELS:
        fail(cfg_file, f"network.model.name = {mname!r} is not supported (known: {', '.join(sorted(EDGE_MODELS))})")
    if model.get("args"):
        fail(cfg_file, f"network.model.args = {model['args']!r} is not supported (only {{}})")

    structs = require(cfg_file, "network", net, "net_struct")
    if not isinstance(structs, list) or not structs:
        fail(cfg_file, "network.net_struct must be a non-empty list (one topology per time slice)")
    topologies = [read_topology(cfg_file, f"network.net_struct[{k}]", e) for k, e in enumerate(structs)]

    sim = require(cfg_file, "", cfg, "simulation")
    check_keys(cfg_file, "simulation", sim, ["first_step", "method", "min_step", "step_size", "t_end", "tol"])
    t_end = require(cfg_file, "simulation", sim, "t_end")
    if not isinstance(t_end, list):
        fail(cfg_file, "simulation.t_end must be a list of times")
    t_end = [number(cfg_file, f"simulation.t_end[{i}]", v) for i, v in enumerate(t_end)]
    if len(t_end) != len(topologies) + 1:
        fail(cfg_file, f"simulation.t_end has {len(t_end)} times but network.net_struct has {len(topologies)} "
                       f"slices (needs slices + 1 times)")
    durations = [b - a for a, b in zip(t_end, t_end[1:])]
    for k, d in enumerate(durations):
        if not (math.isfinite(d) and d > 0):
            fail(cfg_file, f"simulation.t_end must increase: slice {k} lasts {d!r}")
    settings = {"method": str(require(cfg_file, "simulation", sim, "method"))}
    for n in ("tol", "first_step", "min_step", "step_size"):
        if n in sim:
            settings[n] = number(cfg_file, f"simulation.{n}", sim[n])

    projector = require(cfg_file, "network", net, "projector")
    return {"inputs": inputs, "data": data, "bench": bench, "edge_model": mname, "topologies": topologies,
            "durations": durations, "t_end": t_end, "simulation": settings, "projector": projector,
            "adjoint": net.get("adjoint"), "fill": fill}


def output_nodes(cfg_file, projector, nodes):
    m = re.fullmatch(r"last(\d+)", str(projector))
    if m and 1 <= int(m.group(1)) <= nodes:
        n = int(m.group(1))
        return list(range(nodes - n + 1, nodes + 1))  # x[..., -n:]
    m = re.fullmatch(r"first(\d+)", str(projector))
    if m and 1 <= int(m.group(1)) <= nodes:
        return list(range(1, int(m.group(1)) + 1))  # x[..., :n]
    fail(cfg_file, f"network.projector = {projector!r} is not supported (only lastN or firstN with "
                   f"1 <= N <= {nodes} nodes)")


# ---------------------------------------------------------------- checkpoint

class Storage:
    def __init__(self, key, values):
        self.key, self.values = key, values


class Tensor:
    def __init__(self, storage, offset, shape, stride):
        self.storage, self.offset, self.shape, self.stride = storage, offset, tuple(shape), tuple(stride)

    def row(self, r):
        """Row r of a 2-d tensor as a list of Python floats."""
        base = self.offset + r * self.stride[0]
        s1 = self.stride[1]
        v = self.storage.values
        if s1 == 1:
            return v[base:base + self.shape[1]].tolist()
        return [v[base + e * s1] for e in range(self.shape[1])]


def load_state_dict(pth):
    """The state dict of a torch.save zip archive: name -> Tensor (float32 only)."""
    try:
        z = zipfile.ZipFile(pth)
    except OSError as e:
        fail(pth, f"cannot read: {e.strerror}")
    except zipfile.BadZipFile:
        fail(pth, "not a zip archive (a torch.save file of PyTorch >= 1.6 is one)")
    with z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            fail(pth, f"expected one <prefix>/data.pkl entry, found {len(pkl)}")
        prefix = pkl[0][: -len("data.pkl")]
        if prefix + "byteorder" in z.namelist():
            order = z.read(prefix + "byteorder").decode("ascii", "replace").strip()
            if order != "little":
                fail(pth, f"{prefix}byteorder is {order!r}; only little-endian storages are supported")
        storages = {}

        def load_storage(pid):
            if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
                fail(pth, f"unexpected persistent id {pid!r} in {pkl[0]}")
            _, kind, key, location, numel = pid
            if kind != "float32":
                fail(pth, f"storage {key} has type {kind}; only float32 (torch.FloatStorage) is supported")
            if key in storages:
                return storages[key]
            entry = f"{prefix}data/{key}"
            try:
                raw = z.read(entry)
            except KeyError:
                fail(pth, f"storage entry {entry} is missing")
            if len(raw) != 4 * numel:
                fail(pth, f"{entry} has {len(raw)} bytes but the pickle says {numel} float32 values "
                          f"({4 * numel} bytes)")
            values = array.array("f")
            if values.itemsize != 4:
                fail(pth, "this Python's array('f') is not 4 bytes")
            values.frombytes(raw)
            if sys.byteorder != "little":
                values.byteswap()
            storages[key] = Storage(key, values)
            return storages[key]

        def rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
            if not isinstance(storage, Storage):
                fail(pth, "a tensor without a storage")
            t = Tensor(storage, offset, size, stride)
            if len(t.shape) != len(t.stride):
                fail(pth, f"tensor on storage {storage.key}: shape {t.shape} and stride {t.stride} differ in rank")
            if t.shape and all(n > 0 for n in t.shape):
                last = offset + sum((n - 1) * s for n, s in zip(t.shape, t.stride))
                if offset < 0 or min(t.stride) < 0 or last >= len(storage.values):
                    fail(pth, f"tensor on storage {storage.key} (offset {offset}, shape {t.shape}, stride "
                              f"{t.stride}) reaches past its {len(storage.values)} values")
            return t

        allowed = {
            ("collections", "OrderedDict"): collections.OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
            ("torch", "FloatStorage"): "float32",
        }

        class Unpickler(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) in allowed:
                    return allowed[(module, name)]
                if module == "torch" and name.endswith("Storage"):
                    fail(pth, f"a tensor has type torch.{name}; only float32 (torch.FloatStorage) is supported")
                fail(pth, f"{pkl[0]} refers to {module}.{name}, which a plain state dict of tensors does not use")

            def persistent_load(self, pid):
                return load_storage(pid)

        try:
            state = Unpickler(io.BytesIO(z.read(pkl[0]))).load()
        except ImportFailure:
            raise
        except Exception as e:  # a truncated or foreign pickle
            fail(pth, f"cannot unpickle {pkl[0]}: {e}")
    if not isinstance(state, dict):
        fail(pth, f"{pkl[0]} holds a {type(state).__name__}, not a state dict")
    return state


def read_parameters(pth, slices, edges_per_slice, theta):
    state = load_state_dict(pth)
    want = [f"circuit.layer_list.{k}.model.param" for k in range(slices)]
    extra = sorted(set(state) - set(want))
    missing = [k for k in want if k not in state]
    if missing:
        fail(pth, f"missing tensor{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                  f"(config.yaml has {slices} slices)")
    if extra:
        fail(pth, f"unexpected tensor{'s' if len(extra) > 1 else ''} {', '.join(extra)} (expected only "
                  f"{', '.join(want)}: an encoder, projector or other parameters are not supported)")
    out = []
    for k, name in enumerate(want):
        t = state[name]
        if not isinstance(t, Tensor):
            fail(pth, f"{name} is a {type(t).__name__}, not a tensor")
        shape = (theta, edges_per_slice[k])
        if t.shape != shape:
            fail(pth, f"{name} has shape {list(t.shape)} but config.yaml's slice {k} needs {list(shape)} "
                      f"({theta} parameters x {edges_per_slice[k]} edges)")
        rows = [t.row(r) for r in range(theta)]
        for r, row in enumerate(rows):
            for e, v in enumerate(row):
                if not math.isfinite(v):
                    fail(pth, f"{name}[{r}, {e}] = {v!r} is not finite")
        out.append(rows)
    return out


def read_metrics(metric_file):
    if not os.path.exists(metric_file):
        return None
    try:
        with open(metric_file, encoding="utf-8") as f:
            m = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail(metric_file, f"cannot read: {e}")
    if not isinstance(m, dict):
        fail(metric_file, "must be a mapping of metric names to values")
    return m


# ---------------------------------------------------------------- writing

def fmt(v):
    """A float32 value (held exactly in a Python float) printed so that it
    reads back as exactly the same double: repr is the shortest round trip."""
    return repr(v)


def write_model(out, m):
    w = out.write
    w('<?xml version="1.0" encoding="UTF-8"?>\n')
    w('<model format_version="1" family="kirchhoffnet">\n  <sizes>\n')
    for n in ("inputs", "nodes", "outputs", "slices", "edges", "theta"):
        w(f'    <size name="{n}" value="{m["sizes"][n]}" />\n')
    w('  </sizes>\n  <options>\n')
    w(f'    <option name="edge_function" value="{m["edge_function"]}" />\n  </options>\n')
    w("  <scale " + " ".join(f'{k}="{v}"' for k, v in SCALE.items()) + " />\n")
    attrs = f' data={quoteattr(m["data"])}'
    if m["accuracy"] is not None:
        attrs += f' accuracy="{m["accuracy"]!r}"'
    attrs += f' created_by={quoteattr(m["created_by"])}'
    w(f'  <provenance{attrs}>\n    <notes>{escape(m["notes"])}</notes>\n  </provenance>\n')
    w('  <parameters>\n')
    nodes, outs = m["sizes"]["nodes"], m["output_nodes"]
    w(f'    <tensor name="capacitance" shape="{nodes}" constraint="nonnegative" trainable="false">\n')
    for i in range(0, nodes, 16):
        w("      " + " ".join(["1"] * min(16, nodes - i)) + "\n")
    w('    </tensor>\n')
    w(f'    <tensor name="output_nodes" shape="{len(outs)}" constraint="index" trainable="false">'
      f'{" ".join(map(str, outs))}</tensor>\n')
    for k, (edges, theta, duration) in enumerate(zip(m["edges"], m["theta"], m["durations"])):
        n, t = len(edges), len(theta)
        w(f'    <tensor name="slice{k}.edges" shape="{n} 2" constraint="index" trainable="false">\n')
        w("".join(f"      {s} {d}\n" for s, d in edges))
        w('    </tensor>\n')
        w(f'    <tensor name="slice{k}.theta" shape="{n} {t}" constraint="none" trainable="true">\n')
        cols = [[fmt(v) for v in row] for row in theta]
        w("".join("      " + " ".join(c[e] for c in cols) + "\n" for e in range(n)))
        w('    </tensor>\n')
        w(f'    <tensor name="slice{k}.duration" shape="" constraint="nonnegative" trainable="false">'
          f'{fmt(duration)}</tensor>\n')
    w('  </parameters>\n</model>\n')


def summary(name, values):
    neg = sum(1 for v in values if v < 0)
    zero = sum(1 for v in values if v == 0)
    return (f"{name}: min {min(values):.6g}, max {max(values):.6g}, mean {sum(values) / len(values):.6g}, "
            f"{neg} negative, {zero} zero of {len(values)}")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Import a trained KirchhoffNet of the reference implementation (model.pth, config.yaml, "
                    "metric.yaml) as a spicenn model file.")
    ap.add_argument("--reference", metavar="DIR", default=DEFAULT_REFERENCE,
                    help="directory with model.pth, config.yaml and optionally metric.yaml "
                         f"(default: {DEFAULT_REFERENCE})")
    ap.add_argument("-o", "--output", metavar="FILE", required=True, help="the spicenn model file to write")
    ap.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    args = ap.parse_args(argv)

    ref = args.reference
    pth, cfg_file, metric_file = (os.path.join(ref, n) for n in ("model.pth", "config.yaml", "metric.yaml"))
    try:
        if not os.path.isdir(ref):
            fail(ref, "no such directory (pass --reference DIR)")
        cfg = read_config(cfg_file)
        edges = [mix_connect(**t) for t in cfg["topologies"]]
        nodes = max(max(max(s, d) for s, d in e) for e in edges)
        for k, e in enumerate(edges):
            top = max(max(s, d) for s, d in e)
            if top != nodes:
                fail(cfg_file, f"network.net_struct[{k}] reaches node {top} but another slice reaches {nodes}; "
                               f"slices of different sizes are not supported")
        if len({len(e) for e in edges}) != 1:
            fail(cfg_file, "network.net_struct: the slices have different edge counts, which the spicenn "
                           "format (one 'edges' size) cannot hold: " + ", ".join(str(len(e)) for e in edges))
        if cfg["inputs"] > nodes:
            fail(cfg_file, f"test_bench {cfg['bench']} has {cfg['inputs']} inputs but the circuit has only "
                           f"{nodes} nodes")
        outs = output_nodes(cfg_file, cfg["projector"], nodes)
        fn, theta_count = EDGE_MODELS[cfg["edge_model"]]
        theta = read_parameters(pth, len(edges), [len(e) for e in edges], theta_count)
        metrics = read_metrics(metric_file)
        accuracy = None
        if metrics is not None and "top1" in metrics:
            accuracy = number(metric_file, "top1", metrics["top1"])
            if not 0 <= accuracy <= 1:
                fail(metric_file, f"top1 = {accuracy!r} is not in [0, 1]")
    except ImportFailure as e:
        print(f"import-kirchhoffnet: {e}", file=sys.stderr)
        return 1

    sim = cfg["simulation"]
    sim_text = ", ".join(f"{k} {v!r}" if not isinstance(v, str) else f"{k} {v}" for k, v in sim.items())
    notes = (
        f"Imported from the KirchhoffNet reference implementation (github.com/zhengqigao/kirchhoffnet): "
        f"checkpoint {os.path.abspath(pth)}, config {os.path.abspath(cfg_file)}"
        + (f", metrics {os.path.abspath(metric_file)} (top1 {metrics.get('top1')!r}"
           + (f", top5 {metrics['top5']!r}" if "top5" in metrics else "")
           + (f", test_loss {metrics['test_loss']!r}" if "test_loss" in metrics else "") + ")"
           if metrics is not None else "")
        + f". Test bench {cfg['bench']}: {cfg['inputs']} pixel values in [0, 1] (torchvision ToTensor, no "
        f"normalization) on nodes 1..{cfg['inputs']}, other nodes start at 0 (fill {cfg['fill']}). "
        f"Edge model {cfg['edge_model']} (param[1] * relu(v_s - v_d - param[0])) -> {fn}; theta row e = "
        f"[param[0, e], param[1, e]] of circuit.layer_list.k.model.param for slice k, float32 values printed "
        f"exactly. Topology per slice: "
        + "; ".join(f"_mix_connect({', '.join(f'{a}={v!r}' for a, v in t.items())})" for t in cfg["topologies"])
        + f". No capacitance in the reference (dv/dt = sum of currents in - out): capacitance 1. "
        f"t_end {cfg['t_end']!r} -> slice durations {cfg['durations']!r}. Projector {cfg['projector']} -> "
        f"output_nodes {outs[0]}..{outs[-1]}. Reference simulation (torchdiffeq"
        f"{', adjoint' if cfg['adjoint'] else ''}): {sim_text}"
        + (f" (rtol = atol = {sim['tol']!r})" if "tol" in sim else "") + "."
    )
    model = {
        "sizes": {"inputs": cfg["inputs"], "nodes": nodes, "outputs": len(outs), "slices": len(edges),
                  "edges": len(edges[0]), "theta": theta_count},
        "edge_function": fn, "data": cfg["data"], "accuracy": accuracy,
        "created_by": "scripts/import-kirchhoffnet.py --reference " + os.path.abspath(ref),
        "notes": notes, "output_nodes": outs, "edges": edges, "theta": theta, "durations": cfg["durations"],
    }

    out_dir = os.path.dirname(os.path.abspath(args.output))
    fd, tmp = tempfile.mkstemp(prefix=".import-kirchhoffnet.", suffix=".xml", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            write_model(f, model)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.output)
    except BaseException:
        os.unlink(tmp)
        raise

    if not args.quiet:
        print(f"import-kirchhoffnet: wrote {args.output}: {len(edges)} slices of {len(edges[0])} edges, "
              f"{nodes} nodes, inputs 1..{cfg['inputs']}, outputs {outs[0]}..{outs[-1]}, edge_function {fn}")
        for k, rows in enumerate(theta):
            for r, row in enumerate(rows):
                print(f"  slice{k} " + summary(f"theta{r}", row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
