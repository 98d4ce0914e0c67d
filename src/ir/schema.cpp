#include "ir/schema.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/numbers.hpp"
#include "devices/device.hpp"
#include "devices/fit.hpp"
#include "devices/library_writer.hpp"
#include "ir/edge_functions.hpp"
#include "ir/names.hpp"

namespace spicenn::ir {

namespace {

constexpr std::int64_t max_width = (std::int64_t{1} << 31) - 1;
constexpr std::int64_t max_depth = 4096;      // stages, layers
constexpr std::int64_t max_slices = 65536;
constexpr std::int64_t max_bases = 64;

const std::vector<std::string> mon_diodes = {"pwl_diode", "ideal_diode", "shockley_diode"};
const std::vector<std::string> kan_bases = {"a21", "z21", "z15", "zaz21", "esaki", "rtd"};

std::string join_names(const std::vector<std::string>& names, std::size_t limit = 30) {
  if (names.empty()) return "none";
  if (names.size() <= limit) return fmt::format("{}", fmt::join(names, ", "));
  std::vector<std::string> head(names.begin(), names.begin() + static_cast<std::ptrdiff_t>(limit));
  return fmt::format("{}, ... ({} in all)", fmt::join(head, ", "), names.size());
}

// "[i j k]" for the flat index of a value in a tensor of the given shape.
std::string index_string(std::size_t flat, const std::vector<std::size_t>& shape) {
  if (shape.empty()) return "[]";
  std::vector<std::size_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return fmt::format("[{}]", fmt::join(idx, " "));
}

struct checker {
  const source_context* where = nullptr;

