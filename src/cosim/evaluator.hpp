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

// How the MON spice engine reads the hardware-linearization adjoint
// λ = K⁻¹ r (K the circuit's Jacobian at the sample's operating point).
enum class spice_gradient {
  automatic,     // nudged where it is exact (below), else small_signal
  small_signal,  // per sample and stage one `ac` (each starts ngspice's own cold operating point)
  nudged,        // per stage one more batched DC sweep with β·r injected at the stage's nodes, λ = Δv/β:
                 // exact for a piecewise-linear diode (pwl_diode) while no diode changes state (the
                 // samples where one does are redone by small_signal); for a Shockley diode two sweeps
                 // at ±β (~1e-6 relative), where the nudge is ≤ 1e-3·N·vt (docs/cosimulation.md "Nudged gradient")
};
std::string_view to_string(spice_gradient g);
spice_gradient spice_gradient_from_string(std::string_view name);  // "auto", "ac", "nudge"; throws listing them

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
  // KirchhoffNet spice engine: after θ changes, alter θ in place (θ on one dc
  // source per value: a node per θ, ~800x the nodes of an MNIST circuit)
  // instead of recompiling with θ as numbers and re-parsing. Off: on the
  // 14x14 MNIST model the alterable deck parses 1.9x and runs a transient
  // 2.0x slower than the inline one, at 2.3x the memory (docs/kirchhoffnet.md,
  // "θ storage").
  bool kirchhoffnet_alter_theta = false;
  // spice engines: each ngspice in a worker process of its own, so that a
  // crash or a hang of the simulator costs a restart of that worker and a
  // retry of the call, not the run; every call bounded by spice_time_limit
  // seconds (0 = none). See spice::engine_options::isolation.
  bool spice_isolated = false;
  double spice_time_limit = 300.0;
  spice_gradient mon_gradient = spice_gradient::automatic;  // MON spice engine
  // MON nudged gradient: the largest |Δv| of a nudge (normalized units). Small
  // enough that few diodes sit within it of their knee (those samples are
  // redone by `ac`: 7 of 64 MNIST images at 1e-3, none at 1e-5), large
  // against the sweep's rounding (λ then agrees with `ac` to ~1e-10).
  double mon_nudge = 1e-5;
  // MON software engine: forward() (inference) with models::mon_precision::
  // float32, the projected Jacobi iteration in float32 (scaled residual
  // <= 1e-5 instead of 1e-12; docs/results.md, "MON software model").
  // Gradients are always float64.
  bool software_float32 = false;
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
