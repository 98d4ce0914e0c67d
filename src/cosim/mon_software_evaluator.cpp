// The MON software evaluator: models::mon behind the cosim::evaluator
// interface (exact equilibrium, implicit/adjoint gradient).
#include <fmt/format.h>

#include "core/error.hpp"
#include "cosim/mon_evaluators.hpp"
#include "models/loss.hpp"
#include "models/mon.hpp"

namespace spicenn::cosim {

namespace {

class mon_software_evaluator final : public evaluator {
 public:
  mon_software_evaluator(const ir::model& m, const evaluator_options& options) : input_gradient_(options.input_gradient) {
    options_.threads = options.threads;
    forward_options_ = options_;
    if (options.software_float32) forward_options_.precision = models::mon_precision::float32;
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::software; }

  void set_model(const ir::model& m) override {
    net_ = models::mon_network::from_model(m);
    trainable_ = trainable_tensors(m);
  }

  evaluation forward(const Eigen::MatrixXd& x) override {
    auto f = models::mon_forward(net_, x, forward_options_, /*keep_for_backward=*/false);
    evaluation out;
    out.outputs = std::move(f.y);
    for (auto& s : f.stages) out.hidden.push_back(std::move(s.v));
    return out;
  }

  loss_gradient gradient(const Eigen::MatrixXd& x, std::span<const int> labels) override {
    if (static_cast<Eigen::Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    auto f = models::mon_forward(net_, x, options_, /*keep_for_backward=*/true);
    Eigen::MatrixXd dy;
    loss_gradient out;
    out.loss = models::softmax_cross_entropy(f.y, labels, &dy);
    auto g = models::mon_backward(net_, f, dy, options_, input_gradient_);
    for (const auto& name : trainable_) {
      auto it = g.parameters.find(name);
      if (it == g.parameters.end()) throw internal_error(fmt::format("mon software gradient: no gradient for tensor '{}'", name));
      out.parameters[name] = std::move(it->second);
    }
    out.inputs = std::move(g.inputs);
    out.forward.outputs = std::move(f.y);
    for (auto& s : f.stages) out.forward.hidden.push_back(std::move(s.v));
    return out;
  }

 private:
  models::mon_network net_;
  models::mon_options options_;          // gradients (float64)
  models::mon_options forward_options_;  // forward(): options_, or float32
  bool input_gradient_ = true;
  std::vector<std::string> trainable_;
};

}  // namespace

std::unique_ptr<evaluator> make_mon_software_evaluator(const ir::model& m, const evaluator_options& options) {
  return std::make_unique<mon_software_evaluator>(m, options);
}

}  // namespace spicenn::cosim
