// Exact equilibrium of one resistor-diode MON stage for one sample, given the
// conductance matrix G (symmetric M-matrix, positive definite) and the source
// currents s = H x + bias (models.md §2). All quantities are normalized.
//
// Ideal diodes: v* = argmin_{v >= 0} ½ vᵀGv − sᵀv, i.e. the LCP
//   v >= 0,  w = Gv − s >= 0,  v ∘ w = 0
// (w_j is the current the diode at node j conducts). Solved exactly by an
// active-set method: with the set F of free nodes (diode off) fixed,
// v_F = G_FF⁻¹ s_F and v = 0 on the clamped nodes C; then nodes with v < 0
// leave F and clamped nodes with w < 0 join it (primal-dual active set, a
// semismooth Newton method). A step solves the smaller system: G_FF (a
// Cholesky factor that grows by O(|F|²) appends when only nodes are added) or,
// given G⁻¹, (G⁻¹)_CC for the diode currents μ = w_C:
//   (G⁻¹)_CC μ = −u_C,  v = u + (G⁻¹)_{:,C} μ,  u = G⁻¹s.
// Guarantee: G is an M-matrix, so for any F whose restricted solution is
// >= 0, every node with w < 0 is free at the solution and adding all of them
// gives a restricted solution that is again >= 0 and larger (Chandrasekaran's
// algorithm): from F = {u > 0} (whose restricted solution is >= u_F > 0) the
// solver only adds nodes and stops at the solution after at most n steps.
// Primal-dual steps from another guess that do not settle within
// active_set_restart steps fall back to that monotone run.
//
// Smooth or other monotone diodes (anode at ground): the diode current into
// node j is i(v_j) — Shockley: is·(exp(−v_j/vt) − 1); any other device: its
// own I-V curve I(−v_j) — and KCL reads Gv − s − i(v) = 0, the stationarity
// condition of the energy
//   E(v) = ½ vᵀGv − sᵀv + Σ_j φ(v_j),  φ' = −i,  φ(0) = 0,
// which is strictly convex while i is non-increasing in v (a monotone
// device; G is positive definite), so the equilibrium is unique. Solved by
// Newton's method with Armijo backtracking on E (globally convergent for a
// strictly convex energy with bounded sublevel sets), started from the ideal
// solution with every conducting diode given the voltage that carries the
// ideal solution's current. Shockley's φ is closed form; a device's φ
// changes are integrated by 4-point Gauss-Legendre over pieces of at most
// 1/64 of its window (10 mV without one), split at 0, the window's ends and
// the device's breakpoints (a spline's knots): exact for a fitted cubic
// spline.
// Stopping rule: scaled residual <= tolerance (below), or max_iterations.
//
// Residuals are componentwise and scaled by the magnitude of the currents
// meeting at each node, so 1e-12 means "12 digits of KCL":
//   ideal:    max_j max( max(−v_j,0)/‖v‖∞, max(−w_j,0)/r_j, min(|w_j|/r_j, |v_j|/‖v‖∞) )
//   diode law: max_j |Gv − s − i(v)|_j / (r_j + |i_j|)
//   with r_j = Σ_k |G_jk v_k| + |s_j|.
//
//   spicenn::models::mon_ideal_solver solver(G);
//   Eigen::VectorXd v(n);
//   auto report = solver.solve(s, v);   // report.iterations, report.residual
//   Eigen::VectorXd lambda(n);
//   solver.adjoint(dL_dv, lambda);      // G_FF λ_F = ∂L/∂v_F on free nodes, λ = 0 on clamped ones
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "devices/device.hpp"

namespace spicenn::models {

// Diode law in normalized units, anode at ground and cathode at the node:
// the Shockley closed form (is = I_s / ampere, vt = n·V_T / volt), or, when
// `device` is set, that device's own I-V curve, i(v) = I(−v·volt) / ampere.
struct mon_diode_law {
  double is = 0.0;
  double vt = 1.0;
  std::shared_ptr<const devices::device> device;  // null: the Shockley closed form
  double volt = 1.0;                              // the model's scale (device laws)
  double ampere = 1.0;
  std::vector<double> breaks;                     // device volts where the curve may kink (of_device)
  double piece = 0.01;                            // longest quadrature piece, device volts

  // The law of a device under the model's scale.
  static mon_diode_law of_device(std::shared_ptr<const devices::device> d, double volt, double ampere);