  [[noreturn]] void fail(const std::string& path, const std::string& what,
                         std::optional<std::size_t> value_index = std::nullopt) const {
    source_location loc;
    if (where) {
      loc.file = where->file;
      if (where->line_of) loc.line = where->line_of(path, value_index);
    }
    throw validation_error(std::move(loc), path, what);
  }
};

std::int64_t get_size(const std::map<std::string, std::int64_t>& sizes, const std::string& name) {
  return sizes.at(name);
}

std::vector<size_spec> base_sizes(family f) {
  switch (f) {
    case family::mon:
      return {{"inputs", 1, max_width, "number of inputs x_k (each also presented inverted, -x_k)"},
              {"hidden", 1, max_width, "hidden nodes per stage"},
              {"outputs", 1, max_width, "readout outputs"},
              {"stages", 1, max_depth, "cascaded resistor-diode stages"}};
    case family::kan:
      return {{"layers", 1, max_depth, "number of KAN layers L"},
              {"bases", 1, max_bases, "basis devices per edge D"}};
    case family::kirchhoffnet:
      return {{"inputs", 1, max_width, "input nodes 1..inputs (initial voltages)"},
              {"nodes", 1, max_width, "circuit nodes 1..nodes over ground 0"},
              {"outputs", 1, max_width, "output nodes 1..outputs (voltages at the end)"},
              {"slices", 1, max_slices, "time slices (depth)"},
              {"edges", 1, max_width, "edges per slice"},
              {"theta", 1, 16, "parameters per edge (fixed by edge_function)"}};
  }
  SPICENN_ASSERT(false, "unknown family");
}

bool is_width_name(std::string_view name) {
  if (name.size() <= 5 || name.substr(0, 5) != "width") return false;
  return std::all_of(name.begin() + 5, name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<size_spec> checked_sizes(family f, const std::map<std::string, std::int64_t>& sizes,
                                     const checker& ck) {
  auto specs = base_sizes(f);
  auto spec_names = [&] {
    std::vector<std::string> names;
    for (const auto& s : specs) names.push_back(s.name);
    if (f == family::kan) names.push_back("width0..widthL");
    return names;
  };
  for (const auto& [name, value] : sizes) {
    if (auto problem = identifier_problem(name); !problem.empty())
      ck.fail(size_path(name), fmt::format("size name {} {}", display_quoted(name), problem));
    bool known = std::any_of(specs.begin(), specs.end(), [&name = name](const size_spec& s) { return s.name == name; }) ||
                 (f == family::kan && is_width_name(name));
    if (!known)
      ck.fail(size_path(name), fmt::format("unknown size '{}' for family {}; expected: {}", name, to_string(f),
                                           join_names(spec_names())));
  }
  auto check_one = [&](const size_spec& s) {
    auto it = sizes.find(s.name);
    if (it == sizes.end())
      ck.fail("/model/sizes", fmt::format("missing size '{}' ({}); family {} needs: {}", s.name, s.meaning,
                                          to_string(f), join_names(spec_names())));
    if (it->second < s.min || it->second > s.max)
      ck.fail(size_path(s.name), fmt::format("{} = {} is out of range: must be in {}..{}", s.name, it->second,
                                             s.min, s.max));
  };
  for (const auto& s : specs) check_one(s);
  if (f == family::kan) {
    std::int64_t layers = get_size(sizes, "layers");
    for (std::int64_t l = 0; l <= layers; ++l) {
      size_spec s{fmt::format("width{}", l), 1, max_width,
                  l == 0 ? "inputs of the network" : (l == layers ? "outputs of the network" : "hidden width")};
      check_one(s);
      specs.push_back(std::move(s));
    }
    for (const auto& [name, value] : sizes)
      if (is_width_name(name) && std::none_of(specs.begin(), specs.end(), [&name = name](const size_spec& s) { return s.name == name; }))
        ck.fail(size_path(name), fmt::format("unknown size '{}': layers = {} uses width0..width{}", name, layers,
                                             layers));
  }
  if (f == family::kirchhoffnet) {
    auto nodes = get_size(sizes, "nodes");
    for (const char* io : {"inputs", "outputs"})
      if (get_size(sizes, io) > nodes)
        ck.fail(size_path(io), fmt::format("{} = {} exceeds nodes = {} ({} are nodes 1..{})", io,
                                           get_size(sizes, io), nodes, io, io));
  }
  return specs;
}

std::vector<option_spec> option_specs(family f) {
  switch (f) {
    case family::mon:
      return {{"diode", {"ideal", "shockley", "device"},
               "diode law of the software model: ideal (ReLU), shockley, or device (the diode device's own I-V curve)"}};
    case family::kan: return {};
    case family::kirchhoffnet: {
      option_spec s{"edge_function", {}, "current f(v_s, v_d; theta) of every edge"};
      s.values = edge_function_names();
      return {s};
    }
  }
  SPICENN_ASSERT(false, "unknown family");
}

family_schema build_schema(family f, const std::map<std::string, std::int64_t>& sizes, const checker& ck) {
  family_schema s;
  s.kind = f;
  s.sizes = checked_sizes(f, sizes, ck);
  s.options = option_specs(f);
  auto n = [&](const char* name) { return static_cast<std::size_t>(get_size(sizes, name)); };
  switch (f) {
    case family::mon: {
      std::size_t hidden = n("hidden");
      s.devices.push_back({"diode", mon_diodes, "diode from ground to every hidden node (anode at ground)"});
      for (std::size_t st = 0; st < n("stages"); ++st) {
        std::size_t in = st == 0 ? n("inputs") : hidden;
        const char* in_doc = st == 0 ? "inputs" : "hidden";
        auto p = [&](const char* t) { return fmt::format("stage{}.{}", st, t); };
        s.tensors.push_back({p("g_between"), {hidden, hidden}, "[hidden hidden]", constraint::symmetric_nonnegative,
                             true, "conductance between hidden nodes j and k (symmetric, zero diagonal)"});
        s.tensors.push_back({p("g_ground"), {hidden}, "[hidden]", constraint::nonnegative, true,
                             "conductance from each hidden node to ground"});
        s.tensors.push_back({p("h_pos"), {hidden, in}, fmt::format("[hidden {}]", in_doc), constraint::nonnegative,
                             true, "conductance from input +x_k to hidden node j"});
        s.tensors.push_back({p("h_neg"), {hidden, in}, fmt::format("[hidden {}]", in_doc), constraint::nonnegative,
                             true, "conductance from inverted input -x_k to hidden node j"});
        s.tensors.push_back({p("bias"), {hidden}, "[hidden]", constraint::none, true,
                             "bias current into each hidden node"});
      }
      s.tensors.push_back({"readout.weight", {n("outputs"), hidden}, "[outputs hidden]", constraint::none, true,
                           "readout y = C v + e: C"});
      s.tensors.push_back({"readout.bias", {n("outputs")}, "[outputs]", constraint::none, true, "readout: e"});
      break;
    }
    case family::kan: {
      std::size_t bases = n("bases");
      for (std::size_t d = 0; d < bases; ++d)
        s.devices.push_back({fmt::format("basis{}", d), kan_bases, fmt::format("basis device B_{}", d)});
      const std::size_t layers = n("layers");
      for (std::size_t l = 0; l < layers; ++l) {
        auto w_in = static_cast<std::size_t>(get_size(sizes, fmt::format("width{}", l)));
        auto w_out = static_cast<std::size_t>(get_size(sizes, fmt::format("width{}", l + 1)));
        auto p = [&](const char* t) { return fmt::format("layer{}.{}", l, t); };
        const std::string coef_doc = fmt::format("[width{} width{} bases]", l, l + 1);
        const std::string out_doc = fmt::format("[width{}]", l + 1);
        s.tensors.push_back({p("coef"), {w_in, w_out, bases}, coef_doc, constraint::none, true,
                             "c[i,o,d]: weight of basis d of input i in output o"});
        s.tensors.push_back({p("bias"), {w_out}, out_doc, constraint::none, true, "beta_o: output bias"});
        s.tensors.push_back({p("basis_gain"), {bases}, "[bases]", constraint::none, false,
                             "a_d: device voltage = a_d x + b_d (fixed: maps the input range onto the window)"});
        s.tensors.push_back({p("basis_offset"), {bases}, "[bases]", constraint::none, false,
                             "b_d: device voltage = a_d x + b_d (fixed)"});
        s.tensors.push_back({p("coef_mismatch"), {w_in, w_out, bases}, coef_doc, constraint::none, false,
                             "optional fixed multiplicative variation m: the circuit realises c*m (a fabricated chip)",
                             false});
        if (l + 1 < layers) {
          s.tensors.push_back({p("bn_weight"), {w_out}, out_doc, constraint::none, true,
                               "optional batch normalization after this layer: gamma", false});
          s.tensors.push_back({p("bn_bias"), {w_out}, out_doc, constraint::none, true,
                               "optional batch normalization: beta", false});
          s.tensors.push_back({p("bn_mean"), {w_out}, out_doc, constraint::none, false,
                               "optional batch normalization: running mean", false});
          s.tensors.push_back({p("bn_var"), {w_out}, out_doc, constraint::nonnegative, false,
                               "optional batch normalization: running variance", false});
        }
      }
      s.tensors.push_back({"hidden_clamp", {2}, "[2]", constraint::none, false,
                           "lo, hi: hidden activations are clamped to [lo, hi]"});
      break;
    }
    case family::kirchhoffnet: {
      std::size_t edges = n("edges");
      s.tensors.push_back({"capacitance", {n("nodes")}, "[nodes]", constraint::nonnegative, false,
                           "capacitance from each node 1..nodes to ground (must be > 0)"});
      s.tensors.push_back({"output_nodes", {n("outputs")}, "[outputs]", constraint::index, false,
                           "optional: the nodes whose final voltages are the outputs (default 1..outputs)", false});
      for (std::size_t k = 0; k < n("slices"); ++k) {
        auto p = [&](const char* t) { return fmt::format("slice{}.{}", k, t); };
        s.tensors.push_back({p("edges"), {edges, 2}, "[edges 2]", constraint::index, false,
                             "source and destination node of each edge (0 = ground)"});
        s.tensors.push_back({p("theta"), {edges, n("theta")}, "[edges theta]", constraint::none, true,
                             "edge function parameters"});
        s.tensors.push_back({p("duration"), {}, "[]", constraint::nonnegative, false, "length of the slice"});
      }
      break;
    }
  }
  return s;
}

void check_options(const model& m, const family_schema& s, const checker& ck) {
  auto spec_names = [&] {
    std::vector<std::string> names;
    for (const auto& o : s.options) names.push_back(o.name);
    return names;
  };
  for (const auto& [name, value] : m.options) {
    if (auto problem = identifier_problem(name); !problem.empty())
      ck.fail(option_path(name), fmt::format("option name {} {}", display_quoted(name), problem));
    auto it = std::find_if(s.options.begin(), s.options.end(), [&name = name](const option_spec& o) { return o.name == name; });
    if (it == s.options.end())
      ck.fail(option_path(name), fmt::format("unknown option '{}' for family {}; expected: {}", name,
                                             to_string(m.kind), join_names(spec_names())));
    if (auto problem = identifier_problem(value); !problem.empty())
      ck.fail(option_path(name), fmt::format("option value {} {}", display_quoted(value), problem));
    if (std::find(it->values.begin(), it->values.end(), value) == it->values.end())
      ck.fail(option_path(name), fmt::format("unknown value '{}' for option {}; expected one of: {}", value, name,
                                             join_names(it->values)));
  }
  for (const auto& o : s.options)
    if (!m.options.count(o.name))
      ck.fail("/model/options", fmt::format("missing option '{}' ({}); one of: {}", o.name, o.meaning,
                                            join_names(o.values)));
  if (m.kind == family::kirchhoffnet) {
    const auto& fn = m.options.at("edge_function");
    auto want = kirchhoff_theta_count(fn);
    if (static_cast<std::size_t>(m.sizes.at("theta")) != want)
      ck.fail(size_path("theta"), fmt::format("theta = {} but edge_function {} takes {} parameter{} per edge",
                                              m.sizes.at("theta"), fn, want, want == 1 ? "" : "s"));
  }
}

void check_scale(const model& m, const checker& ck) {
  const auto& sc = m.scale;
  std::pair<const char*, double> all[] = {
      {"volt", sc.volt}, {"ampere", sc.ampere}, {"ohm", sc.ohm}, {"farad", sc.farad}, {"second", sc.second}};
  for (auto [name, v] : all)
    if (!std::isfinite(v) || !(v > 0))
      ck.fail("/model/scale", fmt::format("{} = {} must be a finite number > 0", name, format_double(v)));
  auto close = [](double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); };
  if (!close(sc.ohm, sc.volt / sc.ampere))
    ck.fail("/model/scale", fmt::format("ohm = {} but volt/ampere = {} (must agree to 1e-9 relative)",
                                        format_double(sc.ohm), format_double(sc.volt / sc.ampere)));
  if (!close(sc.second, sc.farad * sc.ohm))
    ck.fail("/model/scale", fmt::format("second = {} but farad*ohm = {} (must agree to 1e-9 relative)",
                                        format_double(sc.second), format_double(sc.farad * sc.ohm)));
}

// A MON diode from a library file. Libraries written by `spicenn fit-device`
// carry their law: the software model must use it (option diode = device),
// and it must be monotone over the voltages it defines (fitted devices hold
// their end values outside their data window). Another SPICE library is
// simulated as it is; with no law to read, only diode = ideal can describe
// it (and verify has no reference for it).
void check_library_diode(const std::filesystem::path& file, const std::string& name, const std::string& law,
                         const std::string& path, const checker& ck) {
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.find(devices::fit_line_prefix) == std::string::npos) {
    if (law != "ideal")
      ck.fail(path, fmt::format("option diode = {} needs the law of device '{}', but its library {} was not written by "
                                "`spicenn fit-device` and carries none; only diode = ideal can describe it",
                                law, name, file.string()));
    return;
  }
  if (law != "device")
    ck.fail(path, fmt::format("device '{}' ({}) has its own I-V law, but option diode = {} would model it as {} in "
                              "software; set option diode = device (spicenn set-diode --diode device)",
                              name, file.string(), law, law == "ideal" ? "the ideal clamp" : "a Shockley diode"));
  const auto dev = devices::load_fitted_device(file);  // throws parse_error naming file:line
  const auto w = dev.window().value_or(devices::voltage_window{-1.0, 1.0});
  if (const auto bad = devices::first_negative_slope(dev, w.lo, w.hi))
    ck.fail(path, fmt::format("device '{}' ({}) is not monotone: its slope dI/dV turns negative at {} V ({} S, beyond "
                              "1e-4 of its largest slope); a MON needs a monotone diode (a falling branch breaks the "
                              "uniqueness of its equilibrium)",
                              name, file.string(), fmt::format("{:.4g}", bad->volts), fmt::format("{:.3g}", bad->siemens)));
}

void check_devices(const model& m, const family_schema& s, const checker& ck) {
  const auto& registry = devices::builtin_devices();
  auto roles = [&] {
    std::vector<std::string> names;
    for (const auto& d : s.devices) names.push_back(d.role);
    return names;
  };
  std::set<std::string> seen;
  std::map<std::string, std::string> library_of_name;
  for (const auto& d : m.devices) {
    if (auto problem = identifier_problem(d.role); !problem.empty())
      ck.fail(device_path(d.role), fmt::format("device role {} {}", display_quoted(d.role), problem));
    const std::string path = device_path(d.role);
    auto spec = std::find_if(s.devices.begin(), s.devices.end(), [&](const device_spec& x) { return x.role == d.role; });
    if (spec == s.devices.end())
      ck.fail(path, fmt::format("unknown device role '{}' for family {}; expected roles: {}", d.role,
                                to_string(m.kind), join_names(roles())));
    if (!seen.insert(d.role).second) ck.fail(path, fmt::format("device role '{}' is given twice", d.role));
    if (auto problem = identifier_problem(d.name); !problem.empty())
      ck.fail(path, fmt::format("device name {} {}", display_quoted(d.name), problem));
    if (d.library.empty()) {
      if (!registry.contains(d.name))
        ck.fail(path, fmt::format("unknown device '{}': not a builtin device (builtins: {}) and no library= "
                                  "file given",
                                  d.name, join_names(registry.names())));
      if (std::find(spec->builtins.begin(), spec->builtins.end(), d.name) == spec->builtins.end())
        ck.fail(path, fmt::format("builtin device '{}' cannot serve as {} ({}); allowed builtins: {}", d.name,
                                  d.role, spec->meaning, join_names(spec->builtins)));
      if (m.kind == family::mon && m.options.count("diode") && m.options.at("diode") != "device") {
        // ideal: a device that realises the clamp (piecewise-linear or the
        // N = 0.001 exponential); shockley: the Shockley diode; device: any
        // MON diode (its own curve).
        const std::string& law = m.options.at("diode");
        const std::vector<std::string> allowed =
            law == "ideal" ? std::vector<std::string>{"pwl_diode", "ideal_diode"} : std::vector<std::string>{"shockley_diode"};
        if (std::find(allowed.begin(), allowed.end(), d.name) == allowed.end())
          ck.fail(path, fmt::format("option diode = {} needs the builtin device {}, not {} (option diode = device "
                                    "takes the law of any MON diode)",
                                    law, fmt::join(allowed, " or "), d.name));
      }
    } else {
      if (!is_safe_library_path(d.library))
        ck.fail(path, fmt::format("library path {} is not allowed: use only A-Z a-z 0-9 _ . / + - "
                                  "(no blanks or quotes), at most {} characters",
                                  display_quoted(d.library), max_library_path_length));
      if (registry.contains(d.name))
        ck.fail(path, fmt::format("device '{}' from library {} has the name of a builtin device; give the "
                                  "fitted device another name",
                                  d.name, d.library));
      auto file = library_path(m, d);
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec))
        ck.fail(path, fmt::format("library file {} of device '{}' does not exist{}", file.string(), d.name,
                                  std::filesystem::path(d.library).is_relative()
                                      ? " (relative paths resolve against the model file's directory)"
                                      : ""));
      else if (m.kind == family::mon && d.role == "diode" && m.options.count("diode"))
        check_library_diode(file, d.name, m.options.at("diode"), path, ck);
    }
    auto [it, fresh] = library_of_name.emplace(d.name, d.library);
    if (!fresh && it->second != d.library)
      ck.fail(path, fmt::format("device name '{}' is used with two different libraries ('{}' and '{}')", d.name,
                                it->second, d.library));
  }
  for (const auto& spec : s.devices)
    if (!seen.count(spec.role))
      ck.fail("/model/devices", fmt::format("missing device for role '{}' ({}); builtins: {} or a library device",
                                            spec.role, spec.meaning, join_names(spec.builtins)));
}

