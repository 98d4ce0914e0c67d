// Evaluators for the resistor-diode MON family (models.md §2), one per engine:
//
//   software            models::mon (exact equilibrium, implicit gradient)
//   spice               embedded ngspice: forward values from a batched DC
//                       sweep, gradients by hardware linearization (per stage
//                       one nudged batched sweep for a piecewise-linear
//                       diode, else one `ac` small-signal solve per sample
//                       and stage)
// (finite differences through ngspice are family-agnostic:
// cosim::make_fd_evaluator in evaluator.hpp.)
//
// Normally reached through cosim::make_evaluator; constructed directly by
// tests and the benchmark.
//
//   auto eval = spicenn::cosim::make_mon_spice_evaluator(model, {.threads = 2});
//   auto g = eval->gradient(x, labels);
//   auto* spice = dynamic_cast<spicenn::cosim::mon_spice_evaluator*>(eval.get());
//   spice->last_stats().ac_runs;   // what the last call cost
//
// The gradient formulas and how each quantity is read from ngspice are
// described in docs/cosimulation.md.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "cosim/evaluator.hpp"
#include "cosim/spice_engines.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

// ---------------------------------------------------------------- software

std::unique_ptr<evaluator> make_mon_software_evaluator(const ir::model& m, const evaluator_options& options = {});

// ---------------------------------------------------------------- spice

using mon_spice_stats = spice_stats;  // cosim/spice_engines.hpp

class mon_spice_evaluator : public evaluator {
 public:
  ~mon_spice_evaluator() override = default;
  // The compiled (un-batched) netlist of the current model, as handed to the
  // batch sweep; for inspection and tests.
  virtual const std::string& netlist() const = 0;
  virtual const mon_spice_stats& last_stats() const = 0;
  // Largest |node voltage| (volts) accepted from ngspice before a result is
  // called implausible; derived from the model in set_model (see .cpp).
  virtual double voltage_bound() const = 0;
  // Whether gradient() reads λ by nudged sweeps (evaluator_options::mon_gradient).
  virtual bool nudged_gradient() const = 0;
};

std::unique_ptr<mon_spice_evaluator> make_mon_spice_evaluator(const ir::model& m, const evaluator_options& options = {});

// The deck a spice evaluator's forward pass loads for inputs x (inputs ×
// samples, normalized), plus `.dc` over the sample index and `.print dc` of
// the outputs, so that the same batched sweep runs in `ngspice -b` (e.g. to
// count its Newton iterations with `rusage`). `spicenn compile --data`.
// literal_input_pairs: see compiler::mon_compile_options.
std::string mon_sweep_deck(const ir::model& m, const Eigen::MatrixXd& x, bool literal_input_pairs = false);

}  // namespace spicenn::cosim
