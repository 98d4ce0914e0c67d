// Test helpers: MON ir::model objects filled directly (no ir::init_mon, no
// XML), random inputs, and independent reference computations.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "ir/model.hpp"
#include "models/mon.hpp"

namespace spicenn::models::test {

struct mon_spec {
  int inputs = 4;
  int hidden = 6;
  int outputs = 3;
  int stages = 1;
  std::string diode = "ideal";
  double bias_lo = -0.5, bias_hi = 0.5;  // bias ~ U(lo, hi) · sqrt(fan-in)/... (see make_model)
  double coupling = 1.0;                 // scales g_between
  double density = 0.6;                  // fraction of nonzero conductances
  double ground = 0.3;                   // g_ground ~ ground·U(0,1)
  double floor = 0.0;                    // added to every nonzero conductance
};

inline ir::tensor make_tensor(std::string name, std::vector<std::size_t> shape, ir::constraint kind, std::vector<double> values) {
  ir::tensor t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.kind = kind;
  t.values = std::move(values);
  return t;
}

inline ir::model make_model(const mon_spec& sp, std::uint64_t seed) {
  rng r(seed);
  ir::model m;
  m.kind = ir::family::mon;
  m.sizes = {{"inputs", sp.inputs}, {"hidden", sp.hidden}, {"outputs", sp.outputs}, {"stages", sp.stages}};
  m.options = {{"diode", sp.diode}};
  m.devices = {{"diode", sp.diode == "ideal" ? "ideal_diode" : "shockley_diode", ""}};
  const auto n = static_cast<std::size_t>(sp.hidden);
  for (int s = 0; s < sp.stages; ++s) {
    const auto in = static_cast<std::size_t>(s == 0 ? sp.inputs : sp.hidden);
    const double fan = std::sqrt(static_cast<double>(in));
    const std::string p = "stage" + std::to_string(s) + ".";
    std::vector<double> gb(n * n, 0.0);
    for (std::size_t a = 0; a < n; ++a)
      for (std::size_t b = a + 1; b < n; ++b)
        if (r.uniform() < sp.density) gb[a * n + b] = gb[b * n + a] = sp.floor + sp.coupling * r.uniform() / std::sqrt(double(n));
    std::vector<double> gg(n), hp(n * in), hn(n * in), bias(n);
    for (auto& x : gg) x = sp.floor + sp.ground * r.uniform();
    for (auto& x : hp) x = r.uniform() < sp.density ? sp.floor + r.uniform() / fan : 0.0;
    for (auto& x : hn) x = r.uniform() < sp.density ? sp.floor + r.uniform() / fan : 0.0;
    for (auto& x : bias) x = r.uniform(sp.bias_lo, sp.bias_hi);
    m.parameters.push_back(make_tensor(p + "g_between", {n, n}, ir::constraint::symmetric_nonnegative, gb));
    m.parameters.push_back(make_tensor(p + "g_ground", {n}, ir::constraint::nonnegative, gg));
    m.parameters.push_back(make_tensor(p + "h_pos", {n, in}, ir::constraint::nonnegative, hp));
    m.parameters.push_back(make_tensor(p + "h_neg", {n, in}, ir::constraint::nonnegative, hn));
    m.parameters.push_back(make_tensor(p + "bias", {n}, ir::constraint::none, bias));
  }
  const auto out = static_cast<std::size_t>(sp.outputs);
  std::vector<double> c(out * n), e(out);
  for (auto& x : c) x = r.normal() / std::sqrt(double(n));
  for (auto& x : e) x = 0.1 * r.normal();
  m.parameters.push_back(make_tensor("readout.weight", {out, n}, ir::constraint::none, c));
  m.parameters.push_back(make_tensor("readout.bias", {out}, ir::constraint::none, e));
  return m;
}

inline ir::tensor& tensor_of(ir::model& m, const std::string& name) {
  for (auto& t : m.parameters)
    if (t.name == name) return t;
  throw std::runtime_error("no tensor " + name);
}

inline Eigen::MatrixXd random_inputs(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, double lo = -1.0,
                                     double hi = 1.0) {
  rng r(seed);
  Eigen::MatrixXd x(rows, cols);
  for (Eigen::Index j = 0; j < cols; ++j)
    for (Eigen::Index i = 0; i < rows; ++i) x(i, j) = r.uniform(lo, hi);
  return x;
}

// Shockley parameters in SI such that, with the default scale (volt 1,
// ampere 1e-4), is = 1e-6 and vt = 0.05 normalized: a soft diode ReLU.
inline devices::shockley_parameters soft_diode() { return {1e-10, 1.0, 0.05}; }

// Assembles G and s from the raw tensors (independently of mon_stage).
inline void reference_system(const ir::model& m, int stage, const Eigen::VectorXd& x, Eigen::MatrixXd& G, Eigen::VectorXd& s) {
  const auto n = m.sizes.at("hidden");
  const auto in = x.size();
  const std::string p = "stage" + std::to_string(stage) + ".";
  auto get = [&](const std::string& name) -> const std::vector<double>& {
    for (const auto& t : m.parameters)
      if (t.name == p + name) return t.values;
    throw std::runtime_error("no tensor " + p + name);
  };
  const auto& gb = get("g_between");
  const auto& gg = get("g_ground");
  const auto& hp = get("h_pos");
  const auto& hn = get("h_neg");
  const auto& bias = get("bias");
  G = Eigen::MatrixXd::Zero(n, n);
  s = Eigen::VectorXd::Zero(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    G(j, j) += gg[j];
    for (Eigen::Index b = 0; b < n; ++b) {
      const double g = gb[j * n + b];
      G(j, j) += g;
      G(j, b) -= g;
    }
    for (Eigen::Index k = 0; k < in; ++k) {
      // current into node j from +x_k through h_pos and from −x_k through h_neg
      G(j, j) += hp[j * in + k] + hn[j * in + k];
      s[j] += hp[j * in + k] * x[k] - hn[j * in + k] * x[k];
    }
    s[j] += bias[j];
  }
}

// Brute force: the one active set whose restricted solution is feasible.
inline Eigen::VectorXd brute_force_lcp(const Eigen::MatrixXd& G, const Eigen::VectorXd& s) {
  const Eigen::Index n = G.rows();
  Eigen::VectorXd best;
  int found = 0;
  double spread = 0.0;
  for (std::uint32_t mask = 0; mask < (1u << n); ++mask) {
    std::vector<Eigen::Index> F;
    for (Eigen::Index j = 0; j < n; ++j)
      if (mask & (1u << j)) F.push_back(j);
    Eigen::MatrixXd GF(F.size(), F.size());
    Eigen::VectorXd sF(F.size());
    for (std::size_t a = 0; a < F.size(); ++a) {
      sF[a] = s[F[a]];
      for (std::size_t b = 0; b < F.size(); ++b) GF(a, b) = G(F[a], F[b]);
    }
    Eigen::VectorXd v = Eigen::VectorXd::Zero(n);
    if (!F.empty()) {
      const Eigen::VectorXd vF = GF.fullPivLu().solve(sF);
      for (std::size_t a = 0; a < F.size(); ++a) v[F[a]] = vF[a];
    }
    const Eigen::VectorXd w = G * v - s;
    const double scale = 1e-12 * (1.0 + s.cwiseAbs().maxCoeff());
    bool ok = true;
    for (Eigen::Index j = 0; j < n; ++j) {
      if (mask & (1u << j))
        ok = ok && v[j] >= -scale;
      else
        ok = ok && w[j] >= -scale;
    }
    if (ok) {
      if (found++ > 0) spread = std::max(spread, (v - best).cwiseAbs().maxCoeff());
      best = v;
    }
  }
  // Several feasible sets only in degenerate cases (v_j = w_j = 0), with the same v.
  if (found == 0 || spread > 1e-10) throw std::runtime_error("brute force: " + std::to_string(found) + " solutions");
  return best;
}

}  // namespace spicenn::models::test
