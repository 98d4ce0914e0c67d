// The KirchhoffNet software evaluator: models::kirchhoffnet behind the
// cosim::evaluator interface. Hidden state: the node voltages at the end of
// every slice.
#include <fmt/format.h>

#include "core/error.hpp"
#include "cosim/kirchhoffnet_evaluators.hpp"
#include "models/kirchhoffnet.hpp"

namespace spicenn::cosim {

namespace {

class kirchhoffnet_software_evaluator final : public evaluator {
 public:
  kirchhoffnet_software_evaluator(const ir::model& m, const evaluator_options& options) {
    tol_.rtol = options.ode_rtol;
    tol_.atol = options.ode_atol;
    tol_.threads = options.threads;
    input_gradient_ = options.input_gradient;
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::software; }

  void set_model(const ir::model& m) override { net_ = models::kn_network::from_model(m); }

  evaluation forward(const Eigen::MatrixXd& x) override {
    auto f = models::kn_forward(net_, x, tol_);
    return {std::move(f.outputs), std::move(f.slice_states)};
  }

  loss_gradient gradient(const Eigen::MatrixXd& x, std::span<const int> labels) override {
    if (static_cast<Eigen::Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    auto r = models::kn_loss_gradient(net_, x, labels, tol_);
    loss_gradient out;
    out.loss = r.loss;
    for (std::size_t k = 0; k < net_.slices.size(); ++k)
      out.parameters[fmt::format("slice{}.theta", k)] = std::move(r.gradient.theta[k]);
    if (input_gradient_) out.inputs = std::move(r.gradient.inputs);
    out.forward.outputs = std::move(r.gradient.forward.outputs);
    out.forward.hidden = std::move(r.gradient.forward.slice_states);
    return out;
  }

 private:
  models::kn_network net_;
  models::kn_tolerances tol_;
  bool input_gradient_ = true;
};

}  // namespace

std::unique_ptr<evaluator> make_kirchhoffnet_software_evaluator(const ir::model& m,
                                                                const evaluator_options& options) {
  return std::make_unique<kirchhoffnet_software_evaluator>(m, options);
}

}  // namespace spicenn::cosim
