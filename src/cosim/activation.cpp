#include "cosim/activation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <optional>

#include "compiler/mon_compiler.hpp"
#include "core/error.hpp"
#include "models/mon.hpp"
#include "spice/engine.hpp"

namespace spicenn::cosim {

mon_activation mon_activation_curves(const ir::model& m, const mon_activation_options& o) {
  const auto net = models::mon_network::from_model(m);  // validates the model and finds the law
  const auto deck = compiler::compile_mon_activation(m, o.conductance, o.lo, o.hi, o.points,
                                                     compiler::mon_precise_simulator_options());
  mon_activation out;
  out.device = m.device("diode").name;
  out.law = m.option("diode");

  spice::engine eng;
  eng.load(deck.text);
  eng.command("run");
  std::vector<double> sweep;
  for (const char* name : {"i-sweep", "iact-sweep"})
    if (eng.has_vector(name)) sweep = eng.real_vector(name);
  if (sweep.empty()) throw internal_error(fmt::format("activation: ngspice gave no sweep vector (has: {})", fmt::join(eng.vector_names(), ", ")));
  const auto v = eng.real_vector("v(" + deck.node + ")");
  if (v.size() != sweep.size()) throw internal_error("activation: ngspice's sweep and node vectors differ in length");

  // One node: G = [g], s = injected current.
  const Eigen::MatrixXd G = Eigen::MatrixXd::Constant(1, 1, o.conductance);
  models::mon_solver_settings settings;
  std::optional<models::mon_law_solver> law;
  if (net.diode != models::mon_diode_kind::ideal) law.emplace(G, net.law, settings);
  const double range = std::max(std::abs(o.lo), std::abs(o.hi));
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    // ngspice's sweep lands near, not on, 0: snap such points so that the
    // node voltage is the exact 0 there.
    double s = sweep[i] / deck.ampere;
    if (std::abs(s) < 1e-12 * range) s = 0.0;
    const double ideal = std::max(s / o.conductance, 0.0);
    double soft = ideal;
    if (law) {
      Eigen::VectorXd sv = Eigen::VectorXd::Constant(1, s), x = Eigen::VectorXd::Constant(1, ideal);
      law->start_from_ideal(sv, x);
      const auto rep = law->solve(sv, x, false);
      // Near s = 0 every current is tiny: judge the residual against the sweep's range.
      const double kcl = std::abs(o.conductance * x[0] - s - net.law.current(x[0]));
      if (!rep.converged && !(kcl <= 1e-12 * range))
        throw error(fmt::format("activation: the software law did not converge at {} A", sweep[i]));
      soft = x[0];
    }
    out.current.push_back(s);
    out.ideal.push_back(ideal);
    out.software.push_back(soft);
    out.spice.push_back(v[i] / deck.volt);
    out.deviation = std::max(out.deviation, std::abs(out.spice.back() - soft));
  }
  return out;
}

}  // namespace spicenn::cosim
