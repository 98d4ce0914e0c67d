#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "models/loss.hpp"

namespace spicenn::models {
namespace {

using Eigen::MatrixXd;

TEST(Loss, SoftmaxCrossEntropyValueAndGradient) {
  MatrixXd z(3, 2);
  z << 1.0, -2.0,  //
      0.5, 0.0,    //
      -1.0, 3.0;
  const std::vector<int> y{0, 2};
  // Direct formula: −log(exp(z_y) / Σ exp(z)).
  double expect = 0.0;
  for (int b = 0; b < 2; ++b) expect += -std::log(std::exp(z(y[b], b)) / z.col(b).array().exp().sum());
  MatrixXd g;
  EXPECT_NEAR(softmax_cross_entropy(z, y, &g, reduction::sum), expect, 1e-15);
  EXPECT_NEAR(softmax_cross_entropy(z, y, nullptr, reduction::mean), expect / 2, 1e-15);
  // Gradient vs central differences.
  for (int i = 0; i < 6; ++i) {
    MatrixXd zp = z, zm = z;
    zp.data()[i] += 1e-6;
    zm.data()[i] -= 1e-6;
    const double fd =
        (softmax_cross_entropy(zp, y, nullptr, reduction::sum) - softmax_cross_entropy(zm, y, nullptr, reduction::sum)) / 2e-6;
    EXPECT_NEAR(g.data()[i], fd, 1e-8);
  }
  MatrixXd gm;
  softmax_cross_entropy(z, y, &gm, reduction::mean);
  EXPECT_LE((gm - g / 2).cwiseAbs().maxCoeff(), 1e-16);
  // Columns of the gradient sum to zero (softmax − one-hot).
  EXPECT_NEAR(g.col(0).sum(), 0.0, 1e-15);
}

TEST(Loss, SoftmaxCrossEntropyIsStableForHugeLogits) {
  MatrixXd z(2, 1);
  z << 1000.0, 990.0;
  MatrixXd g;
  const double l = softmax_cross_entropy(z, std::vector<int>{1}, &g);
  EXPECT_NEAR(l, 10.0 + std::log1p(std::exp(-10.0)), 1e-12);
  EXPECT_TRUE(g.allFinite());
  EXPECT_NEAR(softmax(z).col(0).sum(), 1.0, 1e-15);
  z << -1000.0, -1000.0;
  EXPECT_NEAR(softmax_cross_entropy(z, std::vector<int>{0}), std::log(2.0), 1e-15);
}

TEST(Loss, AccuracyAndLabelChecks) {
  MatrixXd z(3, 4);
  z << 1, 0, 0, 5,  //
      2, 0, 1, 0,   //
      0, 3, 0, 0;
  EXPECT_EQ(predict(z), (std::vector<int>{1, 2, 1, 0}));
  EXPECT_DOUBLE_EQ(accuracy(z, std::vector<int>{1, 2, 0, 0}), 0.75);
  EXPECT_THROW(accuracy(z, std::vector<int>{1, 2, 0}), error);
  EXPECT_THROW(softmax_cross_entropy(z, std::vector<int>{1, 2, 3, 0}), error);
  EXPECT_THROW(softmax_cross_entropy(z, std::vector<int>{1, -1, 0, 0}), error);
}

}  // namespace
}  // namespace spicenn::models
