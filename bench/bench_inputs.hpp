// Synthetic MNIST-like inputs shared by the MON benchmarks: 784 pixels, about
// 19 % of them lit in [0.5, 1] (MNIST's mean density), random labels.
#pragma once

#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "core/random.hpp"

namespace spicenn::bench {

inline Eigen::MatrixXd mnist_like(Eigen::Index batch, std::uint64_t seed) {
  rng r(seed);
  Eigen::MatrixXd x = Eigen::MatrixXd::Zero(784, batch);
  for (Eigen::Index b = 0; b < batch; ++b)
    for (Eigen::Index k = 0; k < 784; ++k)
      if (r.uniform() < 0.19) x(k, b) = r.uniform(0.5, 1.0);
  return x;
}

inline std::vector<int> labels_for(Eigen::Index batch, std::uint64_t seed) {
  rng r(seed);
  std::vector<int> y(static_cast<std::size_t>(batch));
  for (auto& v : y) v = static_cast<int>(r.below(10));
  return y;
}

}  // namespace spicenn::bench