  // Current into the node at node voltage v.
  double current(double v) const;
  // Small-signal conductance g_d = −di/dv; a fitted device's may dip
  // slightly below zero where the fit rings (bounded by the monotonicity
  // check; Newton steps then take max(g_d, 0) if G + diag(g_d) is not
  // positive definite).
  double conductance(double v) const;
  // φ(b) − φ(a) (the diode's share of the energy; φ' = −i); may be +inf.
  double energy_change(double a, double b) const;
  // Node voltage (<= 0) at which the diode carries current i >= 0 into the
  // node; for a device whose current saturates below i, the end of its window.
  double voltage_for_current(double i) const;
};

struct mon_solve_report {
  int iterations = 0;      // linear solves: active-set steps (ideal) or Newton steps (diode law)
  double residual = 0.0;   // scaled residual, see above
  bool converged = false;  // residual <= tolerance
  bool fallback = false;   // ideal: the monotone restart was needed
};

// The circuit linearized at an equilibrium, ready for adjoint (= small-signal)
// solves: λ_F = (K_FF)⁻¹ rhs_F on the nodes F that stay in the small-signal
// circuit, λ = 0 on the others (shorted by a conducting ideal diode), with
// K = G (ideal) or G + diag(g_d) (a diode law: F = all nodes).
// Stored either as the Cholesky factor of K_FF (side::free; `nodes` = F) or,
// for ideal diodes with few conducting diodes, as the factor of (G⁻¹)_CC over
// the clamped nodes C (side::clamped; `nodes` = C), using
//   λ = G⁻¹ r̃ + (G⁻¹)_{:,C} ν,  (G⁻¹)_CC ν = −(G⁻¹ r̃)_C,  r̃ = rhs with C zeroed.
struct mon_linearization {
  enum class side { free, clamped };
  side kind = side::free;
  std::vector<int> nodes;
  Eigen::MatrixXd factor;  // nodes.size() square, lower triangle used
  // G_inverse is needed for side::clamped (the stage's G⁻¹).
  void solve(const Eigen::Ref<const Eigen::VectorXd>& rhs, Eigen::Ref<Eigen::VectorXd> lambda,
             const Eigen::MatrixXd* G_inverse = nullptr) const;
};

struct mon_solver_settings {
  double tolerance = 1e-12;
  int max_iterations = 200;     // hard cap; the ideal solver needs at most n + a few
  int active_set_restart = 12;  // ideal: active-set steps before the monotone restart
};

// Scaled residuals (independent of the solvers, used by them and by tests).
double mon_ideal_residual(const Eigen::MatrixXd& G, const Eigen::Ref<const Eigen::VectorXd>& s,
                          const Eigen::Ref<const Eigen::VectorXd>& v);
double mon_law_residual(const Eigen::MatrixXd& G, const Eigen::Ref<const Eigen::VectorXd>& s, const mon_diode_law& law,
                        const Eigen::Ref<const Eigen::VectorXd>& v);

// Ideal-diode solver for one G, reusable across samples (holds workspace; one
// per thread). G (and G_inverse if given) must outlive the solver; G must be
// a positive definite M-matrix. With G_inverse, steps where fewer nodes are
// clamped than free solve the smaller system (G⁻¹)_CC instead of G_FF.
class mon_ideal_solver {
 public:
  explicit mon_ideal_solver(const Eigen::MatrixXd& G, const Eigen::MatrixXd* G_inverse = nullptr,
                            mon_solver_settings settings = {});

  // How a guess is used: active_set = primal-dual active-set steps from it;
  // monotone = it is {u > 0} for u = G⁻¹s (or another subset of the
  // solution's support with a nonnegative restricted solution), so the
  // solver only adds nodes (Chandrasekaran).
  enum class start { active_set, monotone };

  // Solves for v and evaluates the residual. `guess` (optional, size n):
  // nonzero where v > 0 is expected; default {u > 0}. `u`: G⁻¹s if known.
  mon_solve_report solve(const Eigen::Ref<const Eigen::VectorXd>& s, Eigen::Ref<Eigen::VectorXd> v,
                         std::span<const std::uint8_t> guess = {}, start how = start::active_set,
                         const Eigen::VectorXd* u = nullptr);