void check_values(const tensor& t, const std::string& path, const checker& ck) {
  for (std::size_t i = 0; i < t.values.size(); ++i) {
    double v = t.values[i];
    if (!std::isfinite(v))
      ck.fail(path, fmt::format("value {} at {} is not finite", format_double(v), index_string(i, t.shape)), i);
    switch (t.kind) {
      case constraint::none: break;
      case constraint::nonnegative:
      case constraint::symmetric_nonnegative:
        if (v < 0)
          ck.fail(path, fmt::format("value {} at {} is negative; a {} tensor (conductance) must be >= 0",
                                    format_double(v), index_string(i, t.shape), to_string(t.kind)),
                  i);
        break;
      case constraint::index:
        if (v < 0 || v != std::floor(v))
          ck.fail(path, fmt::format("value {} at {} is not an index (a nonnegative integer)", format_double(v),
                                    index_string(i, t.shape)),
                  i);
        break;
    }
  }
  if (t.kind == constraint::symmetric_nonnegative) {
    if (t.shape.size() != 2 || t.shape[0] != t.shape[1])
      ck.fail(path, fmt::format("shape {} is not square", shape_to_string(t.shape)));
    std::size_t n = t.shape[0];
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j <= i; ++j) {
        double v = t.values[i * n + j];
        if (i == j && v != 0)
          ck.fail(path, fmt::format("diagonal value {} at [{} {}] must be 0 (no conductance from a node to itself)",
                                    format_double(v), i, i),
                  i * n + j);
        if (i != j && v != t.values[j * n + i])
          ck.fail(path, fmt::format("not symmetric: value {} at [{} {}] differs from {} at [{} {}]", format_double(v),
                                    i, j, format_double(t.values[j * n + i]), j, i),
                  i * n + j);
      }
  }
}

