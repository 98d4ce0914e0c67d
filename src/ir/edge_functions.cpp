#include "ir/edge_functions.hpp"

#include <cmath>
#include <deque>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "ir/names.hpp"

namespace spicenn::ir {
namespace {

double relu(double u) { return u > 0 ? u : 0.0; }

std::vector<edge_function> builtin_edge_functions() {
  std::vector<edge_function> b;
  // tanh(θ0 v_s + θ1 v_d + θ2): bounded, needs an active transconductor.
  b.push_back({"shift_tanh2", 3, "tanh(theta0*vs + theta1*vd + theta2)",
               [](double vs, double vd, const double* t) { return std::tanh(t[0] * vs + t[1] * vd + t[2]); },
               [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
                 double y = std::tanh(t[0] * vs + t[1] * vd + t[2]);
                 double s = 1 - y * y;
                 *d_vs = s * t[0];
                 *d_vd = s * t[1];
                 d_t[0] = s * vs;
                 d_t[1] = s * vd;
                 d_t[2] = s;
               },
               "tanh({theta0}*{vs}+{theta1}*{vd}+{theta2})",
               {"{theta0}*(1-tanh({theta0}*{vs}+{theta1}*{vd}+{theta2})^2)",
                "{theta1}*(1-tanh({theta0}*{vs}+{theta1}*{vd}+{theta2})^2)",
                "{vs}*(1-tanh({theta0}*{vs}+{theta1}*{vd}+{theta2})^2)",
                "{vd}*(1-tanh({theta0}*{vs}+{theta1}*{vd}+{theta2})^2)",
                "(1-tanh({theta0}*{vs}+{theta1}*{vd}+{theta2})^2)"},
               "active: a transconductor with a tanh characteristic, driven by a weighted sum of both terminal "
               "voltages (not a two-terminal element)"});
  // tanh(θ1 (v_s − v_d) + θ0): a two-terminal element, passive only when
  // f(u)·u ≥ 0 for every u (θ0 = 0, θ1 ≥ 0).
  b.push_back({"shift_tanh1", 2, "tanh(theta1*(vs - vd) + theta0)",
               [](double vs, double vd, const double* t) { return std::tanh(t[1] * (vs - vd) + t[0]); },
               [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
                 double u = vs - vd;
                 double y = std::tanh(t[1] * u + t[0]);
                 double s = 1 - y * y;
                 *d_vs = s * t[1];
                 *d_vd = -s * t[1];
                 d_t[0] = s;
                 d_t[1] = s * u;
               },
               "tanh({theta1}*({vs}-{vd})+{theta0})",
               {"{theta1}*(1-tanh({theta1}*({vs}-{vd})+{theta0})^2)",
                "-{theta1}*(1-tanh({theta1}*({vs}-{vd})+{theta0})^2)",
                "(1-tanh({theta1}*({vs}-{vd})+{theta0})^2)",
                "({vs}-{vd})*(1-tanh({theta1}*({vs}-{vd})+{theta0})^2)"},
               "active in general (an offset current at zero voltage); passive for theta0 = 0, theta1 >= 0 "
               "(a saturating conductor)"});
  // θ1 · ReLU(v_s − v_d − θ0): with θ1 ≥ 0 and θ0 ≥ 0 an ideal diode in
  // series with a θ0 offset and a 1/θ1 resistor (passive); otherwise active.
  b.push_back({"shift_relu1", 2, "theta1*relu(vs - vd - theta0)",
               [](double vs, double vd, const double* t) { return t[1] * relu(vs - vd - t[0]); },
               [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
                 double u = vs - vd - t[0];
                 double on = u > 0 ? 1.0 : 0.0;
                 *d_vs = on * t[1];
                 *d_vd = -on * t[1];
                 d_t[0] = -on * t[1];
                 d_t[1] = on * u;
               },
               "{theta1}*max({vs}-{vd}-{theta0},0)",
               {"{theta1}*u({vs}-{vd}-{theta0})", "-{theta1}*u({vs}-{vd}-{theta0})",
                "-{theta1}*u({vs}-{vd}-{theta0})", "max({vs}-{vd}-{theta0},0)"},
               "passive for theta1 >= 0 and theta0 >= 0 (an ideal diode with a theta0 offset in series with a "
               "1/theta1 resistor); a negative theta1 or theta0 needs an active element",
               // pwl extrapolates its end segments linearly: 0 below the kink, slope θ1 above.
               "pwl({vs}-{vd}-{theta0},-1,0,0,0,1,{theta1})"});
  // θ0 (v_s − v_d): a resistor of 1/θ0 for θ0 ≥ 0, a negative resistor
  // (active) otherwise.
  b.push_back({"conductance", 1, "theta0*(vs - vd)",
               [](double vs, double vd, const double* t) { return t[0] * (vs - vd); },
               [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
                 *d_vs = t[0];
                 *d_vd = -t[0];
                 d_t[0] = vs - vd;
               },
               "{theta0}*({vs}-{vd})",
               {"{theta0}", "-{theta0}", "({vs}-{vd})"},
               "passive for theta0 >= 0 (a resistor of 1/theta0); a negative theta0 needs an active negative "
               "resistor"});
  return b;
}

struct registry {
  std::mutex lock;
  std::deque<edge_function> functions;  // a deque: references stay valid as it grows
  registry() {
    for (auto& f : builtin_edge_functions()) functions.push_back(std::move(f));
  }
};

registry& the_registry() {
  static registry r;
  return r;
}

}  // namespace

void register_edge_function(edge_function f) {
  if (auto problem = identifier_problem(f.name); !problem.empty())
    throw error(fmt::format("edge function name {} {}", display_quoted(f.name), problem));
  if (f.theta_count < 1 || f.theta_count > max_edge_theta)
    throw error(fmt::format("edge function {}: theta_count = {} must be in 1..{}", f.name, f.theta_count,
                            max_edge_theta));
  if (!f.current || !f.partials || f.spice_expression.empty())
    throw error(fmt::format("edge function {}: current, partials and spice_expression are all required", f.name));
  if (!f.spice_partials.empty() && f.spice_partials.size() != f.theta_count + 2)
    throw error(fmt::format("edge function {}: spice_partials has {} expressions; it needs theta_count + 2 = {} "
                            "(d/dvs, d/dvd, d/dtheta0..)",
                            f.name, f.spice_partials.size(), f.theta_count + 2));
  auto& r = the_registry();
  std::lock_guard guard(r.lock);
  for (const auto& g : r.functions)
    if (g.name == f.name) throw error(fmt::format("edge function {} is already registered", f.name));
  r.functions.push_back(std::move(f));
}

const edge_function& find_edge_function(std::string_view name) {
  auto& r = the_registry();
  std::lock_guard guard(r.lock);
  for (const auto& f : r.functions)
    if (f.name == name) return f;
  std::vector<std::string> names;
  for (const auto& f : r.functions) names.push_back(f.name);
  throw error(fmt::format("unknown KirchhoffNet edge function {}; known: {}", display_quoted(name),
                          fmt::join(names, ", ")));
}

std::vector<std::string> edge_function_names() {
  auto& r = the_registry();
  std::lock_guard guard(r.lock);
  std::vector<std::string> names;
  for (const auto& f : r.functions) names.push_back(f.name);
  return names;
}

}  // namespace spicenn::ir
