// KirchhoffNet co-simulation: the transient in embedded ngspice against the
// software model at tight tolerances (outputs and slice-end states),
// theta and initial conditions changed in place against a fresh load, the
// physics-aware gradient against finite differences through ngspice, and a
// short training run against SPICE that must follow the software run.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/kirchhoffnet_evaluators.hpp"
#include "cosim/realisability.hpp"
#include "cosim/trainer.hpp"
#include "cosim/verify.hpp"
#include "data/dataset.hpp"
#include "ir/init.hpp"

namespace spicenn::cosim {
namespace {

using Eigen::MatrixXd;

ir::model small_model(const char* edge_function, std::uint64_t seed, std::int64_t nodes = 5) {
  auto m = ir::init_kirchhoffnet(2, nodes, 2, 2, edge_function, seed);
  rng r(seed + 3);
  for (auto& c : m.parameter("capacitance").values) c = r.uniform(0.5, 2.0);
  for (int k = 0; k < 2; ++k)
    for (auto& t : m.parameter("slice" + std::to_string(k) + ".theta").values) t = r.uniform(-0.6, 0.6);
  m.parameter("slice1.duration").values = {0.8};
  return m;
}

MatrixXd inputs(Eigen::Index batch, std::uint64_t seed) {
  rng r(seed);
  MatrixXd x(2, batch);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = r.uniform(-1, 1);
  return x;
}

// Every θ tensor and ∂L/∂x within rel × the largest |finite difference|.
void expect_close_to_finite_differences(const loss_gradient& g, const loss_gradient& fd, double rel,
                                        const std::string& what) {
  for (const auto& [name, ref] : fd.parameters) {
    const auto& got = g.parameters.at(name);
    double scale = 0, worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      scale = std::max(scale, std::abs(ref[i]));
      worst = std::max(worst, std::abs(got[i] - ref[i]));
    }
    ASSERT_GT(scale, 0.0) << name;
    std::printf("%s %s: vs finite differences through ngspice %.3g of %.3g\n", what.c_str(), name.c_str(), worst, scale);
    EXPECT_LE(worst, rel * scale) << what << " " << name;
  }
  EXPECT_LE((g.inputs - fd.inputs).cwiseAbs().maxCoeff(), rel * fd.inputs.cwiseAbs().maxCoeff()) << what << " inputs";
}

const evaluator_options tight{.threads = 2, .ode_rtol = 1e-10, .ode_atol = 1e-10};

class EveryEdgeFunction : public ::testing::TestWithParam<const char*> {};

TEST_P(EveryEdgeFunction, TransientMatchesTheSoftwareODE) {
  const auto m = small_model(GetParam(), 7);
  const MatrixXd x = inputs(5, 8);
  auto spice = make_evaluator(m, engine_kind::spice, tight);
  const auto got = spice->forward(x);
  const auto ref = make_evaluator(m, engine_kind::software, tight)->forward(x);
  const double scale = std::max(1.0, ref.outputs.cwiseAbs().maxCoeff());
  EXPECT_LE((got.outputs - ref.outputs).cwiseAbs().maxCoeff(), 1e-4 * scale) << GetParam();
  ASSERT_EQ(got.hidden.size(), 2u);
  // The slice-0 end state: where the first slice's circuit ends and the second's begins.
  EXPECT_LE((got.hidden[0] - ref.hidden[0]).cwiseAbs().maxCoeff(), 1e-4 * scale) << GetParam();
  EXPECT_LE((got.hidden[1] - ref.hidden[1]).cwiseAbs().maxCoeff(), 1e-4 * scale) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Builtins, EveryEdgeFunction,
                         ::testing::Values("shift_tanh2", "shift_tanh1", "shift_relu1", "conductance"));

// The standard transient (ngspice's default tolerances, for evaluation at
// scale) against the exact ODE: within its documented few percent of the
// signal scale, and not the same numbers as the precise one (so the option
// reaches the simulator).
TEST(KirchhoffNetSpiceEvaluator, StandardTransientStaysWithinAFewPercent) {
  const auto m = small_model("shift_relu1", 7);
  const MatrixXd x = inputs(5, 8);
  auto standard_options = tight;
  standard_options.transient = spice_transient::standard;
  const auto got = make_evaluator(m, engine_kind::spice, standard_options)->forward(x);
  const auto precise = make_evaluator(m, engine_kind::spice, tight)->forward(x);
  const auto ref = make_evaluator(m, engine_kind::software, tight)->forward(x);
  const double scale = std::max(1.0, ref.outputs.cwiseAbs().maxCoeff());
  const double standard_error = (got.outputs - ref.outputs).cwiseAbs().maxCoeff();
  const double precise_error = (precise.outputs - ref.outputs).cwiseAbs().maxCoeff();
  std::printf("standard transient: %.3g of the scale %.3g (precise: %.3g)\n", standard_error, scale, precise_error);
  EXPECT_LE(standard_error, 5e-2 * scale);
  EXPECT_GT(standard_error, precise_error);
}

// After an optimizer step the evaluator either recompiles with the new θ
// inline (the default) or alters θ's dc sources in place: both give what a
// fresh evaluator of the new model gives.
TEST(KirchhoffNetSpiceEvaluator, NewThetaReloadedOrAlteredInPlaceEqualsAFreshLoad) {
  for (bool alter : {false, true}) {
    SCOPED_TRACE(alter ? "altered in place" : "recompiled and reloaded");
    const evaluator_options options{.threads = 1, .kirchhoffnet_alter_theta = alter};
    auto m = small_model("shift_tanh1", 11);
    const MatrixXd x = inputs(3, 12);
    auto spice = make_evaluator(m, engine_kind::spice, options);
    (void)spice->forward(x);  // loads the circuit
    rng r(13);
    for (auto& t : m.parameter("slice1.theta").values) t += 0.1 * r.normal();
    spice->set_model(m);  // same structure, new θ
    const auto updated = spice->forward(x);
    const auto fresh = make_evaluator(m, engine_kind::spice, {.threads = 1})->forward(x);
    EXPECT_LE((updated.outputs - fresh.outputs).cwiseAbs().maxCoeff(), 1e-9);
    // A second step (in place: the sources are there now).
    for (auto& t : m.parameter("slice0.theta").values) t -= 0.05 * r.normal();
    spice->set_model(m);
    EXPECT_LE((spice->forward(x).outputs - make_evaluator(m, engine_kind::spice, {.threads = 1})->forward(x).outputs)
                  .cwiseAbs()
                  .maxCoeff(),
              1e-9);
    // An evaluator whose engine first loads after a set_model holds the new θ
    // (the netlist was compiled with the old ones).
    auto late = make_evaluator(small_model("shift_tanh1", 11), engine_kind::spice, options);
    late->set_model(m);
    const auto fresh2 = make_evaluator(m, engine_kind::spice, {.threads = 1})->forward(x);
    EXPECT_LE((late->forward(x).outputs - fresh2.outputs).cwiseAbs().maxCoeff(), 1e-9);
    // The initial conditions of one sample do not leak into the next.
    const auto one = make_evaluator(m, engine_kind::spice, options)->forward(x.col(2));
    EXPECT_LE((one.outputs.col(0) - fresh2.outputs.col(2)).cwiseAbs().maxCoeff(), 1e-9);
  }
}

TEST(KirchhoffNetSpiceEvaluator, PhysicsAwareGradientMatchesFiniteDifferencesThroughSpice) {
  const auto m = small_model("shift_tanh1", 17, 3);  // 12 edges × 2 θ × 2 slices
  const MatrixXd x = inputs(3, 18);
  const std::vector<int> labels = {0, 1, 1};
  const auto g = make_evaluator(m, engine_kind::spice, tight)->gradient(x, labels);
  const auto fd = make_evaluator(m, engine_kind::finite_differences, {.threads = 2, .fd_step = 1e-4})->gradient(x, labels);
  const auto sw = make_evaluator(m, engine_kind::software, tight)->gradient(x, labels);
  EXPECT_NEAR(g.loss, sw.loss, 1e-5);
  for (const auto& [name, ref] : fd.parameters) {
    double d_sw = 0, d_fd = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      d_sw = std::max(d_sw, std::abs(g.parameters.at(name)[i] - sw.parameters.at(name)[i]));
      d_fd = std::max(d_fd, std::abs(sw.parameters.at(name)[i] - ref[i]));
    }
    RecordProperty(name + "_vs_software", std::to_string(d_sw));
    RecordProperty(name + "_software_vs_fd", std::to_string(d_fd));
    std::printf("%s: |physics-aware - software| %.3g, |software - fd| %.3g\n", name.c_str(), d_sw, d_fd);
  }
  expect_close_to_finite_differences(g, fd, 1e-3, "physics-aware");
}

