// Evaluators for the KirchhoffNet family (docs/models.md §3):
//
//   software  models::kirchhoffnet (Dormand-Prince 5(4) at the options'
//             ode_rtol / ode_atol; gradients by the discrete adjoint)
//   spice     embedded ngspice: one transient per sample (initial
//             conditions altered in place); gradients by physics-aware
//             training — the software adjoint of each slice re-anchored to
//             the SPICE state at the slice start
//
// Finite differences through ngspice: cosim::make_fd_evaluator.
//
// Normally reached through cosim::make_evaluator.
#pragma once

#include <memory>
#include <vector>

#include <Eigen/Core>

#include "cosim/evaluator.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

std::unique_ptr<evaluator> make_kirchhoffnet_software_evaluator(const ir::model& m,
                                                                const evaluator_options& options = {});
std::unique_ptr<evaluator> make_kirchhoffnet_spice_evaluator(const ir::model& m, const evaluator_options& options = {});

// The node voltages of one sample over time, from the software ODE
// (options' ode tolerances; Hermite interpolation between its steps) and
// from ngspice's transient (the evaluator's netlist and tolerances; linear
// interpolation between its points), at `points` equally spaced normalized
// times from 0 to T inclusive.
struct kirchhoffnet_trajectories {
  std::vector<double> times;  // normalized
  Eigen::MatrixXd software;   // nodes × times
  Eigen::MatrixXd spice;      // nodes × times
};
kirchhoffnet_trajectories kirchhoffnet_trajectory(const ir::model& m, const Eigen::VectorXd& x, std::size_t points,
                                                  const evaluator_options& options = {});

}  // namespace spicenn::cosim
