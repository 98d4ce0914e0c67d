// The KirchhoffNet software model against independent computations: a closed
// form, a fixed-step RK4 written here, finite differences of the forward
// pass, and itself at another thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"
#include "core/random.hpp"
#include "ir/edge_functions.hpp"
#include "ir/init.hpp"
#include "ir/schema.hpp"
#include "models/kirchhoffnet.hpp"
#include "models/loss.hpp"

namespace spicenn {
namespace {

using models::kn_network;
using models::kn_tolerances;

// A small network: every ordered node pair plus edges to and from ground,
// random θ of moderate size, unequal capacitances, outputs on chosen nodes.
ir::model small_model(const char* edge_function, std::uint64_t seed, std::int64_t slices = 2) {
  auto m = ir::init_kirchhoffnet(2, 4, 2, slices, edge_function, seed);
  rng r(seed + 7);
  auto& c = m.parameter("capacitance").values;
  for (auto& v : c) v = r.uniform(0.5, 2.0);
  for (std::int64_t k = 0; k < slices; ++k) {
    for (auto& t : m.parameter("slice" + std::to_string(k) + ".theta").values) t = r.uniform(-0.8, 0.8);
    m.parameter("slice" + std::to_string(k) + ".duration").values = {0.4 + 0.3 * static_cast<double>(k)};
  }
  m.parameter("output_nodes").values = {4, 3};
  ir::validate(m);
  return m;
}

Eigen::MatrixXd random_inputs(std::size_t rows, std::size_t cols, std::uint64_t seed) {
  rng r(seed);
  Eigen::MatrixXd x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = r.uniform(-1.0, 1.0);
  return x;
}

// Classic RK4 with a fixed step on the same ODE, straight from the model's
// tensors and the registry's scalar law: the independent reference.
Eigen::VectorXd rk4_outputs(const ir::model& m, const Eigen::VectorXd& x, int steps_per_unit) {
  const auto& law = ir::find_edge_function(m.options.at("edge_function"));
  const auto nodes = static_cast<std::size_t>(m.sizes.at("nodes"));
  const auto T = static_cast<std::size_t>(m.sizes.at("theta"));
  const auto& cap = m.parameter("capacitance").values;
  std::vector<double> v(nodes + 1, 0.0);
  for (Eigen::Index i = 0; i < x.size(); ++i) v[static_cast<std::size_t>(i) + 1] = x(i);
  for (std::int64_t k = 0; k < m.sizes.at("slices"); ++k) {
    const auto& e = m.parameter("slice" + std::to_string(k) + ".edges").values;
    const auto& th = m.parameter("slice" + std::to_string(k) + ".theta").values;
    const double duration = m.parameter("slice" + std::to_string(k) + ".duration").values[0];
    auto f = [&](const std::vector<double>& u) {
      std::vector<double> du(nodes + 1, 0.0);
      for (std::size_t j = 0; j < e.size() / 2; ++j) {
        auto s = static_cast<std::size_t>(e[2 * j]), d = static_cast<std::size_t>(e[2 * j + 1]);
        double i = law.current(u[s], u[d], &th[j * T]);
        du[s] -= i;
        du[d] += i;
      }
      du[0] = 0;
      for (std::size_t n = 1; n <= nodes; ++n) du[n] /= cap[n - 1];
      return du;
    };
    const int steps = std::max(1, static_cast<int>(std::ceil(duration * steps_per_unit)));
    const double h = duration / steps;
    for (int s = 0; s < steps; ++s) {
      auto k1 = f(v);
      auto y = v;
      for (std::size_t n = 0; n <= nodes; ++n) y[n] = v[n] + 0.5 * h * k1[n];
      auto k2 = f(y);
      for (std::size_t n = 0; n <= nodes; ++n) y[n] = v[n] + 0.5 * h * k2[n];
      auto k3 = f(y);
      for (std::size_t n = 0; n <= nodes; ++n) y[n] = v[n] + h * k3[n];
      auto k4 = f(y);
      for (std::size_t n = 0; n <= nodes; ++n) v[n] += h / 6 * (k1[n] + 2 * k2[n] + 2 * k3[n] + k4[n]);
    }
  }
  const auto& out = m.parameter("output_nodes").values;
  Eigen::VectorXd y(static_cast<Eigen::Index>(out.size()));
  for (std::size_t o = 0; o < out.size(); ++o) y(static_cast<Eigen::Index>(o)) = v[static_cast<std::size_t>(out[o])];
  return y;
}

// Tight enough that finite differences of the ReLU law agree too: the
// discrete adjoint of a step across a kink is only first-order accurate in
// that step, and the controller shrinks such steps with the tolerance.
constexpr kn_tolerances tight{.rtol = 1e-13, .atol = 1e-13, .first_step = 1e-3, .group = 3, .threads = 1};

TEST(KirchhoffNet, TwoNodeConductanceDecaysAsTheClosedForm) {
  // Nodes 1 and 2 joined by conductances g (1→2) and h (2→1), C = 1: the
  // difference decays as exp(-2(g+h)t) and the sum is conserved.
  std::vector<std::array<std::int64_t, 2>> edges = {{1, 2}, {2, 1}};
  auto m = ir::init_kirchhoffnet(2, 2, 2, 1, "conductance", 1, edges);
  m.parameter("slice0.theta").values = {0.3, 0.45};
  m.parameter("slice0.duration").values = {1.7};
  auto net = kn_network::from_model(m);
  Eigen::MatrixXd x(2, 2);
  x << 0.9, -0.2, 0.1, 0.6;
  auto out = models::kn_forward(net, x, tight).outputs;
  for (int b = 0; b < 2; ++b) {
    double sum = x(0, b) + x(1, b), diff = (x(0, b) - x(1, b)) * std::exp(-2 * 0.75 * 1.7);
    EXPECT_NEAR(out(0, b), (sum + diff) / 2, 1e-10);
    EXPECT_NEAR(out(1, b), (sum - diff) / 2, 1e-10);
  }
}

class EveryEdgeFunction : public ::testing::TestWithParam<const char*> {};

TEST_P(EveryEdgeFunction, MatchesAnIndependentRK4) {
  auto m = small_model(GetParam(), 3);
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 5, 11);
  auto fwd = models::kn_forward(net, x, tight);
  // RK4's error at 4000 steps per unit: ~1e-13 for the smooth laws; the
  // ReLU's kinks (the RHS is only Lipschitz) leave ~1e-9.
  const double bound = std::string(GetParam()) == "shift_relu1" ? 1e-8 : 1e-10;
  for (Eigen::Index b = 0; b < x.cols(); ++b) {
    Eigen::VectorXd ref = rk4_outputs(m, x.col(b), 4000);
    for (Eigen::Index o = 0; o < ref.size(); ++o) EXPECT_NEAR(fwd.outputs(o, b), ref(o), bound) << GetParam();
  }
  // The reference's tolerances still give the solution to about the tolerance.
  auto loose = models::kn_forward(net, x, {.rtol = 1e-3, .atol = 1e-3, .threads = 1});
  EXPECT_LT((loose.outputs - fwd.outputs).cwiseAbs().maxCoeff(), 5e-3);
  EXPECT_GT(loose.stats.accepted_steps, 0u);
  EXPECT_LT(loose.stats.accepted_steps, fwd.stats.accepted_steps);
}

// Central differences of the mean cross-entropy through kn_forward.
TEST_P(EveryEdgeFunction, GradientsMatchFiniteDifferences) {
  auto m = small_model(GetParam(), 5);
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 4, 13);
  std::vector<int> labels = {0, 1, 1, 0};
  auto g = models::kn_loss_gradient(net, x, labels, tight);
  auto loss_at = [&](const kn_network& n, const Eigen::MatrixXd& in) {
    return models::softmax_cross_entropy(models::kn_forward(n, in, tight).outputs, labels);
  };
  EXPECT_NEAR(g.loss, loss_at(net, x), 1e-12);
  // Finite differences see the integration error change with θ, divided by
  // the step: smooth for the smooth laws (h = 1e-6 is fine); at the ReLU's
  // kinks the adaptive steps jump, so there a larger step (truncation error
  // O(h), the output being C¹ in θ) and a looser bound.
  const bool kinked = std::string(GetParam()) == "shift_relu1";
  const double h = kinked ? 1e-4 : 1e-6, rel = kinked ? 2e-3 : 2e-5;
  double worst = 0;
  for (std::size_t k = 0; k < net.slices.size(); ++k)
    for (std::size_t i = 0; i < net.slices[k].theta.size(); ++i) {
      auto plus = net, minus = net;
      plus.slices[k].theta[i] += h;
      minus.slices[k].theta[i] -= h;
      double fd = (loss_at(plus, x) - loss_at(minus, x)) / (2 * h);
      double err = std::abs(fd - g.gradient.theta[k][i]) / std::max(1e-3, std::abs(fd));
      worst = std::max(worst, err);
      EXPECT_LT(err, rel) << GetParam() << " slice " << k << " theta[" << i << "]: adjoint "
                           << g.gradient.theta[k][i] << ", finite differences " << fd;
    }
  for (Eigen::Index i = 0; i < x.size(); ++i) {
    auto plus = x, minus = x;
    plus.data()[i] += h;
    minus.data()[i] -= h;
    double fd = (loss_at(net, plus) - loss_at(net, minus)) / (2 * h);
    EXPECT_NEAR(g.gradient.inputs.data()[i], fd, rel * std::max(1e-3, std::abs(fd))) << GetParam() << " input " << i;
  }
  RecordProperty("worst_relative_error", std::to_string(worst));
}

