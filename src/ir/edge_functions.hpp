// KirchhoffNet edge functions: the current f(v_s, v_d; θ) that flows through
// an edge from its source node s to its destination node d, in one registry
// that the schema (which names a model may use), the software model (values
// and partial derivatives) and the compiler (the behavioural-source
// expression) all read. A new edge function joins with one registration:
//
//   spicenn::ir::register_edge_function({
//       .name = "cubic1", .theta_count = 1, .formula = "theta0 * (vs - vd)^3",
//       .current = [](double vs, double vd, const double* t) { double u = vs - vd; return t[0] * u * u * u; },
//       .partials = [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
//         double u = vs - vd; *d_vs = 3 * t[0] * u * u; *d_vd = -*d_vs; d_t[0] = u * u * u; },
//       .spice_expression = "{theta0}*({vs}-{vd})*({vs}-{vd})*({vs}-{vd})",
//       .realisation = "active: a cubic transconductor"});
//
// Units are normalized (volts and currents in the model's scale units).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace spicenn::ir {

inline constexpr std::size_t max_edge_theta = 8;

struct edge_function {
  std::string name;
  std::size_t theta_count = 0;  // parameters per edge, 1..max_edge_theta
  std::string formula;          // for people: "theta1 * relu(vs - vd - theta0)"
  // f(v_s, v_d; θ): the current from s to d.
  double (*current)(double vs, double vd, const double* theta) = nullptr;
  // ∂f/∂v_s, ∂f/∂v_d and ∂f/∂θ_k (theta_count values).
  void (*partials)(double vs, double vd, const double* theta, double* d_vs, double* d_vd, double* d_theta) = nullptr;
  // The same current as an ngspice behavioural-source expression, with the
  // placeholders {vs}, {vd} and {theta0}..{thetaK} for the node voltages and
  // parameter values (each replaced by an expression such as v(n3)).
  std::string spice_expression;
  // Optional: ∂f/∂v_s, ∂f/∂v_d, ∂f/∂θ_0 .. ∂f/∂θ_{K-1} as expressions with the
  // same placeholders (theta_count + 2 of them). The circuit adjoint (a
  // backward transient of the linearized circuit in ngspice) needs them;
  // a function without them trains against SPICE by the physics-aware
  // gradient only.
  std::vector<std::string> spice_partials;
  // How a circuit realises it: "passive: a resistor" or "active: ...".
  std::string realisation;
  // Optional: the same function for θ written as numbers, in a form ngspice
  // evaluates faster (e.g. its built-in pwl() instead of max(): ~1.7x less
  // matrix-load time per source, docs/kirchhoffnet.md "Transient cost").
  // Empty: spice_expression.
  std::string spice_constant_theta_expression;
};

// Adds f; throws spicenn::error if the name is taken, is not an identifier,
// or a field is missing. Thread-safe; registration before use.
void register_edge_function(edge_function f);
// The registered function of that name; throws spicenn::error listing the
// known names.
const edge_function& find_edge_function(std::string_view name);
// Names in registration order (builtins first: shift_tanh2, shift_tanh1,
// shift_relu1, conductance).
std::vector<std::string> edge_function_names();

}  // namespace spicenn::ir
