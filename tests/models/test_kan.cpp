// KAN software model: basis evaluation against the device models, forward
// pass against a scalar reference, gradients against central finite
// differences (with and without batch normalization, with mismatch),
// batch-norm folding and running statistics.
#include <gtest/gtest.h>

#include <cmath>

#include "core/random.hpp"
#include "devices/device.hpp"
#include "ir/init.hpp"
#include "kan_test_util.hpp"
#include "models/kan.hpp"
#include "models/loss.hpp"

namespace spicenn::models {
namespace {

using Eigen::MatrixXd;

ir::model test_model(std::vector<std::int64_t> widths, std::vector<std::string> bases, bool batch_norm, bool mismatch,
                     std::uint64_t seed) {
  return test::kan_test_model(widths, bases, batch_norm, mismatch, seed);
}
MatrixXd random_inputs(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed) {
  return test::kan_test_inputs(rows, cols, seed);
}
std::vector<int> random_labels(std::size_t n, int classes, std::uint64_t seed) { return test::kan_test_labels(n, classes, seed); }

double loss_of(const ir::model& m, const MatrixXd& x, const std::vector<int>& labels, kan_mode mode) {
  const auto net = kan_network::from_model(m);
  return softmax_cross_entropy(kan_forward(net, x, mode).outputs, labels);
}

// Central differences of the loss for every trainable value, compared with
// the analytic gradient relative to each tensor's largest entry.
void expect_gradient_matches_fd(const ir::model& m, const MatrixXd& x, const std::vector<int>& labels, kan_mode mode,
                                double tolerance) {
  const auto net = kan_network::from_model(m);
  const auto fwd = kan_forward(net, x, mode, {.keep_for_backward = true});
  MatrixXd dy;
  softmax_cross_entropy(fwd.outputs, labels, &dy);
  const auto g = kan_backward(net, fwd, dy);
  std::size_t checked = 0;
  double overall = 0.0;  // largest gradient entry of any tensor
  for (const auto& [name, values] : g.parameters)
    for (double v : values) overall = std::max(overall, std::abs(v));
  for (const auto& t : m.parameters) {
    if (!t.trainable) continue;
    ASSERT_TRUE(g.parameters.count(t.name)) << t.name;
    const auto& analytic = g.parameters.at(t.name);
    ASSERT_EQ(analytic.size(), t.values.size()) << t.name;
    double scale = 0.0;
    for (double v : analytic) scale = std::max(scale, std::abs(v));
    // A bias followed by batch statistics has an exactly zero gradient (the
    // batch mean absorbs it): judge it against the overall scale.
    if (t.name.find("coef") != std::string::npos) {
      ASSERT_GT(scale, 0.0) << t.name << " has no gradient at all: the test model is degenerate";
    }
    scale = std::max(scale, 1e-3 * overall);
    for (std::size_t k = 0; k < t.values.size(); ++k) {
      ir::model p = m, q = m;
      const double h = 1e-6;
      p.parameter(t.name).values[k] += h;
      q.parameter(t.name).values[k] -= h;
      const double fd = (loss_of(p, x, labels, mode) - loss_of(q, x, labels, mode)) / (2 * h);
      EXPECT_NEAR(analytic[k], fd, tolerance * scale) << t.name << "[" << k << "]";
      ++checked;
    }
  }
  EXPECT_GT(checked, 20u);
  // ∂L/∂x, the same way.
  double scale = g.inputs.cwiseAbs().maxCoeff();
  ASSERT_GT(scale, 0.0);
  for (Eigen::Index c = 0; c < x.cols(); ++c)
    for (Eigen::Index k = 0; k < x.rows(); ++k) {
      MatrixXd xp = x, xq = x;
      const double h = 1e-6;
      xp(k, c) += h;
      xq(k, c) -= h;
      if (x(k, c) == 0.0) continue;  // the device curve's kink at the window edge: one-sided there
      const double fd = (loss_of(m, xp, labels, mode) - loss_of(m, xq, labels, mode)) / (2 * h);
      EXPECT_NEAR(g.inputs(k, c), fd, tolerance * scale) << "input " << k << " sample " << c;
    }
}

TEST(KanBasis, VectorizedPathMatchesTheDeviceModel) {
  for (const char* name : {"a21", "z21", "z15", "zaz21", "esaki", "rtd"}) {
    const auto& dev = devices::builtin_devices().get(name);
    kan_basis basis(std::shared_ptr<const devices::device>(std::shared_ptr<const devices::device>(), &dev));
    const auto w = basis.window();
    Eigen::ArrayXXd v(1, 2003);
    for (Eigen::Index k = 0; k < 2000; ++k) v(0, k) = w.lo - 0.2 + (w.hi - w.lo + 0.4) * k / 1999.0;
    v(0, 2000) = w.lo;
    v(0, 2001) = w.hi;
    v(0, 2002) = 0.5 * (w.lo + w.hi);
    Eigen::ArrayXXd value(1, v.cols()), slope;
    basis.evaluate(v, value, &slope);
    const double i_ref = basis.reference_current();
    for (Eigen::Index k = 0; k < v.cols(); ++k) {
      EXPECT_NEAR(value(0, k), dev.current(v(0, k)) / i_ref, 1e-12) << name << " at " << v(0, k);
      const double g = dev.conductance(v(0, k)) / i_ref;
      EXPECT_NEAR(slope(0, k), g, 1e-11 * std::max(1.0, std::abs(g))) << name << " at " << v(0, k);
    }
  }
}

TEST(KanBasis, ReferenceCurrentIsTheLargestCurrentOnTheWindow) {
  for (const char* name : {"a21", "z21", "z15", "zaz21", "esaki", "rtd"}) {
    const auto& dev = devices::builtin_devices().get(name);
    kan_basis basis(std::shared_ptr<const devices::device>(std::shared_ptr<const devices::device>(), &dev));
    const auto w = basis.window();
    double grid_max = 0.0;
    for (int k = 0; k <= 200000; ++k) grid_max = std::max(grid_max, std::abs(dev.current(w.lo + (w.hi - w.lo) * k / 200000.0)));
    EXPECT_GE(basis.reference_current(), grid_max * (1 - 1e-14)) << name;
    EXPECT_LE(basis.reference_current(), grid_max * (1 + 1e-6)) << name;
  }
}

TEST(KanForward, MatchesAScalarReference) {
  const auto m = test_model({3, 4, 2}, {"z15", "zaz21"}, false, true, 3);
  const auto net = kan_network::from_model(m);
  const MatrixXd x = random_inputs(3, 5, 7);
  const auto fwd = kan_forward(net, x, kan_mode::eval);
  // Independent: loops over the ir tensors and the device models.
  const auto& reg = devices::builtin_devices();
  const auto& clamp = m.parameter("hidden_clamp").values;
  for (Eigen::Index b = 0; b < x.cols(); ++b) {
    std::vector<double> a(x.col(b).data(), x.col(b).data() + x.rows());
    for (int l = 0; l < 2; ++l) {
      const auto p = "layer" + std::to_string(l) + ".";
      const auto& c = m.parameter(p + "coef");
      const auto& mm = m.parameter(p + "coef_mismatch");
      const auto out = c.shape[1];
      std::vector<double> y(m.parameter(p + "bias").values);
      for (std::size_t i = 0; i < a.size(); ++i)
        for (std::size_t d = 0; d < 2; ++d) {
          const auto& dev = reg.get(d == 0 ? "z15" : "zaz21");
          const double v = m.parameter(p + "basis_gain").values[d] * a[i] + m.parameter(p + "basis_offset").values[d];
          const double basis = dev.current(v) / net.bases[d].reference_current();
          for (std::size_t o = 0; o < out; ++o) y[o] += c.at({i, o, d}) * mm.at({i, o, d}) * basis;
        }
      if (l == 0)
        for (auto& v : y) v = std::min(std::max(v, clamp[0]), clamp[1]);
      a = y;
    }
    for (std::size_t o = 0; o < a.size(); ++o) EXPECT_NEAR(fwd.outputs(static_cast<Eigen::Index>(o), b), a[o], 1e-13);
  }
}

TEST(KanForward, FewDistinctInputsGiveTheSameBasisValuesAndSlopes) {
  // Pixels k/255 in a batch large enough for the distinct-value path.
  const auto m = test_model({30, 8, 3}, {"z15", "zaz21"}, false, false, 5);
  const auto net = kan_network::from_model(m);
  rng r(6);
  MatrixXd x(30, 64);
  for (Eigen::Index c = 0; c < x.cols(); ++c)
    for (Eigen::Index k = 0; k < x.rows(); ++k) x(k, c) = r.uniform() < 0.6 ? 0.0 : static_cast<double>(r.below(256)) / 255.0;
  const auto fwd = kan_forward(net, x, kan_mode::train, {.threads = 1, .keep_for_backward = true});
  for (Eigen::Index d = 0; d < 2; ++d) {
    const auto& dev = devices::builtin_devices().get(d == 0 ? "z15" : "zaz21");
    const double i_ref = net.bases[static_cast<std::size_t>(d)].reference_current();
    const double a = m.parameter("layer0.basis_gain").values[static_cast<std::size_t>(d)];
    const double b = m.parameter("layer0.basis_offset").values[static_cast<std::size_t>(d)];
    for (Eigen::Index c = 0; c < x.cols(); ++c)
      for (Eigen::Index k = 0; k < x.rows(); ++k) {
        const double v = a * x(k, c) + b;
        EXPECT_NEAR(fwd.layers[0].phi(d * 30 + k, c), dev.current(v) / i_ref, 1e-12);
        EXPECT_NEAR(fwd.layers[0].slope(d * 30 + k, c), a * dev.conductance(v) / i_ref, 1e-10);
      }
  }
}

TEST(KanGradient, MatchesFiniteDifferencesWithoutNormalization) {
  const auto m = test_model({4, 5, 3}, {"z15", "zaz21"}, false, true, 11);
  expect_gradient_matches_fd(m, random_inputs(4, 6, 12), random_labels(6, 3, 13), kan_mode::eval, 2e-6);
}

TEST(KanGradient, MatchesFiniteDifferencesThroughBatchStatistics) {
  const auto m = test_model({4, 5, 3}, {"a21", "z21"}, true, false, 21);
  expect_gradient_matches_fd(m, random_inputs(4, 8, 22), random_labels(8, 3, 23), kan_mode::train, 2e-6);
}

TEST(KanGradient, MatchesFiniteDifferencesWithRunningStatisticsAndThreeLayers) {
  const auto m = test_model({3, 4, 4, 2}, {"z15", "zaz21", "esaki"}, true, true, 31);
  expect_gradient_matches_fd(m, random_inputs(3, 5, 32), random_labels(5, 2, 33), kan_mode::eval, 2e-6);
}

TEST(KanGradient, DoesNotDependOnTheThreadCount) {
  const auto m = test_model({6, 7, 3}, {"z15", "zaz21"}, true, false, 41);
  const auto net = kan_network::from_model(m);
  const MatrixXd x = random_inputs(6, 100, 42);
  const auto labels = random_labels(100, 3, 43);
  auto grad_with = [&](int threads) {
    const auto f = kan_forward(net, x, kan_mode::train, {.threads = threads, .keep_for_backward = true});
    MatrixXd dy;
    softmax_cross_entropy(f.outputs, labels, &dy);
    return kan_backward(net, f, dy, {.threads = threads});
  };
  const auto one = grad_with(1), two = grad_with(2);
  for (const auto& [name, values] : one.parameters)
    for (std::size_t k = 0; k < values.size(); ++k) EXPECT_NEAR(values[k], two.parameters.at(name)[k], 1e-12) << name;
  EXPECT_LT((one.inputs - two.inputs).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(KanBatchNorm, FoldingKeepsTheEvaluationOutputs) {
  const auto m = test_model({4, 6, 5, 3}, {"z15", "zaz21"}, true, true, 51);
  const auto folded = kan_fold_batch_norm(m);
  for (const auto& t : folded.parameters) EXPECT_EQ(t.name.find(".bn_"), std::string::npos) << t.name;
  const MatrixXd x = random_inputs(4, 20, 52);
  const auto a = kan_forward(kan_network::from_model(m), x, kan_mode::eval);
  const auto b = kan_forward(kan_network::from_model(folded), x, kan_mode::eval);
  EXPECT_LT((a.outputs - b.outputs).cwiseAbs().maxCoeff(), 1e-12);
  for (std::size_t h = 0; h < a.hidden.size(); ++h) EXPECT_LT((a.hidden[h] - b.hidden[h]).cwiseAbs().maxCoeff(), 1e-12);
  // A folded model is its own fold.
  EXPECT_EQ(kan_fold_batch_norm(folded).parameters, folded.parameters);
}

TEST(KanBatchNorm, UnfoldedGradientIsTheEvaluationModeGradient) {
  const auto m = test_model({4, 6, 3}, {"z15", "zaz21"}, true, false, 61);
  const auto folded = kan_fold_batch_norm(m);
  const MatrixXd x = random_inputs(4, 7, 62);
  const auto labels = random_labels(7, 3, 63);
  auto gradient_of = [&](const ir::model& model) {
    const auto net = kan_network::from_model(model);
    const auto f = kan_forward(net, x, kan_mode::eval, {.keep_for_backward = true});
    MatrixXd dy;
    softmax_cross_entropy(f.outputs, labels, &dy);
    return kan_backward(net, f, dy).parameters;
  };
  const auto direct = gradient_of(m);
  const auto via_fold = kan_unfold_gradient(m, gradient_of(folded));
  for (const auto& [name, values] : direct) {
    ASSERT_TRUE(via_fold.count(name)) << name;
    for (std::size_t k = 0; k < values.size(); ++k) EXPECT_NEAR(via_fold.at(name)[k], values[k], 1e-12) << name << k;
  }
}

TEST(KanBatchNorm, RunningStatisticsFollowPyTorchsRule) {
  const auto m = test_model({3, 4, 2}, {"z15", "zaz21"}, true, false, 71);
  const auto net = kan_network::from_model(m);
  const MatrixXd x = random_inputs(3, 9, 72);
  const auto f = kan_forward(net, x, kan_mode::train, {.keep_for_backward = true});
  const auto stats = kan_updated_running_statistics(net, f);
  // Independent: the pre-normalization outputs of layer 0 in eval mode are
  // the same y (batch norm comes after y), so recompute mean and unbiased var.
  const MatrixXd& y = f.layers[0].y;
  for (Eigen::Index o = 0; o < y.rows(); ++o) {
    const double mean = y.row(o).mean();
    const double var = (y.row(o).array() - mean).square().sum() / (y.cols() - 1);
    const double old_mean = m.parameter("layer0.bn_mean").values[static_cast<std::size_t>(o)];
    const double old_var = m.parameter("layer0.bn_var").values[static_cast<std::size_t>(o)];
    EXPECT_NEAR(stats.at("layer0.bn_mean")[static_cast<std::size_t>(o)], 0.9 * old_mean + 0.1 * mean, 1e-14);
    EXPECT_NEAR(stats.at("layer0.bn_var")[static_cast<std::size_t>(o)], 0.9 * old_var + 0.1 * var, 1e-12);
  }
}

TEST(KanNetwork, RejectsIncompleteBatchNormalization) {
  auto m = test_model({3, 4, 2}, {"z15", "zaz21"}, true, false, 81);
  std::erase_if(m.parameters, [](const ir::tensor& t) { return t.name == "layer0.bn_var"; });
  try {
    (void)kan_network::from_model(m);
    FAIL() << "expected a validation error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("3 of the 4 batch-normalization tensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spicenn::models
