// Software model of the KirchhoffNet (docs/models.md §3): node voltages of a
// circuit of capacitors to ground and nonlinear edges, integrated through
// time slices, with gradients by the discrete adjoint of the steps taken.
//
//   C_i dv_i/dt = Σ_{e=(j→i)} f(v_j, v_i; θ_e) − Σ_{e=(i→k)} f(v_i, v_k; θ_e)
//   v(0) = x on nodes 1..inputs, 0 elsewhere;  outputs = v(T) on the output nodes
//
//   auto net = spicenn::models::kn_network::from_model(model);
//   auto fwd = spicenn::models::kn_forward(net, x, {.rtol = 1e-6, .atol = 1e-6});
//   auto g = spicenn::models::kn_loss_gradient(net, x, labels, {});   // mean cross-entropy
//   g.theta[0];                                 // ∂L/∂slice0.theta, row-major like the ir tensor
//
// Integration: Boost.Odeint's Dormand-Prince 5(4) (runge_kutta_dopri5) in a
// controlled stepper, with the reference's error norm (torchdiffeq): the
// root mean square over the state of err / (atol + rtol·|v|), a step accepted
// when that is ≤ 1. Samples are integrated in fixed groups of `group`
// columns that share their adaptive steps (as a torchdiffeq batch does);
// groups run on `threads` std::threads and a result does not depend on the
// thread count.
//
// Gradient: the discrete adjoint of the accepted steps. The forward pass
// keeps the state at every accepted step; the backward pass recomputes each
// step's six stages and propagates λ = ∂L/∂v through them (reverse-mode of
// the Runge-Kutta formula), accumulating ∂L/∂θ from the edge partials. It
// is the exact derivative of the computed forward value for fixed step
// sizes (the step-size choice itself is not differentiated, as in
// torchdiffeq), so it agrees with finite differences to O(tolerance) and
// to rounding at tight tolerances. Cost: ~2.3× the forward's right-hand-side
// evaluations; memory: one state per accepted step.
//
// Kernels: the state of a group is (nodes+1) blocks of `group` values
// (block 0 = ground, always 0), so each edge reads and updates two
// contiguous blocks and the per-edge loop vectorizes over the samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "ir/edge_functions.hpp"
#include "ir/model.hpp"

namespace spicenn::models {

struct kn_tolerances {
  double rtol = 1e-3;
  double atol = 1e-3;
  double first_step = 1e-2;  // normalized time units
  // Samples integrated together; they share their adaptive steps.
  std::size_t group = 16;
  int threads = 0;                // 0 = every hardware thread
  std::size_t max_steps = 100000;  // per slice and group; more is an error naming the slice
};

struct kn_slice {
  std::vector<std::uint32_t> source, destination;  // per edge; 0 = ground
  std::vector<double> theta;                       // edges × theta_count, row-major
  double duration = 0.0;
};

struct kn_network {
  std::size_t inputs = 0, nodes = 0, theta_count = 0;
  const ir::edge_function* law = nullptr;
  std::vector<double> inverse_capacitance;  // per node 1..nodes
  std::vector<std::size_t> output_nodes;    // 1-based
  std::vector<kn_slice> slices;

  static kn_network from_model(const ir::model& m);  // validates m
  std::size_t outputs() const { return output_nodes.size(); }
};

struct kn_stats {
  std::size_t accepted_steps = 0;  // summed over slices and groups
  std::size_t rejected_steps = 0;
  std::size_t rhs_evaluations = 0;  // per group (each evaluates every edge for `group` samples)
  std::size_t groups = 0;
};

struct kn_forward_result {
  Eigen::MatrixXd outputs;                   // outputs × batch
  std::vector<Eigen::MatrixXd> slice_states;  // per slice: the state v(end of slice), nodes × batch
  kn_stats stats;
};

kn_forward_result kn_forward(const kn_network& net, const Eigen::MatrixXd& x, const kn_tolerances& tol = {});

// The state at the given normalized times (ascending, in [0, T]) for every
// sample: times.size() matrices of nodes × batch. For plots of trajectories
// (dense output of the same integration).
std::vector<Eigen::MatrixXd> kn_trajectory(const kn_network& net, const Eigen::MatrixXd& x,
                                           std::span<const double> times, const kn_tolerances& tol = {});

struct kn_gradient {
  kn_forward_result forward;
  std::vector<std::vector<double>> theta;  // per slice: ∂/∂slice{k}.theta, row-major
  Eigen::MatrixXd inputs;                  // ∂/∂x (inputs × batch)
  std::size_t backward_rhs_evaluations = 0;  // stage recomputations, summed over groups (plus as many VJPs)
};

// Reverse pass for an arbitrary seed ∂L/∂outputs (outputs × batch).
using kn_output_seed = std::function<Eigen::MatrixXd(const Eigen::MatrixXd& outputs)>;
kn_gradient kn_backward(const kn_network& net, const Eigen::MatrixXd& x, const kn_output_seed& seed,
                        const kn_tolerances& tol = {});

// The adjoint of slice k alone, from a given start state (nodes × batch,
// e.g. read from SPICE) and ∂L/∂v at the slice end (nodes × batch): ∂L/∂v at
// the slice start and ∂L/∂slice{k}.theta. What physics-aware training
// re-anchors at every slice boundary.
struct kn_slice_adjoint {
  Eigen::MatrixXd lambda_start;  // nodes × batch
  std::vector<double> theta;     // row-major like slice{k}.theta
  Eigen::MatrixXd end_state;     // the software model's state at the slice end from `start`
};
kn_slice_adjoint kn_slice_backward(const kn_network& net, std::size_t k, const Eigen::MatrixXd& start,
                                   const Eigen::MatrixXd& lambda_end, const kn_tolerances& tol = {});

// Mean softmax cross-entropy over the batch (outputs are the logits) and its gradient.
struct kn_loss_result {
  double loss = 0.0;
  kn_gradient gradient;
};
kn_loss_result kn_loss_gradient(const kn_network& net, const Eigen::MatrixXd& x, std::span<const int> labels,
                                const kn_tolerances& tol = {});

}  // namespace spicenn::models
