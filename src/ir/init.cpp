#include "ir/init.hpp"

#include <cmath>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "devices/device.hpp"
#include "devices/fit.hpp"
#include "ir/schema.hpp"

#ifndef SPICENN_VERSION
#define SPICENN_VERSION "unknown"
#endif

namespace spicenn::ir {

namespace {

// Portable random numbers over std::mt19937_64 (whose output sequence the
// standard fixes).
class random_source {
 public:
  explicit random_source(std::uint64_t seed) : engine_(seed) {}
  // U[0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Approximately N(0, 1): Irwin-Hall sum of 12 uniforms minus 6 (exact
  // arithmetic only, so identical on every platform).
  double normal() {
    double s = 0;
    for (int i = 0; i < 12; ++i) s += uniform();
    return s - 6.0;
  }

 private:
  std::mt19937_64 engine_;
};

std::string created_by(std::string_view what) { return fmt::format("spicenn {} ir::{}", SPICENN_VERSION, what); }

tensor make(std::string name, std::vector<std::size_t> shape, constraint kind, bool trainable) {
  tensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.kind = kind;
  t.trainable = trainable;
  t.values.assign(shape_size(t.shape), 0.0);
  return t;
}

// Tensors in schema order, all zero.
void add_zero_tensors(model& m) {
  for (const auto& spec : schema_for(m).tensors)
    if (spec.required) m.parameters.push_back(make(spec.name, spec.shape, spec.kind, spec.trainable));
}

}  // namespace

std::string default_mon_diode_device(std::string_view diode) {
  if (diode == "ideal") return "pwl_diode";
  if (diode == "shockley") return "shockley_diode";
  throw error(fmt::format("MON diode must be ideal or shockley, not '{}'", diode));
}

model init_mon(std::int64_t inputs, std::int64_t hidden, std::int64_t outputs, std::int64_t stages,
               std::uint64_t seed, std::string_view diode, double input_scale) {
  if (diode != "ideal" && diode != "shockley")
    throw error(fmt::format("init_mon: diode must be ideal or shockley, not '{}'", diode));
  if (!(input_scale > 0) || !std::isfinite(input_scale))
    throw error(fmt::format("init_mon: input scale must be a positive number, not {}", input_scale));
  model m;
  m.kind = family::mon;
  m.sizes = {{"inputs", inputs}, {"hidden", hidden}, {"outputs", outputs}, {"stages", stages}};
  m.options = {{"diode", std::string(diode)}};
  m.scale = physical_scale{1.0, 1e-4, 1e4, 1e-9, 1e-5};
  m.devices.push_back({"diode", default_mon_diode_device(diode), ""});
  m.origin.seed = seed;
  m.origin.created_by = created_by(fmt::format("init_mon(inputs={}, hidden={}, outputs={}, stages={}, diode={}{})",
                                               inputs, hidden, outputs, stages, diode,
                                               input_scale == 1.0 ? std::string()
                                                                  : fmt::format(", input_scale={}", input_scale)));
  add_zero_tensors(m);

  random_source rng(seed);
  auto h = static_cast<std::size_t>(hidden);
  for (std::int64_t s = 0; s < stages; ++s) {
    std::size_t fan_in = s == 0 ? static_cast<std::size_t>(inputs) : h;
    double in_scale = (s == 0 ? input_scale : 1.0) / std::sqrt(static_cast<double>(fan_in));
    double between_scale = 1.0 / std::sqrt(static_cast<double>(h));
    auto& g = m.parameter(fmt::format("stage{}.g_between", s)).values;
    for (std::size_t i = 0; i < h; ++i)
      for (std::size_t j = i + 1; j < h; ++j) g[i * h + j] = g[j * h + i] = rng.uniform() * between_scale;
    for (auto& v : m.parameter(fmt::format("stage{}.g_ground", s)).values) v = rng.uniform();
    for (auto& v : m.parameter(fmt::format("stage{}.h_pos", s)).values) v = rng.uniform() * in_scale;
    for (auto& v : m.parameter(fmt::format("stage{}.h_neg", s)).values) v = rng.uniform() * in_scale;
    for (auto& v : m.parameter(fmt::format("stage{}.bias", s)).values)
      v = 0.1 * std::sqrt(static_cast<double>(fan_in)) * rng.uniform();
  }
  for (auto& v : m.parameter("readout.weight").values) v = rng.normal() / std::sqrt(static_cast<double>(h));
  validate(m);
  return m;
}

model init_kan(const std::vector<std::int64_t>& widths, const std::vector<std::string>& bases, std::uint64_t seed,
               const kan_init_options& options) {
  if (widths.size() < 2)
    throw error(fmt::format("init_kan: need at least two widths (inputs and outputs), got {}", widths.size()));
  if (bases.empty()) throw error("init_kan: need at least one basis device");
  model m;
  m.kind = family::kan;
  m.sizes = {{"layers", static_cast<std::int64_t>(widths.size() - 1)},
             {"bases", static_cast<std::int64_t>(bases.size())}};
  for (std::size_t l = 0; l < widths.size(); ++l) m.sizes[fmt::format("width{}", l)] = widths[l];
  m.scale = physical_scale{1.0, 1e-4, 1e4, 1e-9, 1e-5};
  const auto& registry = devices::builtin_devices();
  for (std::size_t d = 0; d < bases.size(); ++d) {
    // A builtin name, or the path of a library written by `spicenn fit-device`.
    const bool library = bases[d].find('/') != std::string::npos || bases[d].ends_with(".lib");
    std::optional<devices::voltage_window> w;
    std::string name = bases[d];
    if (library) {
      const auto fitted = devices::load_fitted_device(bases[d]);  // throws parse_error naming file:line
      w = fitted.window();
      name = std::string(fitted.name());
    } else {
      w = registry.get(bases[d]).window();  // throws, listing the builtin devices
    }
    if (!w) throw error(fmt::format("init_kan: device '{}' has no voltage window: it is not a basis device", bases[d]));
    m.devices.push_back({fmt::format("basis{}", d), name, library ? bases[d] : ""});
  }
  m.origin.seed = seed;
  m.origin.created_by = created_by(fmt::format("init_kan(widths=[{}], bases=[{}])", fmt::join(widths, " "),
                                               fmt::join(bases, " ")));
  add_zero_tensors(m);

  const double clamp_lo = 0.0, clamp_hi = 1.4;
  m.parameter("hidden_clamp").values = {clamp_lo, clamp_hi};
  random_source rng(seed);
  const auto n_bases = bases.size();
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    // Zero signal at a conducting bias point rather than at 0 V, where the
    // NDR curves are flat (r^3, r^4 rises): on MNIST 14x14 this raised the
    // validation accuracy from 97.3 % (signal straight onto the devices, as
    // the KANalogue reference) to 98.2 % (docs/results.md).
    const auto& volts = l == 0 ? options.input_volts : options.hidden_volts;
    const double in_hi = l == 0 ? 1.0 : clamp_hi - clamp_lo;
    auto& gain = m.parameter(fmt::format("layer{}.basis_gain", l)).values;
    auto& offset = m.parameter(fmt::format("layer{}.basis_offset", l)).values;
    for (std::size_t d = 0; d < n_bases; ++d) {
      gain[d] = (volts[1] - volts[0]) / (m.scale.volt * in_hi);
      offset[d] = volts[0] / m.scale.volt - (l == 0 ? 0.0 : gain[d] * clamp_lo);
    }
    double coef_scale = 1.0 / std::sqrt(static_cast<double>(widths[l]) * static_cast<double>(n_bases));
    for (auto& v : m.parameter(fmt::format("layer{}.coef", l)).values) v = rng.normal() * coef_scale;
  }
  if (options.batch_norm) {
    const auto out_shape = [&](std::size_t l) { return std::vector<std::size_t>{static_cast<std::size_t>(widths[l + 1])}; };
    for (std::size_t l = 0; l + 2 < widths.size(); ++l) {
      auto p = [&](const char* t) { return fmt::format("layer{}.{}", l, t); };
      // γ, β_bn centre the normalized activations in the clamp range
      // (±2σ = [0, 1.4]) instead of clamping half of them to 0.
      m.parameters.push_back(make(p("bn_weight"), out_shape(l), constraint::none, true));
      m.parameters.back().values.assign(m.parameters.back().values.size(), (clamp_hi - clamp_lo) / 4);
      m.parameters.push_back(make(p("bn_bias"), out_shape(l), constraint::none, true));
      m.parameters.back().values.assign(m.parameters.back().values.size(), (clamp_hi + clamp_lo) / 2);
      m.parameters.push_back(make(p("bn_mean"), out_shape(l), constraint::none, false));
      m.parameters.push_back(make(p("bn_var"), out_shape(l), constraint::nonnegative, false));
      m.parameters.back().values.assign(m.parameters.back().values.size(), 1.0);
    }
    m.origin.created_by += " batch_norm";
  }
  validate(m);
  return m;
}