void check_family_rules(const model& m, const checker& ck) {
  if (m.kind == family::kan) {
    const auto& c = m.parameter("hidden_clamp");
    if (!(c.values[0] < c.values[1]))
      ck.fail(tensor_path(c.name), fmt::format("lo = {} must be < hi = {}", format_double(c.values[0]),
                                               format_double(c.values[1])),
              1);
  }
  if (m.kind == family::kirchhoffnet) {
    const auto& c = m.parameter("capacitance");
    for (std::size_t i = 0; i < c.values.size(); ++i)
      if (!(c.values[i] > 0))
        ck.fail(tensor_path(c.name), fmt::format("value {} at [{}] must be > 0 (node {} would have no dynamics)",
                                                 format_double(c.values[i]), i, i + 1),
                i);
    auto nodes = m.sizes.at("nodes");
    if (const auto* out = m.find_parameter("output_nodes")) {
      std::set<double> seen;
      for (std::size_t i = 0; i < out->values.size(); ++i) {
        double v = out->values[i];
        if (v < 1 || v > static_cast<double>(nodes))
          ck.fail(tensor_path(out->name),
                  fmt::format("node {} at [{}] is out of range: outputs are nodes 1..{}", format_double(v), i, nodes), i);
        if (!seen.insert(v).second)
          ck.fail(tensor_path(out->name), fmt::format("node {} at [{}] is listed twice", format_double(v), i), i);
      }
    }
    for (std::int64_t k = 0; k < m.sizes.at("slices"); ++k) {
      const auto& e = m.parameter(fmt::format("slice{}.edges", k));
      for (std::size_t i = 0; i < e.values.size(); ++i)
        if (e.values[i] > static_cast<double>(nodes))
          ck.fail(tensor_path(e.name), fmt::format("node {} at {} is out of range: nodes are 0 (ground)..{}",
                                                   format_double(e.values[i]), index_string(i, e.shape), nodes),
                  i);
      for (std::size_t r = 0; r < e.shape[0]; ++r)
        if (e.values[2 * r] == e.values[2 * r + 1])
          ck.fail(tensor_path(e.name),
                  fmt::format("edge {} goes from node {} to itself (source and destination must differ)", r,
                              format_double(e.values[2 * r])),
                  2 * r);
    }
  }
}

