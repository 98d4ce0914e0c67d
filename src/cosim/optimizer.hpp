// Optimizers over a model's trainable parameter tensors, keyed by tensor
// name, with the projection that keeps each tensor inside its constraint.
//
// Every family stores its parameters as generic ir tensors, so one optimizer
// serves KAN, MON and KirchhoffNet: a step reads ∂L/∂θ per trainable tensor
// (cosim::loss_gradient::parameters), updates the values and then projects
// them back onto the tensor's constraint (nonnegative conductances,
// symmetric zero-diagonal MON couplings). Tensors that are not trainable or
// hold indices are never touched.
//
//   cosim::optimizer opt({.kind = cosim::optimizer_kind::adam});
//   cosim::lr_schedule lr{.kind = cosim::schedule_kind::cosine, .base = 1e-2, .total_steps = 1000};
//   auto g = eval->gradient(x, labels);
//   opt.step(model, g.parameters, lr.at(opt.steps()));   // Adam step + projection
//   std::string saved = opt.state_to_string();            // exact (checkpoints)
//   opt.load_state(saved);
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::cosim {

enum class optimizer_kind { sgd, adam };
std::string_view to_string(optimizer_kind k);
optimizer_kind optimizer_kind_from_string(std::string_view name);  // "sgd" | "adam"; throws spicenn::error

struct optimizer_options {
  optimizer_kind kind = optimizer_kind::adam;
  double beta1 = 0.9;     // Adam: decay of the first moment; SGD: momentum (see `momentum`)
  double beta2 = 0.999;   // Adam: decay of the second moment
  double epsilon = 1e-8;  // Adam: added to sqrt(v̂)
  double momentum = 0.0;  // SGD only: heavy-ball momentum, 0 = plain SGD
  // Decoupled weight decay (AdamW style): θ ← θ − lr·wd·θ besides the
  // gradient step, for every trainable tensor whose constraint is not index.
  double weight_decay = 0.0;
  // Threads a large tensor's update is spread over (0: every core). Every
  // value's update is independent of the others, so the result is the same
  // for any number.
  int threads = 1;
};

// Learning rate as a function of the optimizer step (0-based: the rate used
// for step k is at(k)).
enum class schedule_kind {
  constant,  // base
  cosine,    // min + (base − min)·(1 + cos(π·min(k, total)/total))/2
  step,      // base · gamma^floor(k / step_size)
};
std::string_view to_string(schedule_kind k);
schedule_kind schedule_kind_from_string(std::string_view name);  // constant | cosine | step

struct lr_schedule {
  schedule_kind kind = schedule_kind::constant;
  double base = 1e-2;           // initial learning rate
  double min = 0.0;             // cosine: final learning rate
  std::uint64_t total_steps = 0;  // cosine: steps over which it decays (0 = constant)
  std::uint64_t step_size = 0;    // step: steps between decays (0 = constant)
  double gamma = 0.1;           // step: factor per decay

  double at(std::uint64_t step) const;
};

// Moves t's values onto its constraint, in place:
//   none: unchanged; nonnegative: max(0, ·) (NaN becomes 0);
//   symmetric_nonnegative: (A + Aᵀ)/2, then max(0, ·), then a zero diagonal
//   (exactly symmetric afterwards); index: unchanged.
// Throws spicenn::error if a symmetric tensor is not square.
void project(ir::tensor& t);
// project() on every trainable tensor of m.
void project_constraints(ir::model& m);

// Optimizer state: the step count and per-tensor moment buffers (Adam: m
// and v; SGD with momentum: the velocity in first_moment). Buffers are
// created on the first step that sees a tensor.
struct optimizer_state {
  std::uint64_t steps = 0;
  std::map<std::string, std::vector<double>> first_moment;
  std::map<std::string, std::vector<double>> second_moment;

  friend bool operator==(const optimizer_state&, const optimizer_state&) = default;
};

class optimizer {
 public:
  explicit optimizer(optimizer_options options = {});

  // One update of every trainable, non-index tensor of m with its gradient
  // in `gradient` (row-major like the tensor), followed by project(). Throws
  // spicenn::error, before changing anything, if a trainable tensor has no
  // gradient, a gradient has the wrong size, or a gradient is not finite
  // (naming the tensor and the first bad index).
  //   Adam:  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;  t ← t + 1
  //          θ ← θ − lr·( (m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + ε) + wd·θ )
  //   SGD:   u ← μ u + g (u = g when μ = 0);  θ ← θ − lr·(u + wd·θ)
  void step(ir::model& m, const std::map<std::string, std::vector<double>>& gradient, double learning_rate);

  std::uint64_t steps() const { return state_.steps; }
  const optimizer_options& options() const { return options_; }
  const optimizer_state& state() const { return state_; }
  void set_state(optimizer_state s) { state_ = std::move(s); }

  // Text form of the kind and state, bit-exact (shortest round-trip doubles):
  //   optimizer adam
  //   steps 12
  //   moment first stage0.g_ground 3
  //   0.1 0.2 0.3
  //   ...
  std::string state_to_string() const;
  // Reads state_to_string() output; throws spicenn::parse_error (display_name
  // and line) on malformed text or an optimizer kind other than this one's.
  void load_state(std::string_view text, std::string_view display_name = "optimizer state");

 private:
  optimizer_options options_;
  optimizer_state state_;
};

}  // namespace spicenn::cosim