class CircuitAdjoint : public ::testing::TestWithParam<const char*> {};

TEST_P(CircuitAdjoint, MatchesFiniteDifferencesThroughSpice) {
  const auto m = small_model(GetParam(), 19, 3);
  const MatrixXd x = inputs(2, 20);
  const std::vector<int> labels = {1, 0};
  evaluator_options adjoint = tight;
  adjoint.circuit_adjoint = true;
  const auto g = make_evaluator(m, engine_kind::spice, adjoint)->gradient(x, labels);
  const auto fd = make_evaluator(m, engine_kind::finite_differences, {.threads = 2, .fd_step = 1e-4})->gradient(x, labels);
  EXPECT_NEAR(g.loss, fd.loss, 1e-9);
  expect_close_to_finite_differences(g, fd, 1e-3, std::string("circuit adjoint, ") + GetParam());
}

INSTANTIATE_TEST_SUITE_P(Builtins, CircuitAdjoint,
                         ::testing::Values("shift_tanh2", "shift_tanh1", "shift_relu1", "conductance"));

TEST(KirchhoffNetTraining, TrainingAgainstSpiceFollowsTheSoftwareRun) {
  data::dataset set = data::make_moons(20, 5);
  const auto start = small_model("shift_tanh1", 21);
  train_options o;
  o.epochs = 2;
  o.batch_size = 10;
  o.schedule.base = 0.05;
  o.log = nullptr;
  ir::model by_spice = start, by_software = start;
  auto spice = make_evaluator(start, engine_kind::spice, tight);
  auto software = make_evaluator(start, engine_kind::software, tight);
  const auto rs = train(by_spice, *spice, set, nullptr, nullptr, o);
  const auto rw = train(by_software, *software, set, nullptr, nullptr, o);
  ASSERT_EQ(rs.steps, 4u);
  double moved = 0.0;
  for (const auto& t : by_software.parameters) {
    const auto& a = by_spice.parameter(t.name).values;
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_NEAR(a[k], t.values[k], 1e-4) << t.name << k;
      moved = std::max(moved, std::abs(t.values[k] - start.parameter(t.name).values[k]));
    }
  }
  EXPECT_GT(moved, 1e-2);  // training changed the model
}

