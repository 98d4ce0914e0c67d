// Losses on network outputs (outputs × batch, a column per sample).
//
//   Eigen::MatrixXd dy;
//   double loss = spicenn::models::softmax_cross_entropy(y, labels, &dy);  // mean over the batch
//   double acc = spicenn::models::accuracy(y, labels);
#pragma once

#include <Eigen/Core>
#include <span>
#include <vector>

namespace spicenn::models {

enum class reduction { mean, sum };

// Softmax cross-entropy of logits (classes × batch) against integer labels,
// computed stably (log-sum-exp with the column maximum subtracted). If grad
// is given it receives ∂L/∂logits (softmax − onehot, divided by the batch
// size for reduction::mean). Throws spicenn::error on a label out of range or
// a size mismatch.
double softmax_cross_entropy(const Eigen::MatrixXd& logits, std::span<const int> labels, Eigen::MatrixXd* grad = nullptr,
                             reduction red = reduction::mean);

// Column-wise softmax.
Eigen::MatrixXd softmax(const Eigen::MatrixXd& logits);

// Index of the largest entry per column (first one on ties).
std::vector<int> predict(const Eigen::MatrixXd& scores);

// Fraction of columns whose largest entry is at the label.
double accuracy(const Eigen::MatrixXd& scores, std::span<const int> labels);

}  // namespace spicenn::models
