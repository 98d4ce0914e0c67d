// The finite-difference evaluator of every family: the gradient of the
// ngspice forward loss by central differences, one recompiled netlist per
// perturbed value, through the family's spice evaluator (its forward pass).
//
// Parameters: for every trainable value θ, with h = fd_step · max(|θ|, 1),
//   ∂L/∂θ ≈ (L(θ + h) − L(θ − h)) / 2h,
// each L from a freshly compiled and loaded netlist (the perturbed model
// compiled again: a conductance that is zero has no element, so altering
// resistor values could not perturb it). A conductance closer to zero than h
// would turn negative (not realisable: the compiler omits it), so it gets the
// forward difference (L(θ + h) − L(θ)) / h instead. g_between is symmetric:
// entries (a,b) and (b,a) are one conductance, perturbed together, and its
// derivative is stored at both (as the MON software model does); the
// diagonal is not a conductance (0).
// Inputs: ∂L/∂x by central differences per sample and input, all perturbed
// samples in one batched sweep (the loss is a sum over samples).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "cosim/evaluator.hpp"
#include "models/loss.hpp"

namespace spicenn::cosim {

namespace {

struct perturbation {
  std::size_t tensor = 0;            // index into model.parameters
  std::vector<std::size_t> offsets;  // values moved together (1, or 2 for g_between)
  double h = 0.0;
  bool one_sided = false;
};

double mean_loss(const Eigen::MatrixXd& y, std::span<const int> labels) { return models::softmax_cross_entropy(y, labels); }

class fd_evaluator final : public evaluator {
 public:
  fd_evaluator(const ir::model& m, const evaluator_options& options) : options_(options) {
    if (!(options_.fd_step > 0.0) || !std::isfinite(options_.fd_step))
      throw error(fmt::format("finite differences: step {} must be positive", options_.fd_step));
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::finite_differences; }

  void set_model(const ir::model& m) override {
    std::size_t count = 0;
    for (const auto& name : trainable_tensors(m)) count += m.parameter(name).values.size();
    if (count > fd_max_parameters)
      throw error(
          fmt::format("finite differences: the model has {} trainable values and the fd engine accepts at "
                      "most {} (two ngspice forward runs each); use the spice engine (hardware "
                      "linearization) for models this size",
                      count, fd_max_parameters));
    model_ = m;
    if (workers_.empty()) {
      evaluator_options one = options_;
      one.threads = 1;
      const int threads = resolve_threads(options_.threads);
      for (int t = 0; t < threads; ++t) workers_.push_back(make_evaluator(m, engine_kind::spice, one));
    } else {
      for (auto& w : workers_) w->set_model(m);
    }
  }

  evaluation forward(const Eigen::MatrixXd& x) override { return workers_.front()->forward(x); }

  loss_gradient gradient(const Eigen::MatrixXd& x, std::span<const int> labels) override {
    if (static_cast<Eigen::Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    loss_gradient out;
    out.forward = workers_.front()->forward(x);
    out.loss = mean_loss(out.forward.outputs, labels);

    // The list of perturbations.
    std::vector<perturbation> list;
    const auto trainable = trainable_tensors(model_);
    for (std::size_t t = 0; t < model_.parameters.size(); ++t) {
      const auto& tensor = model_.parameters[t];
      if (std::find(trainable.begin(), trainable.end(), tensor.name) == trainable.end()) continue;
      out.parameters[tensor.name].assign(tensor.values.size(), 0.0);
      const bool nonneg = tensor.kind == ir::constraint::nonnegative || tensor.kind == ir::constraint::symmetric_nonnegative;
      auto add = [&](std::vector<std::size_t> offsets) {
        const double theta = tensor.values[offsets.front()];
        perturbation p{t, std::move(offsets), options_.fd_step * std::max(std::abs(theta), 1.0), false};
        p.one_sided = nonneg && theta - p.h < 0.0;
        list.push_back(std::move(p));
      };
      if (tensor.kind == ir::constraint::symmetric_nonnegative && tensor.shape.size() == 2) {
        const std::size_t n = tensor.shape[0];
        for (std::size_t a = 0; a < n; ++a)
          for (std::size_t b = a + 1; b < n; ++b) add({a * n + b, b * n + a});
      } else {
        for (std::size_t i = 0; i < tensor.values.size(); ++i) add({i});
      }
    }

    // Run them on the workers (one ngspice engine each).
    std::vector<double> plus(list.size()), minus(list.size());
    parallel_workers(static_cast<int>(workers_.size()), [&](int worker) {
      const auto w = static_cast<std::size_t>(worker);
      ir::model local = model_;
      for (std::size_t i = w; i < list.size(); i += workers_.size()) {
        const auto& p = list[i];
        auto& values = local.parameters[p.tensor].values;
        const double theta = values[p.offsets.front()];
        auto loss_at = [&](double value) {
          for (auto o : p.offsets) values[o] = value;
          workers_[w]->set_model(local);
          return mean_loss(workers_[w]->forward(x).outputs, labels);
        };
        plus[i] = loss_at(theta + p.h);
        minus[i] = p.one_sided ? out.loss : loss_at(theta - p.h);
        for (auto o : p.offsets) values[o] = theta;
      }
      workers_[w]->set_model(model_);
    });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& p = list[i];
      const double d = (plus[i] - minus[i]) / (p.one_sided ? p.h : 2.0 * p.h);
      for (auto o : p.offsets) out.parameters[model_.parameters[p.tensor].name][o] = d;
    }

    // ∂L/∂x: every (sample, input) perturbed both ways, in one batch.
    const Eigen::Index n_in = x.rows(), B = x.cols();
    Eigen::MatrixXd xs(n_in, 2 * n_in * B);
    std::vector<double> hx(static_cast<std::size_t>(n_in * B));
    for (Eigen::Index b = 0; b < B; ++b)
      for (Eigen::Index k = 0; k < n_in; ++k) {
        const Eigen::Index c = 2 * (b * n_in + k);
        const double h = options_.fd_step * std::max(std::abs(x(k, b)), 1.0);
        hx[static_cast<std::size_t>(b * n_in + k)] = h;
        xs.col(c) = x.col(b);
        xs.col(c + 1) = x.col(b);
        xs(k, c) += h;
        xs(k, c + 1) -= h;
      }
    const auto y = workers_.front()->forward(xs).outputs;
    out.inputs.resize(n_in, B);
    for (Eigen::Index b = 0; b < B; ++b)
      for (Eigen::Index k = 0; k < n_in; ++k) {
        const Eigen::Index c = 2 * (b * n_in + k);
        const int label = labels[static_cast<std::size_t>(b)];
        const double lp = models::softmax_cross_entropy(y.col(c), std::span<const int>(&label, 1));
        const double lm = models::softmax_cross_entropy(y.col(c + 1), std::span<const int>(&label, 1));
        out.inputs(k, b) = (lp - lm) / (2.0 * hx[static_cast<std::size_t>(b * n_in + k)] * static_cast<double>(B));
      }
    return out;
  }

 private:
  evaluator_options options_;
  ir::model model_;
  std::vector<std::unique_ptr<evaluator>> workers_;
};

}  // namespace

std::unique_ptr<evaluator> make_fd_evaluator(const ir::model& m, const evaluator_options& options) {
  return std::make_unique<fd_evaluator>(m, options);
}

}  // namespace spicenn::cosim