TEST(KirchhoffNetVerify, PassesOnACircuitAndComparesEveryQuantity) {
  const auto m = small_model("shift_relu1", 31);
  const auto report = verify_model(m, {.samples = 4, .threads = 2});
  EXPECT_TRUE(report.passed) << to_text(report);
  EXPECT_EQ(report.checks.size(), 7u);  // outputs, 2 slice ends, loss, 2 theta gradients, inputs
  // A tolerance the transient cannot meet must fail (the check can fail).
  const auto strict = verify_model(m, {.samples = 4, .transient_tolerance = 1e-12, .threads = 2});
  EXPECT_FALSE(strict.passed);
}

TEST(KirchhoffNetTrajectory, SpiceFollowsTheSoftwareODEAtIntermediateTimes) {
  const auto m = small_model("shift_tanh2", 33);
  Eigen::VectorXd x(2);
  x << 0.4, -0.7;
  const auto tr = kirchhoffnet_trajectory(m, x, 41, tight);
  ASSERT_EQ(tr.times.size(), 41u);
  EXPECT_DOUBLE_EQ(tr.times.back(), 1.3);  // durations 0.5 + 0.8
  const double scale = std::max(1.0, tr.software.cwiseAbs().maxCoeff());
  EXPECT_LE((tr.spice - tr.software).cwiseAbs().maxCoeff(), 1e-4 * scale);
  EXPECT_GT((tr.software.col(20) - tr.software.col(0)).cwiseAbs().maxCoeff(), 1e-2);  // the state moves
}

// ------------------------------------------------------------ realisability

std::string warnings_text(const ir::model& m) {
  std::string out;
  for (const auto& w : realisability_warnings(m)) out += to_text(w) + "\n";
  return out;
}

ir::model with_scale(ir::model m, double volt, double ampere) {
  m.scale = m.scale.with_volt_ampere(volt, ampere);
  return m;
}

