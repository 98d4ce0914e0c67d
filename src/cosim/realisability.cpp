#include "cosim/realisability.hpp"

#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <span>

#include "core/error.hpp"
#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/verify.hpp"
#include "devices/device.hpp"
#include "models/kan.hpp"
#include "models/kirchhoffnet.hpp"
#include "models/mon.hpp"
#include "models/tensor_eigen.hpp"

namespace spicenn::cosim {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;

constexpr double min_ohms = 1.0, max_ohms = 1e12;
constexpr double min_farads = 1e-15, max_farads = 1.0;
constexpr double clamp_fraction = 1e-3;  // of the output scale
constexpr double vntol = 1e-12, abstol = 1e-15, resolution = 1e-6;
// Seeded samples of the dynamic-range checks: the MON and KAN forwards are
// cheap. A KirchhoffNet integrates its ODE, and the check runs on every
// compile, so: magnitudes only (rtol = atol = 1e-2, first step 0.1); 1..8
// samples, as many as fit in kn_sample_budget edge-samples, in one group
// sharing its steps; and at most kn_work_budget edge evaluations (6 per
// step, edge and sample), beyond which the range check is skipped. A 14x14
// MNIST-size network (2 x 49,132 edges) gets 2 samples and 101 steps per
// slice, the 28x28 one (2 x 230,068) 1 sample and 43 steps.
constexpr Index mon_samples = 32, kan_samples = 32;
constexpr double kn_tolerance = 1e-2, kn_first_step = 0.1;
constexpr double kn_sample_budget = 2e5, kn_work_budget = 1.2e8;

// "[3]", "[0, 3]", "[1, 0, 2]": the row-major index of entry `flat`.
std::string index_text(const ir::tensor& t, std::size_t flat) {
  if (t.shape.size() <= 1) return fmt::format("[{}]", flat);
  std::vector<std::size_t> index(t.shape.size());
  for (std::size_t k = t.shape.size(); k-- > 0;) {
    index[k] = flat % t.shape[k];
    flat /= t.shape[k];
  }
  return fmt::format("[{}]", fmt::join(index, ", "));
}

// One warning per side of [lo, hi] for the elements of tensor t: the
// extreme one (by index), how many more, and why it matters. value(i) is
// entry i's element in physical units, 0 for no element.
struct element_range {
  double lo, hi;
  std::function<std::string(std::size_t, double)> describe;  // "resistor 0.002 ohm (value 5e+06 x 0.0001 S)"
  std::string below, above;                                   // why
};

void check_range(const ir::tensor& t, std::size_t count, const std::function<double(std::size_t)>& value,
                 const element_range& rule, std::vector<realisability_warning>& out) {
  std::size_t low = 0, high = 0, lowest = 0, highest = 0;
  double v_low = INFINITY, v_high = 0.0;
  for (std::size_t i = 0; i < count; ++i) {
    const double v = value(i);
    if (!(v > 0.0)) continue;
    if (v < rule.lo) {
      ++low;
      if (v < v_low) v_low = v, lowest = i;
    } else if (v > rule.hi) {
      ++high;
      if (v > v_high) v_high = v, highest = i;
    }
  }
  auto report = [&](std::size_t n, std::size_t at, double v, const std::string& why) {
    if (!n) return;
    out.push_back({t.name, index_text(t, at),
                   fmt::format("{}{}: {}", rule.describe(at, v), n > 1 ? fmt::format(", and {} more of this tensor", n - 1) : "",
                               why)});
  };
  report(low, lowest, v_low, rule.below);
  report(high, highest, v_high, rule.above);
}

// Resistors ohm/|g| for the normalized conductances g (in t's layout; 0 =
// no element), outside 1 Ω .. 1 TΩ. `label` names what g is ("value",
// "coef x mismatch", "theta0"); `prune` says whether `spicenn prune` removes
// the faint ones (MON, KAN).
void check_resistors(const ir::model& m, const ir::tensor& t, std::span<const double> g, const std::string& label, bool prune,
                     std::vector<realisability_warning>& out) {
  const double ohm = m.scale.ohm;
  const element_range rule{
      min_ohms, max_ohms,
      [&](std::size_t i, double ohms) {
        return fmt::format("resistor {:.3g} ohm ({} {:.4g} x {:.3g} S)", ohms, label, g[i], 1.0 / ohm);
      },
      "below 1 ohm, the resistance of wiring and contacts, which no amplifier drives",
      std::string("above 1 Tohm, below board leakage and ngspice's gmin (1e-12 S)") +
          (prune ? "; `spicenn prune` removes such conductances" : "")};
  check_range(t, g.size(), [&](std::size_t i) { return g[i] == 0.0 ? 0.0 : ohm / std::abs(g[i]); }, rule, out);
}

// Seeded inputs (rows × count) in the range verify uses (default_input_range).
MatrixXd sample_inputs(const ir::model& m, Index rows, Index count) {
  const auto [lo, hi] = default_input_range(m);
  rng gen(1);
  MatrixXd x(rows, count);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = gen.uniform(lo, hi);
  return x;
}

// Dynamic range: `largest` holds, per seeded sample, the largest magnitude
// of one kind of node voltage (volts) or branch current (amperes) of part
// `where` of the circuit; their median against ngspice's vntol / abstol.
enum class quantity { voltage, current };
void check_dynamic_range(const std::string& where, const std::string& what, std::vector<double> largest, quantity q,
                         std::vector<realisability_warning>& out) {
  if (largest.empty()) return;
  std::nth_element(largest.begin(), largest.begin() + static_cast<std::ptrdiff_t>(largest.size() / 2), largest.end());
  const double typical = largest[largest.size() / 2];
  const bool volts = q == quantity::voltage;
  const double tol = volts ? vntol : abstol;
  if (!(typical > 0.0) || tol <= resolution * typical) return;
  out.push_back({where, "",
                 fmt::format("{} of ~{:.3g} {} (median of the largest): ngspice's {} ({} {}) is {:.2g} of them; raise the "
                             "model's scale {}",
                             what, typical, volts ? "V" : "A", volts ? "vntol" : "abstol", volts ? "1e-12" : "1e-15",
                             volts ? "V" : "A", tol / typical, volts ? "volt" : "ampere")});
}

// Per column of a (non-negative) matrix: its largest entry, times `unit`.
std::vector<double> column_max(const MatrixXd& a, double unit) {
  std::vector<double> out;
  for (Index b = 0; b < a.cols(); ++b) out.push_back(a.rows() ? a.col(b).maxCoeff() * unit : 0.0);
  return out;
}

// ---------------------------------------------------------------- MON

// Conductance tensors: resistors ohm/|value| (readout weights too: one
// resistor ohm/|C_oj| each); zero values are no element.
void check_mon_resistors(const ir::model& m, std::vector<realisability_warning>& out) {
  for (const auto& t : m.parameters) {
    const bool conductance = t.name.ends_with(".g_between") || t.name.ends_with(".g_ground") || t.name.ends_with(".h_pos") ||
                             t.name.ends_with(".h_neg") || t.name == "readout.weight";
    if (conductance) check_resistors(m, t, t.values, "value", true, out);
  }
}

void check_mon_clamp_and_range(const ir::model& m, std::vector<realisability_warning>& out) {
  const auto net = models::mon_network::from_model(m);
  const MatrixXd x = sample_inputs(m, m.size("inputs"), mon_samples);
  models::mon_options o;
  o.threads = 1;
  const auto f = models::mon_forward(net, x, o, false);
  evaluation ideal;
  ideal.outputs = f.y;
  for (const auto& s : f.stages) ideal.hidden.push_back(s.v);
  const double volt = m.scale.volt, ampere = m.scale.ampere;
  const double out_scale = f.y.cwiseAbs().maxCoeff();

  const auto* dev = m.find_device("diode");
  const auto* known = dev && dev->library.empty() ? devices::builtin_devices().find(dev->name) : nullptr;
  if (net.diode == models::mon_diode_kind::ideal && known && (known->piecewise_linear() || known->shockley())) {
    const auto bound = mon_ideal_deviation_bound(m, x, ideal);
    if (bound.outputs > clamp_fraction * out_scale) {
      // The readout row with the largest Σ_j |C_oj| carries the bound.
      const MatrixXd C = models::row_major(m.parameter("readout.weight").values, m.size("outputs"), m.size("hidden"));
      Index row = 0, col = 0;
      C.cwiseAbs().rowwise().sum().maxCoeff(&row);
      C.row(row).cwiseAbs().maxCoeff(&col);
      out.push_back({"readout.weight", fmt::format("[{}, {}]", row, col),
                     fmt::format("the diode clamp of {} deviates from the ideal ReLU by up to {:.3g} V per hidden node "
                                 "(forward drop {:.3g} V), which readout row {} (sum |C| = {:.4g}, largest {:.4g}) turns into "
                                 "up to {:.3g} V on the outputs: {:.2g} of their scale {:.3g} V at seeded inputs",
                                 dev->name, bound.hidden * volt, bound.forward_drop * volt, row, C.row(row).cwiseAbs().sum(),
                                 C(row, col), bound.outputs * volt, bound.outputs / out_scale, out_scale * volt)});
    }
  }
  // Per stage: node voltages |v| and node currents |G||v|.
  for (std::size_t s = 0; s < f.stages.size(); ++s) {
    const MatrixXd v = f.stages[s].v.cwiseAbs();
    const auto where = fmt::format("stage{}", s);
    check_dynamic_range(where, "node voltages", column_max(v, volt), quantity::voltage, out);
    check_dynamic_range(where, "node currents", column_max(net.stages[s].G_abs * v, ampere), quantity::current, out);
  }
}

// ---------------------------------------------------------------- KAN

// The crossbar resistors ohm/|c'·m| of the folded model (compile_kan), named
// by layer{l}.coef[i, o, d]; and per layer the signal nodes u = B·volt and
// the outputs, each basis's device currents B·I_ref and the crossbar
// currents into each virtual ground, Σ |c'·m|/ohm·|u|, at seeded inputs.
void check_kan(const ir::model& model, std::vector<realisability_warning>& out) {
  const ir::model m = models::kan_fold_batch_norm(model);
  const auto net = models::kan_network::from_model(m);
  const bool folded = model.find_parameter("layer0.bn_weight") != nullptr;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& coef = m.parameter(fmt::format("layer{}.coef", l));
    const auto* mismatch = m.find_parameter(fmt::format("layer{}.coef_mismatch", l));
    std::vector<double> g = coef.values;
    if (mismatch)
      for (std::size_t k = 0; k < g.size(); ++k) g[k] *= mismatch->values[k];
    const std::string label = std::string(folded ? "coef with batch norm folded" : "coef") + (mismatch ? " x mismatch" : "");
    check_resistors(m, coef, g, label, true, out);
  }