model init_kirchhoffnet(std::int64_t inputs, std::int64_t nodes, std::int64_t outputs, std::int64_t slices,
                        std::string_view edge_function, std::uint64_t seed,
                        const std::optional<std::vector<std::array<std::int64_t, 2>>>& edges,
                        const kirchhoffnet_init_options& options) {
  std::size_t theta = kirchhoff_theta_count(edge_function);  // throws for an unknown function
  std::vector<std::array<std::int64_t, 2>> list;
  if (edges) {
    list = *edges;
  } else {
    if (nodes < 1 || nodes > 4096)
      throw error(fmt::format("init_kirchhoffnet: nodes = {} must be in 1..4096 for the default (complete) edge set",
                              nodes));
    for (std::int64_t s = 0; s <= nodes; ++s)
      for (std::int64_t d = 0; d <= nodes; ++d)
        if (s != d) list.push_back({s, d});
  }
  model m;
  m.kind = family::kirchhoffnet;
  m.sizes = {{"inputs", inputs},
             {"nodes", nodes},
             {"outputs", outputs},
             {"slices", slices},
             {"edges", static_cast<std::int64_t>(list.size())},
             {"theta", static_cast<std::int64_t>(theta)}};
  m.options = {{"edge_function", std::string(edge_function)}};
  m.scale = physical_scale{1.0, 1e-4, 1e4, 1e-9, 1e-5};
  m.origin.seed = seed;
  m.origin.created_by =
      created_by(fmt::format("init_kirchhoffnet(inputs={}, nodes={}, outputs={}, slices={}, edge_function={}{}, theta "
                             "{}, duration {})",
                             inputs, nodes, outputs, slices, edge_function, edges ? ", edges=custom" : "",
                             options.kaiming ? "kaiming" : fmt::format("{}*N(0,1)", options.theta_std),
                             options.duration));
  add_zero_tensors(m);
  // Outputs on the last nodes (as the reference's "last10"), so that they are
  // distinct from the input nodes whenever there is room.
  {
    auto out = make("output_nodes", {static_cast<std::size_t>(outputs)}, constraint::index, false);
    for (std::int64_t o = 0; o < outputs; ++o) out.values[static_cast<std::size_t>(o)] = static_cast<double>(nodes - outputs + 1 + o);
    m.parameters.insert(m.parameters.begin() + 1, std::move(out));  // after capacitance, in schema order
  }

  random_source rng(seed);
  for (auto& v : m.parameter("capacitance").values) v = 1.0;
  for (std::int64_t k = 0; k < slices; ++k) {
    auto& e = m.parameter(fmt::format("slice{}.edges", k)).values;
    for (std::size_t i = 0; i < list.size(); ++i) {
      e[2 * i] = static_cast<double>(list[i][0]);
      e[2 * i + 1] = static_cast<double>(list[i][1]);
    }
    const double std_dev = options.kaiming ? std::sqrt(2.0 / static_cast<double>(list.size())) : options.theta_std;
    for (auto& v : m.parameter(fmt::format("slice{}.theta", k)).values) v = std_dev * rng.normal();
    m.parameter(fmt::format("slice{}.duration", k)).values = {options.duration};
  }
  validate(m);
  return m;
}

