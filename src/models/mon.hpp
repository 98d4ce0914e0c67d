// Software model of the resistor-diode monotone operator network (MON,
// models.md §2): typed parameters built from an ir::model, exact batched
// equilibrium (ideal or Shockley diodes, cascaded stages), and gradients of a
// loss with respect to every parameter tensor and the inputs by implicit
// differentiation (the adjoint is the small-signal solve of the same circuit).
//
//   auto net = spicenn::models::mon_network::from_model(model);  // devices from the builtin registry
//   auto fwd = spicenn::models::mon_forward(net, x);              // x: inputs × batch
//   Eigen::MatrixXd dy;
//   double loss = spicenn::models::softmax_cross_entropy(fwd.y, labels, &dy);
//   auto grad = spicenn::models::mon_backward(net, fwd, dy);
//   grad.parameters.at("stage0.h_pos");   // ∂L/∂h_pos, row-major like the ir tensor
//   fwd.stages[0].v;                      // node voltages, hidden × batch
//   grad.lambda[0];                       // adjoint node voltages λ, hidden × batch
//
// Batches: G, G⁻¹ and |G| depend only on the parameters, so one network
// serves every sample. The forward pass computes the sources S = H X + bias
// and the unconstrained solutions U = G⁻¹S as matrix products, finishes every
// sample exactly with an active-set solve started from {U > 0} (each step
// factors or extends G_FF over the free nodes, or with
// mon_options::inverse_side the smaller of that and (G⁻¹)_CC over the clamped
// ones; see mon_equilibrium.hpp), and checks every sample's KKT residual
// (from the step's product G_{:,F} v_F, or two matrix products after a
// clamped-side step). Mostly-zero inputs (MNIST pixels) are multiplied over
// their nonzeros (mon_kernels.hpp). With Shockley diodes
// each sample's ideal solution starts a damped Newton solve of the diode
// equations (a dense n×n factorization per step). Samples are spread over
// `threads` std::threads (results agree to rounding for any thread count).
//
// Parameters are copied: rebuild the network (cheap) after the ir::model's
// tensors change.
#pragma once

#include <Eigen/Core>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "devices/device.hpp"
#include "ir/model.hpp"
#include "models/mon_equilibrium.hpp"
#include "models/tensor_eigen.hpp"

namespace spicenn::models {

// ideal: the ReLU clamp (an LCP); shockley: the Shockley law; device: the
// diode device's own I-V curve (option diode = device; a Shockley device's
// curve is its closed form).
enum class mon_diode_kind { ideal, shockley, device };

// One stage: hidden nodes over ground, driven by `inputs` voltage sources.
struct mon_stage {
  Eigen::Index inputs = 0;
  Eigen::Index hidden = 0;
  // The parameters (as in the ir tensors stage{s}.*).
  Eigen::MatrixXd g_between;  // hidden × hidden, symmetric, zero diagonal, >= 0
  Eigen::VectorXd g_ground;   // hidden, >= 0
  Eigen::VectorXd bias;       // hidden, injected currents
  // The input conductances h_pos, h_neg (hidden × inputs, >= 0, to +x_k and
  // −x_k) enter the circuit only through these two, which set_inputs()
  // derives from them (the stage keeps no copy of them: rebuilding the
  // network after a training step reads them once).
  Eigen::MatrixXd H;          // h_pos − h_neg: s = H x + bias
  Eigen::VectorXd h_row_sum;  // Σ_k (h_pos + h_neg)_jk: each node's conductance to the inputs
  // Derived by assemble().
  Eigen::MatrixXd G;          // Laplacian(g_between) + diag(g_ground + h_row_sum)
  Eigen::MatrixXd G_abs;      // |G| (residual scales)
  Eigen::MatrixXd G_inverse;  // G⁻¹ >= 0 (an M-matrix inverse)
  double pr_alpha = 1.0;      // Peaceman-Rachford step, 1/sqrt(λmin·λmax) estimated
  double jacobi_contraction = 0.0;  // max_j Σ_{k≠j} |G_jk| / G_jj (< 1 when every node has a path to ground or an input)

