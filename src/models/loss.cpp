#include "models/loss.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace spicenn::models {

using Eigen::Index;
using Eigen::MatrixXd;

namespace {

void check_labels(const MatrixXd& scores, std::span<const int> labels, const char* what) {
  if (static_cast<Index>(labels.size()) != scores.cols())
    throw error(fmt::format("{}: {} labels for a batch of {}", what, labels.size(), scores.cols()));
  for (std::size_t b = 0; b < labels.size(); ++b)
    if (labels[b] < 0 || labels[b] >= scores.rows())
      throw error(fmt::format("{}: label {} of sample {} is not a class in [0, {})", what, labels[b], b, scores.rows()));
}

}  // namespace

MatrixXd softmax(const MatrixXd& logits) {
  MatrixXd p = logits.rowwise() - logits.colwise().maxCoeff();
  p = p.array().exp().matrix();
  p.array().rowwise() /= p.colwise().sum().array();
  return p;
}

double softmax_cross_entropy(const MatrixXd& logits, std::span<const int> labels, MatrixXd* grad, reduction red) {
  check_labels(logits, labels, "softmax_cross_entropy");
  const Index B = logits.cols();
  double total = 0.0;
  if (grad) grad->resize(logits.rows(), B);
  const double scale = red == reduction::mean && B > 0 ? 1.0 / static_cast<double>(B) : 1.0;
  for (Index b = 0; b < B; ++b) {
    const auto z = logits.col(b);
    // log Σ exp(z) − z_y = (m − z_y) + log Σ exp(z − m), m = max z: no
    // overflow, and no cancellation between two large numbers.
    const double m = z.maxCoeff();
    const double log_sum = std::log((z.array() - m).exp().sum());
    total += (m - z[labels[b]]) + log_sum;
    if (grad) {
      auto g = grad->col(b);
      g = (((z.array() - m) - log_sum).exp() * scale).matrix();
      g[labels[b]] -= scale;
    }
  }
  return total * scale;
}

std::vector<int> predict(const MatrixXd& scores) {
  std::vector<int> out(static_cast<std::size_t>(scores.cols()));
  for (Index b = 0; b < scores.cols(); ++b) {
    Index k = 0;
    scores.col(b).maxCoeff(&k);
    out[static_cast<std::size_t>(b)] = static_cast<int>(k);
  }
  return out;
}

double accuracy(const MatrixXd& scores, std::span<const int> labels) {
  check_labels(scores, labels, "accuracy");
  if (labels.empty()) return 0.0;
  const auto pred = predict(scores);
  std::size_t ok = 0;
  for (std::size_t b = 0; b < labels.size(); ++b) ok += pred[b] == labels[b];
  return static_cast<double>(ok) / static_cast<double>(labels.size());
}

}  // namespace spicenn::models