std::vector<std::array<std::int64_t, 2>> image_topology(std::int64_t width, std::int64_t height, std::int64_t neighbor,
                                                       std::int64_t hub) {
  if (width < 1 || height < 1 || neighbor < 2 || neighbor > std::min(width, height) || hub < 0)
    throw error(fmt::format("image_topology: {}x{} image, neighbor {}, hub {}: need neighbor in 2..min(width, height) "
                            "and hub >= 0",
                            width, height, neighbor, hub));
  std::vector<std::array<std::int64_t, 2>> edges;
  const std::int64_t pixels = width * height;
  auto node = [&](std::int64_t r, std::int64_t c) { return r * width + c + 1; };
  for (std::int64_t pr = 0; pr + neighbor <= height; ++pr)
    for (std::int64_t pc = 0; pc + neighbor <= width; ++pc)
      for (std::int64_t j = 0; j < neighbor * neighbor; ++j)
        for (std::int64_t k = 0; k < neighbor * neighbor; ++k)
          if (j != k)
            edges.push_back({node(pr + j / neighbor, pc + j % neighbor), node(pr + k / neighbor, pc + k % neighbor)});
  for (std::int64_t p = 1; p <= pixels; ++p) {
    edges.push_back({p, 0});
    edges.push_back({0, p});
  }
  for (std::int64_t h = pixels + 1; h <= pixels + hub; ++h)
    for (std::int64_t i = 0; i <= pixels; ++i) {
      edges.push_back({i, h});
      edges.push_back({h, i});
    }
  return edges;
}

}  // namespace spicenn::ir
