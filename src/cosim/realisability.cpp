#include "cosim/realisability.hpp"

#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/verify.hpp"
#include "devices/device.hpp"
#include "models/mon.hpp"
#include "models/tensor_eigen.hpp"

namespace spicenn::cosim {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;

constexpr double min_ohms = 1.0, max_ohms = 1e12;
constexpr double clamp_fraction = 1e-3;  // of the output scale
constexpr double vntol = 1e-12, abstol = 1e-15, resolution = 1e-6;

std::string index_text(const ir::tensor& t, std::size_t flat) {
  if (t.shape.size() <= 1) return fmt::format("[{}]", flat);
  return fmt::format("[{}, {}]", flat / t.shape[1], flat % t.shape[1]);
}

// Conductance tensors: resistors ohm/|value| (readout weights too: one
// resistor ohm/|C_oj| each); zero values are no element.
void check_resistors(const ir::model& m, std::vector<realisability_warning>& out) {
  for (const auto& t : m.parameters) {
    const bool conductance = t.name.ends_with(".g_between") || t.name.ends_with(".g_ground") || t.name.ends_with(".h_pos") ||
                             t.name.ends_with(".h_neg") || t.name == "readout.weight";
    if (!conductance) continue;
    std::size_t low = 0, high = 0, lowest = 0, highest = 0;
    double r_low = INFINITY, r_high = 0.0;
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      const double g = std::abs(t.values[i]);
      if (!(g > 0.0)) continue;
      const double ohms = m.scale.ohm / g;
      if (ohms < min_ohms) {
        ++low;
        if (ohms < r_low) r_low = ohms, lowest = i;
      } else if (ohms > max_ohms) {
        ++high;
        if (ohms > r_high) r_high = ohms, highest = i;
      }
    }
    // One warning per side: the extreme value, how many more, and why it matters.
    auto report = [&](std::size_t count, std::size_t at, double ohms, const char* why) {
      if (!count) return;
      out.push_back({t.name, index_text(t, at),
                     fmt::format("resistor {:.3g} ohm (value {:.4g} x {:.3g} S){}: {}", ohms, t.values[at], 1.0 / m.scale.ohm,
                                 count > 1 ? fmt::format(", and {} more of this tensor", count - 1) : "", why)});
    };
    report(low, lowest, r_low, "below 1 ohm, the resistance of wiring and contacts, which no amplifier drives");
    report(high, highest, r_high,
           "above 1 Tohm, below board leakage and ngspice's gmin (1e-12 S); `spicenn prune` removes such conductances");
  }
}

// Seeded inputs in the range verify uses: [0, 1] for images, else [-1, 1].
MatrixXd sample_inputs(const ir::model& m, Index count) {
  const bool images = m.origin.data == "mnist" || m.origin.data == "fashion-mnist";
  const double lo = images ? 0.0 : -1.0;
  rng gen(1);
  MatrixXd x(m.size("inputs"), count);
  for (Index i = 0; i < x.size(); ++i) x.data()[i] = gen.uniform(lo, 1.0);
  return x;
}

void check_clamp_and_range(const ir::model& m, std::vector<realisability_warning>& out) {
  const auto net = models::mon_network::from_model(m);
  const MatrixXd x = sample_inputs(m, 32);
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
  // Typical magnitudes: the median over samples of each stage's largest |v|
  // and largest node current |G||v|.
  for (std::size_t s = 0; s < f.stages.size(); ++s) {
    const MatrixXd& v = f.stages[s].v;
    std::vector<double> vmax, imax;
    const MatrixXd I = net.stages[s].G_abs * v.cwiseAbs();
    for (Index b = 0; b < v.cols(); ++b) {
      vmax.push_back(v.col(b).cwiseAbs().maxCoeff() * volt);
      imax.push_back(I.col(b).maxCoeff() * ampere);
    }
    std::nth_element(vmax.begin(), vmax.begin() + vmax.size() / 2, vmax.end());
    std::nth_element(imax.begin(), imax.begin() + imax.size() / 2, imax.end());
    const double vt = vmax[vmax.size() / 2], it = imax[imax.size() / 2];
    if (vt > 0.0 && vntol > resolution * vt)
      out.push_back({fmt::format("stage{}", s), "",
                     fmt::format("node voltages of ~{:.3g} V (median of the largest): ngspice's vntol (1e-12 V) is {:.2g} "
                                 "of them; raise the model's scale volt",
                                 vt, vntol / vt)});
    if (it > 0.0 && abstol > resolution * it)
      out.push_back({fmt::format("stage{}", s), "",
                     fmt::format("node currents of ~{:.3g} A (median of the largest): ngspice's abstol (1e-15 A) is {:.2g} "
                                 "of them; raise the model's scale ampere",
                                 it, abstol / it)});
  }
}

}  // namespace

std::vector<realisability_warning> realisability_warnings(const ir::model& m) {
  std::vector<realisability_warning> out;
  if (m.kind != ir::family::mon) return out;
  check_resistors(m, out);
  check_clamp_and_range(m, out);
  return out;
}

std::string to_text(const realisability_warning& w) {
  if (w.tensor.empty()) return "warning: " + w.message;
  return fmt::format("warning: {}{}: {}", w.tensor, w.index, w.message);
}

}  // namespace spicenn::cosim