  // H and h_row_sum from h_pos and h_neg, row-major hidden × inputs like the
  // ir tensors (sets `inputs`).
  void set_inputs(const Eigen::Ref<const row_major_matrix>& h_pos, const Eigen::Ref<const row_major_matrix>& h_neg);
  // Builds the derived members; throws spicenn::validation_error (naming
  // stage{index}.g_ground) when G is singular, i.e. some group of nodes has
  // no conductance to ground or to an input.
  void assemble(int index);
  // s = H x + bias for every column of x.
  Eigen::MatrixXd sources(const Eigen::Ref<const Eigen::MatrixXd>& x) const;
};

// G = Laplacian(g_between) + diag(g_ground + h_row_sum): the conductance
// matrix of one stage (hidden × hidden), h_row_sum = Σ_k (h_pos + h_neg)_jk.
Eigen::MatrixXd mon_conductance_matrix(const Eigen::MatrixXd& g_between, const Eigen::VectorXd& g_ground,
                                       const Eigen::VectorXd& h_row_sum);

// The stages of a MON model with their derived members (G, H, G⁻¹), for
// code that needs the circuit's conductances but not its diode law (the
// SPICE evaluator's plausibility bounds, verify's deviation bound). Throws
// spicenn::validation_error like mon_network::from_model.
std::vector<mon_stage> mon_stages_from_model(const ir::model& model);

class mon_network {
 public:
  mon_diode_kind diode = mon_diode_kind::ideal;
  mon_diode_law law;  // normalized; used unless diode == ideal
  std::vector<mon_stage> stages;
  Eigen::MatrixXd readout_weight;  // outputs × hidden
  Eigen::VectorXd readout_bias;    // outputs

  Eigen::Index inputs() const { return stages.front().inputs; }
  Eigen::Index hidden() const { return stages.front().hidden; }
  Eigen::Index outputs() const { return readout_weight.rows(); }

  // Validates what the MON needs (family, sizes, option diode, every tensor's
  // presence, shape, sign and symmetry, and that G is nonsingular) and throws
  // spicenn::validation_error naming the offending size, option or tensor.
  // `diode`: the diode device's Shockley parameters (SI); required when the
  // option diode is "shockley", ignored for "ideal"; "device" is refused
  // (it needs the device itself).
  static mon_network from_model(const ir::model& model, const devices::shockley_parameters* diode);
  // `diode`: the diode device (SI), any monotone device; its curve is the
  // law for option diode = "device" (its Shockley parameters for "shockley").
  static mon_network from_model(const ir::model& model, std::shared_ptr<const devices::device> diode);
  // Looks up the device with role "diode": builtins in `registry` (which must
  // outlive the network), library devices from their file (mon_devices.cpp).
  static mon_network from_model(const ir::model& model, const devices::registry& registry);
  // Same with devices::builtin_devices().
  static mon_network from_model(const ir::model& model);
};

// Where the ideal-diode active-set solve starts.
enum class mon_warm_start {
  // {G⁻¹s > 0}: inside the solution's free set with a nonnegative restricted
  // solution (M-matrix), so the solver only adds nodes (Chandrasekaran): at
  // most n steps, typically 1-3. The fastest in bench_mon_software.
  unconstrained,
  // The positive set after warm_start_iterations batched Peaceman-Rachford
  // iterations (monDEQ's solver, one n×n×batch product each); then
  // primal-dual active-set steps. Fewer steps (≈1), more matrix products.
  peaceman_rachford,
};

// Arithmetic of the ideal-diode forward pass for inference.
enum class mon_precision {
  // float64 throughout: the exact active-set solve, scaled residual <= tolerance (1e-12).
  float64,
  // Inference with ideal diodes (keep_for_backward = false): the sources, and
  // the equilibrium by the projected Jacobi iteration
  //   V ← max(0, D⁻¹(S + A V)),  G = D − A (D its diagonal),  V₀ = max(0, G⁻¹S),
  // on blocks of 128 samples in float32 (one n×n×128 product per
  // iteration). G is an M-matrix with D ≥ A's row sums (every node's own
  // conductances include those to its neighbours), so the map is a
  // contraction in ∞-norm with factor max_j Σ_k A_jk / D_jj (mon_stage::
  // jacobi_contraction) and converges to the unique equilibrium. The product
  // A V also gives the current V's scaled KKT residual (the float64 solver's
  // measure, of the problem rounded to float32): a sample leaves the block
  // once its residual is <= float32_tolerance; samples still above it after
  // float32_max_iterations are solved exactly in float64. The same measure of
  // the float64 problem is larger by the rounding of the sources H x (up to
  // ~5e-6 in the tests, whose bound is 2·float32_tolerance). Stages whose
  // contraction factor exceeds 0.7, training (keep_for_backward) and diode
  // laws always use float64.
  float32,
};

struct mon_options {
  double tolerance = 1e-12;  // scaled residual every sample must reach (see mon_equilibrium.hpp)
  mon_precision precision = mon_precision::float64;
  double float32_tolerance = 1e-5;  // float32: scaled residual (float32 rounding alone gives ~1e-7)
  int float32_max_iterations = 60;  // float32: Jacobi iterations before the float64 solve takes over
  int max_iterations = 200;  // Newton steps per sample (Shockley); the ideal solver needs <= n + 13
  mon_warm_start warm_start = mon_warm_start::unconstrained;
  int warm_start_iterations = 4;    // Peaceman-Rachford only
  // Ideal diodes: let active-set steps solve on the clamped nodes through G⁻¹
  // ((G⁻¹)_CC) when fewer are clamped than free. Off: every step factors G_FF,
  // whose factor grows by appends and whose product G_{:,F} v_F also gives
  // every sample's residual (faster in bench_mon_software).
  bool inverse_side = false;
  int threads = 0;                  // 0: std::thread::hardware_concurrency()
  bool require_convergence = true;  // throw spicenn::error if a sample misses the tolerance
};

struct mon_stage_result {
  Eigen::MatrixXd x;                              // the stage's inputs (inputs × batch); empty for stage 0 unless kept
  Eigen::MatrixXd v;                              // equilibrium node voltages (hidden × batch)
  std::vector<mon_solve_report> reports;          // per sample
  std::vector<mon_linearization> linearizations;  // per sample, when kept for the backward pass
};

struct mon_forward_result {
  std::vector<mon_stage_result> stages;
  Eigen::MatrixXd y;  // outputs × batch