void check_tensors(const model& m, const family_schema& s, const checker& ck) {
  std::map<std::string, const tensor_spec*> specs;
  for (const auto& t : s.tensors) specs.emplace(t.name, &t);
  std::set<std::string> seen;
  for (const auto& t : m.parameters) {
    const std::string path = tensor_path(t.name);
    if (auto problem = identifier_problem(t.name); !problem.empty())
      ck.fail(path, fmt::format("tensor name {} {}", display_quoted(t.name), problem));
    if (!seen.insert(t.name).second) ck.fail(path, fmt::format("tensor '{}' is given twice", t.name));
    auto it = specs.find(t.name);
    if (it == specs.end()) {
      std::vector<std::string> names;
      for (const auto& x : s.tensors) names.push_back(x.name);
      ck.fail(path, fmt::format("unknown tensor '{}' for this {} model; expected tensors: {}", t.name,
                                to_string(m.kind), join_names(names)));
    }
    const tensor_spec& spec = *it->second;
    if (t.shape != spec.shape)
      ck.fail(path, fmt::format("shape {} does not match the schema: expected {} = {}", shape_to_string(t.shape),
                                spec.shape_doc, shape_to_string(spec.shape)));
    if (t.kind != spec.kind)
      ck.fail(path, fmt::format("constraint {} does not match the schema: expected {}", to_string(t.kind),
                                to_string(spec.kind)));
    if (t.trainable && !spec.trainable)
      ck.fail(path, "is marked trainable but the schema fixes it (structure or hyper-parameter): "
                    "set trainable=\"false\"");
    if (t.values.size() != shape_size(t.shape))
      ck.fail(path, fmt::format("has {} values but shape {} needs {}", t.values.size(), shape_to_string(t.shape),
                                shape_size(t.shape)));
    check_values(t, path, ck);
  }
  for (const auto& spec : s.tensors)
    if (spec.required && !seen.count(spec.name))
      ck.fail("/model/parameters", fmt::format("missing tensor '{}' (shape {} = {}, constraint {}: {})", spec.name,
                                               spec.shape_doc, shape_to_string(spec.shape), to_string(spec.kind),
                                               spec.meaning));
  check_family_rules(m, ck);
}