INSTANTIATE_TEST_SUITE_P(Builtins, EveryEdgeFunction,
                         ::testing::Values("shift_tanh2", "shift_tanh1", "shift_relu1", "conductance"));

TEST(KirchhoffNet, ResultsDoNotDependOnTheThreadCount) {
  auto m = small_model("shift_relu1", 9);
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 37, 17);
  std::vector<int> labels(37);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i % 2);
  kn_tolerances one{.group = 4, .threads = 1}, two{.group = 4, .threads = 2};
  auto a = models::kn_loss_gradient(net, x, labels, one), b = models::kn_loss_gradient(net, x, labels, two);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_TRUE((a.gradient.forward.outputs.array() == b.gradient.forward.outputs.array()).all());
  EXPECT_EQ(a.gradient.theta, b.gradient.theta);
  EXPECT_TRUE((a.gradient.inputs.array() == b.gradient.inputs.array()).all());
}

TEST(KirchhoffNet, ARegisteredEdgeFunctionIntegratesAndDifferentiates) {
  ir::register_edge_function(
      {.name = "test_cubic1",
       .theta_count = 2,
       .formula = "theta0*(vs - vd) + theta1*(vs - vd)^3",
       .current = [](double vs, double vd, const double* t) {
         double u = vs - vd;
         return t[0] * u + t[1] * u * u * u;
       },
       .partials = [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
         double u = vs - vd;
         *d_vs = t[0] + 3 * t[1] * u * u;
         *d_vd = -*d_vs;
         d_t[0] = u;
         d_t[1] = u * u * u;
       },
       .spice_expression = "{theta0}*({vs}-{vd})+{theta1}*({vs}-{vd})*({vs}-{vd})*({vs}-{vd})",
       .realisation = "active: a cubic transconductor (test only)"});
  auto m = small_model("test_cubic1", 21);
  for (auto* name : {"slice0.theta", "slice1.theta"})  // dissipative (θ ≥ 0): a negative cubic blows up
    for (auto& t : m.parameter(name).values) t = std::abs(t);
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 3, 23);
  auto fwd = models::kn_forward(net, x, tight);
  Eigen::VectorXd ref = rk4_outputs(m, x.col(1), 4000);
  EXPECT_NEAR(fwd.outputs(0, 1), ref(0), 1e-9);
  std::vector<int> labels = {1, 0, 1};
  auto g = models::kn_loss_gradient(net, x, labels, tight);
  auto plus = net, minus = net;
  plus.slices[1].theta[3] += 1e-6;
  minus.slices[1].theta[3] -= 1e-6;
  double fd = (models::softmax_cross_entropy(models::kn_forward(plus, x, tight).outputs, labels) -
               models::softmax_cross_entropy(models::kn_forward(minus, x, tight).outputs, labels)) /
              2e-6;
  EXPECT_NEAR(g.gradient.theta[1][3], fd, 1e-6 + 1e-4 * std::abs(fd));
  EXPECT_THROW(ir::register_edge_function({.name = "test_cubic1", .theta_count = 1}), error);
}

