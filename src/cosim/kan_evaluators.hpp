// Evaluators for the device-basis KAN family (docs/models.md §1):
//
//   software  models::kan (batched layers; batch normalization in training
//             mode for gradients, running statistics for forward passes)
//   spice     embedded ngspice: forward values (outputs, hidden activations,
//             every sensed basis current) from a batched DC sweep; gradients
//             from the sweep's basis values and the device small-signal
//             conductances of one `ac` solve per sample, propagated through
//             the crossbar layer by layer (docs/cosimulation.md)
//
// Finite differences through ngspice: cosim::make_fd_evaluator.
// Normally reached through cosim::make_evaluator.
//
//   auto eval = spicenn::cosim::make_kan_spice_evaluator(model, {.threads = 2});
//   auto g = eval->gradient(x, labels);
//   auto* spice = dynamic_cast<spicenn::cosim::kan_spice_evaluator*>(eval.get());
//   spice->last_stats().ac_runs;
#pragma once

#include <Eigen/Core>
#include <memory>
#include <string>

#include "cosim/evaluator.hpp"
#include "cosim/spice_engines.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

std::unique_ptr<evaluator> make_kan_software_evaluator(const ir::model& m, const evaluator_options& options = {});

using kan_spice_stats = spice_stats;  // cosim/spice_engines.hpp

class kan_spice_evaluator : public evaluator {
 public:
  // The compiled netlist (folded model, un-batched) handed to the sweep.
  virtual const std::string& netlist() const = 0;
  virtual const kan_spice_stats& last_stats() const = 0;
  // Basis values Φ per layer read from the circuit by the last forward or
  // gradient call ((bases·inputs) × batch, as models::kan_layer_state::phi).
  virtual const std::vector<Eigen::MatrixXd>& last_basis_values() const = 0;
  // Device slopes ∂Φ/∂x per layer from the last gradient call's ac solves.
  virtual const std::vector<Eigen::MatrixXd>& last_basis_slopes() const = 0;
};

std::unique_ptr<kan_spice_evaluator> make_kan_spice_evaluator(const ir::model& m, const evaluator_options& options = {});

// The batched sweep deck (with `.dc` and `.print dc` of the outputs) for
// inputs x, for `ngspice -b` and `spicenn compile --data`.
std::string kan_sweep_deck(const ir::model& m, const Eigen::MatrixXd& x);

}  // namespace spicenn::cosim