// Fresh KirchhoffNets of every edge function draw no warning; each rule,
// violated on purpose, draws one naming the tensor and the entry that was set.
TEST(KirchhoffNetRealisability, WarningsNameTheTensorIndexAndLimit) {
  for (const char* fn : {"conductance", "shift_relu1", "shift_tanh1", "shift_tanh2"}) {
    EXPECT_EQ(warnings_text(ir::init_kirchhoffnet(2, 5, 2, 2, fn, 3)), "") << fn;
    EXPECT_EQ(warnings_text(small_model(fn, 11)), "") << fn;
  }

  // Capacitance 1e-7 (1e-16 F) on node 4 and 1e10 (10 F) on node 2.
  auto caps = ir::init_kirchhoffnet(2, 5, 2, 2, "shift_tanh1", 3);
  caps.parameter("capacitance").at({3}) = 1e-7;
  caps.parameter("capacitance").at({1}) = 1e10;
  auto text = warnings_text(caps);
  EXPECT_NE(text.find("warning: capacitance[3]: capacitor 1e-16 F (value 1e-07 x 1e-09 F): below 1 fF"), std::string::npos)
      << text;
  EXPECT_NE(text.find("warning: capacitance[1]: capacitor 10 F (value 1e+10 x 1e-09 F): above 1 F"), std::string::npos)
      << text;

  // The conductance law: θ0 = 1e-9 is a 1e13-ohm resistor, θ0 = -2e4 a
  // 0.5-ohm (negative) one; the same θ0 in another law is no resistor.
  auto g = ir::init_kirchhoffnet(2, 5, 2, 2, "conductance", 5);
  g.parameter("slice1.theta").at({4, 0}) = 1e-9;
  g.parameter("slice0.theta").at({2, 0}) = -2e4;
  text = warnings_text(g);
  EXPECT_NE(text.find("warning: slice1.theta[4, 0]: resistor 1e+13 ohm (theta0 1e-09 x 0.0001 S): above 1 Tohm"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("warning: slice0.theta[2, 0]: resistor 0.5 ohm (theta0 -2e+04 x 0.0001 S): below 1 ohm"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("prune"), std::string::npos) << text;  // prune has no KirchhoffNet form
  auto relu = ir::init_kirchhoffnet(2, 5, 2, 2, "shift_relu1", 5);
  relu.parameter("slice1.theta").at({4, 0}) = 1e-9;
  EXPECT_EQ(warnings_text(relu), "");

  // Edge currents of ~1e-15 A (ampere = 1e-14) in both slices.
  const auto base = ir::init_kirchhoffnet(2, 5, 2, 2, "shift_tanh1", 3);
  text = warnings_text(with_scale(base, 1.0, 1e-14));
  EXPECT_NE(text.find("warning: slice0: edge currents of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: slice1: edge currents of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("ngspice's abstol (1e-15 A)"), std::string::npos) << text;
  EXPECT_EQ(text.find("node voltages"), std::string::npos) << text;

  // Node voltages of ~1e-7 V (volt = 1e-7, the same currents).
  text = warnings_text(with_scale(base, 1e-7, 1e-4));
  EXPECT_NE(text.find("warning: slice0: node voltages of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("ngspice's vntol (1e-12 V)"), std::string::npos) << text;
  EXPECT_EQ(text.find("edge currents"), std::string::npos) << text;
}

// The check runs on every compile: on a 14x14 MNIST-size network (246
// nodes, 2 slices of 49,132 edges) it takes a fraction of a second.
TEST(KirchhoffNetRealisability, IsCheapOnAnImageSizeNetwork) {
  const auto m = ir::init_kirchhoffnet(196, 246, 10, 2, "shift_relu1", 9, ir::image_topology(14, 14, 4, 50));
  ASSERT_EQ(m.size("edges"), 49132);
  const auto t0 = std::chrono::steady_clock::now();
  const auto warnings = realisability_warnings(m);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("realisability_warnings of a 2 x 49,132-edge KirchhoffNet: %.3f s, %zu warnings\n", seconds, warnings.size());
  EXPECT_TRUE(warnings.empty());
  EXPECT_LT(seconds, 1.0);
  // The trajectory was integrated (not skipped at the step cap): faint currents are seen.
  const auto faint = warnings_text(with_scale(m, 1.0, 1e-14));
  EXPECT_NE(faint.find("warning: slice1: edge currents of ~"), std::string::npos) << faint;
}

}  // namespace
}  // namespace spicenn::cosim