TEST(KirchhoffNet, SliceAdjointsChainToTheWholeNetworkGradient) {
  // Re-anchoring each slice at the exact slice-start state must reproduce
  // kn_backward: slice 1 from the slice-0 end state, then slice 0.
  auto m = small_model("shift_tanh2", 51);
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 6, 53);
  Eigen::MatrixXd seed = random_inputs(2, 6, 55);  // an arbitrary ∂L/∂outputs
  auto whole = models::kn_backward(net, x, [&](const Eigen::MatrixXd&) { return seed; }, tight);
  Eigen::MatrixXd lambda = Eigen::MatrixXd::Zero(4, 6);
  lambda.row(3) = seed.row(0);  // output_nodes = {4, 3}
  lambda.row(2) = seed.row(1);
  auto s1 = models::kn_slice_backward(net, 1, whole.forward.slice_states[0], lambda, tight);
  EXPECT_LT((s1.end_state - whole.forward.slice_states[1]).cwiseAbs().maxCoeff(), 1e-14);
  Eigen::MatrixXd start = Eigen::MatrixXd::Zero(4, 6);
  start.topRows(2) = x;
  auto s0 = models::kn_slice_backward(net, 0, start, s1.lambda_start, tight);
  for (std::size_t i = 0; i < s1.theta.size(); ++i) EXPECT_NEAR(s1.theta[i], whole.theta[1][i], 1e-14);
  for (std::size_t i = 0; i < s0.theta.size(); ++i) EXPECT_NEAR(s0.theta[i], whole.theta[0][i], 1e-14);
  EXPECT_LT((s0.lambda_start.topRows(2) - whole.inputs).cwiseAbs().maxCoeff(), 1e-14);
}