void check_provenance(const model& m, const checker& ck) {
  if (auto a = m.origin.accuracy; a && !(std::isfinite(*a) && *a >= 0 && *a <= 1))
    ck.fail("/model/provenance", fmt::format("accuracy = {} must be in [0, 1]", format_double(*a)));
}

void validate_with(const model& m, const checker& ck) {
  family_schema s = build_schema(m.kind, m.sizes, ck);
  check_options(m, s, ck);
  check_scale(m, ck);
  check_devices(m, s, ck);
  check_tensors(m, s, ck);
  check_provenance(m, ck);
}

}  // namespace

std::size_t kirchhoff_theta_count(std::string_view edge_function) {
  return find_edge_function(edge_function).theta_count;
}

std::vector<std::size_t> kirchhoff_output_nodes(const model& m) {
  std::vector<std::size_t> nodes;
  if (const auto* listed = m.find_parameter("output_nodes"))
    for (double v : listed->values) nodes.push_back(static_cast<std::size_t>(v));
  else
    for (std::int64_t o = 1; o <= m.sizes.at("outputs"); ++o) nodes.push_back(static_cast<std::size_t>(o));
  return nodes;
}

family_schema schema_for(family f, const std::map<std::string, std::int64_t>& sizes) {
  return build_schema(f, sizes, checker{});
}

family_schema schema_for(const model& m) {
  checker ck;
  family_schema s = build_schema(m.kind, m.sizes, ck);
  check_options(m, s, ck);
  return s;
}

void validate(const model& m) { validate_with(m, checker{}); }

void validate(const model& m, const source_context& where) { validate_with(m, checker{&where}); }

std::string tensor_path(std::string_view name) {
  return fmt::format("/model/parameters/tensor[@name={}]", display_quoted(name));
}
std::string size_path(std::string_view name) { return fmt::format("/model/sizes/size[@name={}]", display_quoted(name)); }
std::string option_path(std::string_view name) {
  return fmt::format("/model/options/option[@name={}]", display_quoted(name));
}
std::string device_path(std::string_view role) {
  return fmt::format("/model/devices/device[@role={}]", display_quoted(role));
}

}  // namespace spicenn::ir