  const MatrixXd x = sample_inputs(m, net.inputs(), kan_samples);
  const auto f = models::kan_forward(net, x, models::kan_mode::eval, {.threads = 1});
  const double volt = m.scale.volt, siemens = 1.0 / m.scale.ohm;
  const auto D = static_cast<Index>(net.bases.size());
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    const MatrixXd phi = f.layers[l].phi.cwiseAbs();
    const MatrixXd& y = l + 1 < net.layers.size() ? f.hidden[l] : f.outputs;  // the output nodes: clamped for hidden layers
    std::vector<double> v = column_max(phi, volt);
    const auto vy = column_max(y.cwiseAbs(), volt);
    for (std::size_t b = 0; b < v.size(); ++b) v[b] = std::max(v[b], vy[b]);
    const auto where = fmt::format("layer{}", l);
    check_dynamic_range(where, "node voltages", std::move(v), quantity::voltage, out);
    for (Index d = 0; d < D; ++d) {  // per basis: each device has its own current scale
      const auto& basis = net.bases[static_cast<std::size_t>(d)];
      check_dynamic_range(where, fmt::format("basis {} ({}) device currents", d, basis.device().name()),
                          column_max(phi.middleRows(d * layer.inputs, layer.inputs), basis.reference_current()),
                          quantity::current, out);
    }
    check_dynamic_range(where, "crossbar currents", column_max(layer.weight.cwiseAbs() * phi, volt * siemens), quantity::current,
                        out);
  }
}