TEST(KirchhoffNet, TrajectoryPassesThroughTheSliceEndStates) {
  auto m = small_model("shift_tanh1", 31);
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 2, 37);
  auto fwd = models::kn_forward(net, x, tight);
  std::vector<double> times = {0.0, 0.2, 0.4, 0.75, 1.1};  // slices end at 0.4 and 1.1
  auto traj = models::kn_trajectory(net, x, times, tight);
  ASSERT_EQ(traj.size(), times.size());
  EXPECT_NEAR(traj[0](0, 1), x(0, 1), 0);
  EXPECT_LT((traj[2] - fwd.slice_states[0]).cwiseAbs().maxCoeff(), 1e-9);
  EXPECT_LT((traj[4] - fwd.slice_states[1]).cwiseAbs().maxCoeff(), 1e-9);
  // Mid-slice points against RK4 of a model cut at that time.
  auto cut = m;
  cut.parameter("slice1.duration").values = {0.35};
  Eigen::VectorXd ref = rk4_outputs(cut, x.col(0), 4000);
  EXPECT_NEAR(traj[3](3, 0), ref(0), 1e-6);  // output node 4 = row 3
}

TEST(KirchhoffNet, TooManyStepsIsAnErrorNamingTheSlice) {
  auto m = small_model("conductance", 41);
  for (auto& t : m.parameter("slice1.theta").values) t = 50.0;  // stiff for an explicit method
  auto net = kn_network::from_model(m);
  auto x = random_inputs(2, 1, 43);
  try {
    models::kn_forward(net, x, {.max_steps = 50});
    FAIL() << "expected an error";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("slice 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace spicenn
