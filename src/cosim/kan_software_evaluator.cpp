// The KAN software evaluator: models::kan behind the cosim::evaluator
// interface. forward() uses the running batch-norm statistics (what the
// folded circuit computes); gradient() normalizes with the batch statistics,
// as training does, and returns the updated running statistics as buffers.
#include <fmt/format.h>

#include "core/error.hpp"
#include "cosim/kan_evaluators.hpp"
#include "models/kan.hpp"
#include "models/loss.hpp"

namespace spicenn::cosim {

namespace {

class kan_software_evaluator final : public evaluator {
 public:
  kan_software_evaluator(const ir::model& m, const evaluator_options& options) {
    options_.threads = options.threads;
    options_.input_gradient = options.input_gradient;
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::software; }

  void set_model(const ir::model& m) override {
    net_ = models::kan_network::from_model(m);
    trainable_ = trainable_tensors(m);
  }

  evaluation forward(const Eigen::MatrixXd& x) override {
    auto f = models::kan_forward(net_, x, models::kan_mode::eval, options_);
    return {std::move(f.outputs), std::move(f.hidden)};
  }

  loss_gradient gradient(const Eigen::MatrixXd& x, std::span<const int> labels) override {
    if (static_cast<Eigen::Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    models::kan_options o = options_;
    o.keep_for_backward = true;
    // A single sample has no batch statistics: it gets the evaluation-mode
    // gradient (running statistics), as the circuit does.
    const auto mode = net_.has_batch_norm() && x.cols() > 1 ? models::kan_mode::train : models::kan_mode::eval;
    auto f = models::kan_forward(net_, x, mode, o);
    Eigen::MatrixXd dy;
    loss_gradient out;
    out.loss = models::softmax_cross_entropy(f.outputs, labels, &dy);
    auto g = models::kan_backward(net_, f, dy, o);
    for (const auto& name : trainable_) {
      auto it = g.parameters.find(name);
      if (it == g.parameters.end()) throw internal_error(fmt::format("kan software gradient: no gradient for '{}'", name));
      out.parameters[name] = std::move(it->second);
    }
    out.inputs = std::move(g.inputs);
    out.buffers = models::kan_updated_running_statistics(net_, f);
    out.forward.outputs = std::move(f.outputs);
    out.forward.hidden = std::move(f.hidden);
    return out;
  }

 private:
  models::kan_network net_;
  models::kan_options options_;
  std::vector<std::string> trainable_;
};

}  // namespace

std::unique_ptr<evaluator> make_kan_software_evaluator(const ir::model& m, const evaluator_options& options) {
  return std::make_unique<kan_software_evaluator>(m, options);
}

}  // namespace spicenn::cosim