  // For batches: the same without a separate residual evaluation: report.residual
  // is that of the last step when it was a free-side step (whose product
  // G_{:,F} v_F gives every node's current), NaN after a clamped-side step;
  // converged means "the active set settled". Callers check the residual
  // (computing it where it is NaN) and call polish() where it misses the tolerance.
  mon_solve_report solve_sets(const Eigen::Ref<const Eigen::VectorXd>& s, const Eigen::Ref<const Eigen::VectorXd>& u,
                              Eigen::Ref<Eigen::VectorXd> v, std::span<const std::uint8_t> guess, start how);
  // Re-solves on the free set of v (nodes with v > 0) with a fresh factor of
  // G_FF, then finishes like solve(). For v from a clamped-side step whose
  // residual suffers from the conditioning of G⁻¹.
  mon_solve_report polish(const Eigen::Ref<const Eigen::VectorXd>& s, Eigen::Ref<Eigen::VectorXd> v);

  // The factor at the last solution.
  mon_linearization linearization() const;
  void adjoint(const Eigen::Ref<const Eigen::VectorXd>& rhs, Eigen::Ref<Eigen::VectorXd> lambda) const;

 private:
  enum class side { none, free, clamped };
  void set_free(const std::vector<std::uint8_t>& flags);
  bool factor_free();                                      // idx_ := free nodes, factor G_FF
  bool factor_clamped();                                   // idx_ := clamped nodes, factor (G⁻¹)_CC
  bool append_free(int first_new);                         // extend the free factor by idx_[first_new..fm_)
  void solve_factor(Eigen::Ref<Eigen::VectorXd> b) const;  // b := (factored block)⁻¹ b
  mon_solve_report run(const Eigen::Ref<const Eigen::VectorXd>& s, const Eigen::Ref<const Eigen::VectorXd>& u,
                       Eigen::Ref<Eigen::VectorXd> v, bool monotone);
  double residual(const Eigen::Ref<const Eigen::VectorXd>& s, const Eigen::Ref<const Eigen::VectorXd>& v);
  double free_side_residual(const Eigen::Ref<const Eigen::VectorXd>& s, const Eigen::Ref<const Eigen::VectorXd>& v);

  const Eigen::MatrixXd& G_;
  const Eigen::MatrixXd* K_;  // G⁻¹ or null
  Eigen::MatrixXd G_abs_;
  mon_solver_settings settings_;
  Eigen::Index n_;
  Eigen::MatrixXd L_;     // n×n buffer; top-left fm_×fm_ lower triangle is the factor
  std::vector<int> idx_;  // nodes of the factored block, in factor order
  int fm_ = 0;            // size of the factored block
  side side_ = side::none;
  std::vector<std::uint8_t> free_;  // n flags: node free (v > 0 side)
  int m_free_ = 0;
  std::vector<std::uint8_t> next_;
  Eigen::VectorXd rhs_, w_, u_, tmp_;
  Eigen::LLT<Eigen::MatrixXd> full_;  // of G, for u = G⁻¹ s without G_inverse
  bool have_full_ = false;
  bool force_free_ = false;
  bool m_matrix_ = true;        // off-diagonal entries of G <= 0
  bool have_residual_ = false;  // residual_ is that of the last free-side step's v
  double residual_ = 0.0;
};

// Solver for a diode law (Shockley or a device's curve; one per thread).
class mon_law_solver {
 public:
  mon_law_solver(const Eigen::MatrixXd& G, mon_diode_law law, mon_solver_settings settings = {});

  // v on entry: starting point; on exit: the solution. keep_factor: leave the
  // Cholesky factor of G + diag(g_d(v*)) for linearization()/adjoint().
  mon_solve_report solve(const Eigen::Ref<const Eigen::VectorXd>& s, Eigen::Ref<Eigen::VectorXd> v, bool keep_factor = true);
  // Starting point from the ideal-diode solution (v_ideal, w = G v_ideal − s).
  void start_from_ideal(const Eigen::Ref<const Eigen::VectorXd>& s, Eigen::Ref<Eigen::VectorXd> v) const;

  mon_linearization linearization() const;
  void adjoint(const Eigen::Ref<const Eigen::VectorXd>& rhs, Eigen::Ref<Eigen::VectorXd> lambda) const;

 private:
  const Eigen::MatrixXd& G_;
  mon_diode_law law_;
  mon_solver_settings settings_;
  Eigen::Index n_;
  Eigen::MatrixXd G_abs_;  // |G|, for the residual scale
  Eigen::MatrixXd K_;      // G + diag(g_d), then its factor in place
  Eigen::VectorXd grad_, step_, trial_, cur_, gd_, Gv_;
};

}  // namespace spicenn::models
