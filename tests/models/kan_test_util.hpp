// Test helpers for the KAN family: small models whose hidden activations
// sit inside the clamp (so every path carries signal and gradient), with
// optional batch normalization and fixed mismatch, and random inputs.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "ir/init.hpp"
#include "ir/model.hpp"

namespace spicenn::test {

inline ir::model kan_test_model(const std::vector<std::int64_t>& widths, const std::vector<std::string>& bases, bool batch_norm,
                                bool mismatch, std::uint64_t seed) {
  auto m = ir::init_kan(widths, bases, seed, {.batch_norm = batch_norm});
  rng r(seed + 100);
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const std::string p = "layer" + std::to_string(l) + ".";
    for (auto& b : m.parameter(p + "bias").values) b = l + 2 < widths.size() ? r.uniform(0.2, 1.2) : r.uniform(-0.5, 0.5);
    if (batch_norm && l + 2 < widths.size()) {
      for (auto& g : m.parameter(p + "bn_weight").values) g = r.uniform(0.2, 0.6);
      for (auto& b : m.parameter(p + "bn_bias").values) b = r.uniform(0.3, 1.1);
      for (auto& v : m.parameter(p + "bn_mean").values) v = r.uniform(-0.2, 0.2);
      for (auto& v : m.parameter(p + "bn_var").values) v = r.uniform(0.05, 0.5);
    }
    if (mismatch) {
      const auto& c = m.parameter(p + "coef");
      ir::tensor t{p + "coef_mismatch", c.shape, ir::constraint::none, false, {}};
      for (std::size_t k = 0; k < c.values.size(); ++k) t.values.push_back(1.0 + 0.2 * r.normal());
      m.parameters.push_back(std::move(t));
    }
  }
  return m;
}

// Inputs in [0, 1], a fifth of them exactly 0 (as image pixels).
inline Eigen::MatrixXd kan_test_inputs(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  rng r(seed);
  Eigen::MatrixXd x(rows, cols);
  for (Eigen::Index c = 0; c < cols; ++c)
    for (Eigen::Index k = 0; k < rows; ++k) x(k, c) = r.uniform() < 0.2 ? 0.0 : r.uniform();
  return x;
}

inline std::vector<int> kan_test_labels(std::size_t n, int classes, std::uint64_t seed) {
  rng r(seed);
  std::vector<int> out(n);
  for (auto& l : out) l = static_cast<int>(r.below(static_cast<std::uint64_t>(classes)));
  return out;
}

}  // namespace spicenn::test