// ---------------------------------------------------------------- KirchhoffNet

// Capacitors C·farad outside 1 fF .. 1 F; for the conductance edge function
// the resistor ohm/|θ0| of every edge; per slice the node voltages and the
// edge currents f·ampere at its start and end states on the software
// trajectory at seeded inputs.
void check_kirchhoffnet(const ir::model& m, std::vector<realisability_warning>& out) {
  const auto& cap = m.parameter("capacitance");
  const double farad = m.scale.farad;
  const element_range capacitors{
      min_farads, max_farads,
      [&](std::size_t i, double farads) {
        return fmt::format("capacitor {:.3g} F (value {:.4g} x {:.3g} F)", farads, cap.values[i], farad);
      },
      "below 1 fF, the parasitic capacitance of a node's wiring, which would then set the dynamics instead",
      "above 1 F, a supercapacitor rather than a circuit element"};
  check_range(cap, cap.values.size(), [&](std::size_t i) { return cap.values[i] * farad; }, capacitors, out);

  const auto net = models::kn_network::from_model(m);
  if (net.law->name == "conductance")
    for (std::size_t k = 0; k < net.slices.size(); ++k) {
      const auto& theta = m.parameter(fmt::format("slice{}.theta", k));
      // θ0 of each edge (theta_count 1: the tensor's values as they are).
      std::vector<double> g(theta.values.size(), 0.0);
      for (std::size_t e = 0; e * net.theta_count < g.size(); ++e) g[e * net.theta_count] = theta.values[e * net.theta_count];
      check_resistors(m, theta, g, "theta0", false, out);
    }

  double edges = 0;
  for (const auto& s : net.slices) edges += s.duration > 0 ? static_cast<double>(s.source.size()) : 0.0;
  const auto samples = static_cast<Index>(std::clamp(std::floor(kn_sample_budget / std::max(edges, 1.0)), 1.0, 8.0));
  const MatrixXd x = sample_inputs(m, static_cast<Index>(net.inputs), samples);
  models::kn_tolerances tol;
  tol.rtol = tol.atol = kn_tolerance;
  tol.first_step = kn_first_step;
  tol.group = static_cast<std::size_t>(samples);
  tol.threads = 1;
  tol.max_steps =
      static_cast<std::size_t>(std::clamp(std::floor(kn_work_budget / (6.0 * std::max(edges, 1.0) * samples)), 20.0, 1000.0));
  models::kn_forward_result f;
  try {
    f = models::kn_forward(net, x, tol);
  } catch (const error&) {
    return;  // beyond the work budget at the seeded inputs (a stiff model): not checked (docs/cosimulation.md)
  }
  const double volt = m.scale.volt, ampere = m.scale.ampere;
  MatrixXd start = MatrixXd::Zero(static_cast<Index>(net.nodes), x.cols());
  start.topRows(x.rows()) = x;
  for (std::size_t k = 0; k < net.slices.size(); ++k) {
    const auto& s = net.slices[k];
    const MatrixXd& end = f.slice_states[k];
    if (s.duration > 0) {
      std::vector<double> v(static_cast<std::size_t>(x.cols()), 0.0), i(v.size(), 0.0);
      for (const MatrixXd* state : std::array<const MatrixXd*, 2>{&start, &end})
        for (Index b = 0; b < x.cols(); ++b) {
          const auto col = state->col(b);
          auto node = [&](std::uint32_t n) { return n == 0 ? 0.0 : col[static_cast<Index>(n) - 1]; };
          const auto j = static_cast<std::size_t>(b);
          v[j] = std::max(v[j], col.cwiseAbs().maxCoeff() * volt);
          for (std::size_t e = 0; e < s.source.size(); ++e)
            i[j] = std::max(i[j], std::abs(net.law->current(node(s.source[e]), node(s.destination[e]),
                                                            s.theta.data() + e * net.theta_count)) * ampere);
        }
      const auto where = fmt::format("slice{}", k);
      check_dynamic_range(where, "node voltages", std::move(v), quantity::voltage, out);
      check_dynamic_range(where, "edge currents", std::move(i), quantity::current, out);
    }
    start = end;
  }
}

}  // namespace

std::vector<realisability_warning> realisability_warnings(const ir::model& m) {
  std::vector<realisability_warning> out;
  switch (m.kind) {
    case ir::family::mon:
      check_mon_resistors(m, out);
      check_mon_clamp_and_range(m, out);
      break;
    case ir::family::kan:
      check_kan(m, out);
      break;
    case ir::family::kirchhoffnet:
      check_kirchhoffnet(m, out);
      break;
  }
  return out;
}

std::string to_text(const realisability_warning& w) {
  if (w.tensor.empty()) return "warning: " + w.message;
  return fmt::format("warning: {}{}: {}", w.tensor, w.index, w.message);
}

}  // namespace spicenn::cosim
