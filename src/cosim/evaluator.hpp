// The one interface training, evaluation and verification talk to: a model
// evaluated by some engine — the C++ software model, ngspice (forward from
// the operating point, gradient from the circuit's own linearization), or
// finite differences through ngspice. Every family implements it, so the
// training loop, optimizer, data sets, batching, CLI verbs and verification
// are written once.
//
//   auto eval = spicenn::cosim::make_evaluator(model, spicenn::cosim::engine_kind::spice);
//   auto fwd = eval->forward(x);                  // x: inputs × batch (normalized units)
//   auto g = eval->gradient(x, labels);           // mean softmax cross-entropy over the batch
//   g.parameters.at("stage0.g_ground");           // ∂L/∂θ, row-major like the ir tensor
//   ... optimizer changes model ...
//   eval->set_model(model);                       // before the next batch
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "ir/model.hpp"

namespace spicenn::cosim {

enum class engine_kind {
  software,            // the family's C++ model (exact equilibrium, implicit gradients)
  spice,               // embedded ngspice: forward and gradient read from the circuit
  finite_differences,  // gradient by central differences of ngspice forward runs (small models only)
};
std::string_view to_string(engine_kind k);
engine_kind engine_kind_from_string(std::string_view name);  // throws spicenn::error listing the names

// How tightly the KirchhoffNet spice engine integrates its transients.
enum class spice_transient {
  precise,   // reltol 1e-7, trtol 1, largest step T/1000: ~1e-5 of the signal scale from the exact ODE
  standard,  // ngspice's default tolerances (reltol 1e-3), steps chosen by its truncation-error control
             // (at most T/20): ~10x fewer points, a few percent of the output scale on trained MNIST
             // networks (docs/kirchhoffnet.md "Transient cost"); for evaluating image-size models
};
std::string_view to_string(spice_transient t);
spice_transient spice_transient_from_string(std::string_view name);  // throws spicenn::error listing the names

struct evaluator_options {
  int threads = 0;                 // worker threads (software) or ngspice instances (spice); 0 = all cores
  std::size_t spice_chunk = 500;   // samples per ngspice DC sweep
  double fd_step = 1e-6;           // relative step for finite differences
  // gradient() also returns ∂L/∂x. Training does not need it; engines that
  // can skip it (KAN software) then leave loss_gradient::inputs empty.
  bool input_gradient = true;
  // KirchhoffNet: the ODE integrator's tolerances (software engine).
  double ode_rtol = 1e-3;
  double ode_atol = 1e-3;
  // KirchhoffNet spice engine: gradients from the circuit adjoint (a backward
  // transient of the linearized, time-reversed circuit in ngspice) instead of
  // the physics-aware software adjoint.
  bool circuit_adjoint = false;
  spice_transient transient = spice_transient::precise;  // KirchhoffNet spice engine
};

// Forward values for a batch (columns = samples).
struct evaluation {
  Eigen::MatrixXd outputs;              // outputs × batch (normalized units)
  std::vector<Eigen::MatrixXd> hidden;  // per stage / layer: hidden state × batch
};

// Mean softmax cross-entropy over the batch and its gradient.
struct loss_gradient {
  double loss = 0.0;
  evaluation forward;
  std::map<std::string, std::vector<double>> parameters;  // ∂L/∂θ for every trainable tensor
  Eigen::MatrixXd inputs;                                 // ∂L/∂x (inputs × batch)
  // New values of non-trainable state tensors (e.g. batch-norm running
  // statistics), copied into the model by the trainer after the step.
  std::map<std::string, std::vector<double>> buffers;
};

class evaluator {
 public:
  virtual ~evaluator() = default;
  virtual engine_kind kind() const = 0;
  // Takes new parameter values (same family and sizes). Cheap to call after
  // every optimizer step: the spice engine alters values where it can.
  virtual void set_model(const ir::model& m) = 0;
  virtual evaluation forward(const Eigen::MatrixXd& x) = 0;
  virtual loss_gradient gradient(const Eigen::MatrixXd& x, std::span<const int> labels) = 0;
};

// Dispatches on m.kind and kind; throws spicenn::error for a combination
// that is not implemented yet, naming it.
std::unique_ptr<evaluator> make_evaluator(const ir::model& m, engine_kind kind, const evaluator_options& options = {});

// Names of the trainable tensors of a model (trainable, not indices), in
// model order: what every evaluator's gradient() returns.
std::vector<std::string> trainable_tensors(const ir::model& m);

// Finite differences of the loss through the family's spice evaluator (any
// family): central differences per trainable value, each from a recompiled
// netlist; ∂L/∂x from one batched sweep of perturbed inputs.
inline constexpr std::size_t fd_max_parameters = 2000;  // 2 ngspice forward runs each
std::unique_ptr<evaluator> make_fd_evaluator(const ir::model& m, const evaluator_options& options = {});

}  // namespace spicenn::cosim