  int max_iterations() const;
  double mean_iterations() const;  // over samples and stages
  double max_residual() const;
  bool converged() const;
  int fallbacks() const;  // samples that needed the ideal solver's monotone restart
};

// keep_for_backward: keep stage-0 inputs and per-sample factorizations for
// mon_backward (training); false for inference.
mon_forward_result mon_forward(const mon_network& net, const Eigen::MatrixXd& x, const mon_options& options = {},
                               bool keep_for_backward = true);

// ∂L/∂(parameters) summed over the batch, each stage's element formulas
// applied to (x, v, λ) of that stage.
struct mon_stage_gradient {
  Eigen::MatrixXd g_between;  // ∂L/∂g_ab at (a,b) and (b,a); zero diagonal
  Eigen::VectorXd g_ground;
  Eigen::MatrixXd h_pos;
  Eigen::MatrixXd h_neg;
  Eigen::VectorXd bias;
};

// The element formulas, for a batch (columns = samples; sums over columns):
//   ∂L/∂g_ab = −Σ (v_a − v_b)(λ_a − λ_b)     ∂L/∂g_ground_j = −Σ λ_j v_j
//   ∂L/∂h_pos_jk = −Σ λ_j (v_j − x_k)        ∂L/∂h_neg_jk = −Σ λ_j (v_j + x_k)
//   ∂L/∂bias_j = Σ λ_j
// x: the stage's inputs, v: its node voltages, λ: the adjoint node voltages
// (the response of the linearized circuit to injected currents ∂L/∂v). The
// SPICE co-simulation calls this with v and λ read from ngspice.
mon_stage_gradient mon_element_gradients(const Eigen::MatrixXd& x, const Eigen::MatrixXd& v, const Eigen::MatrixXd& lambda);
// ∂L/∂x = Hᵀ λ (per column): what the previous stage (or the data) receives.
Eigen::MatrixXd mon_input_gradient(const mon_stage& stage, const Eigen::MatrixXd& lambda);
// Stores a stage's gradient under the ir tensor names stage{index}.*, row-major.
void mon_store_gradient(int index, const mon_stage_gradient& g, std::map<std::string, std::vector<double>>& out);
// Readout y = C v + e: stores ∂L/∂C = Σ dL_dy v_lastᵀ and ∂L/∂e = Σ dL_dy as
// readout.weight / readout.bias.
void mon_store_readout_gradient(const Eigen::MatrixXd& dL_dy, const Eigen::MatrixXd& v_last,
                                std::map<std::string, std::vector<double>>& out);

struct mon_gradients {
  std::map<std::string, std::vector<double>> parameters;  // by ir tensor name, row-major like the tensor
  Eigen::MatrixXd inputs;                                 // ∂L/∂X (inputs × batch), if requested
  std::vector<Eigen::MatrixXd> lambda;                    // per stage: adjoint node voltages (hidden × batch)
};

// dL_dy: ∂L/∂y (outputs × batch) for the loss L of the whole batch.
mon_gradients mon_backward(const mon_network& net, const mon_forward_result& forward, const Eigen::MatrixXd& dL_dy,
                           const mon_options& options = {}, bool input_gradient = true);

}  // namespace spicenn::models
