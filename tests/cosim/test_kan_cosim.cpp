// KAN co-simulation: ngspice forward values against the software model,
// the circuit gradient (sensed basis currents + device conductances from
// one ac solve of the linearization deck per sample) against the software
// gradient and against finite differences through ngspice, deeper models,
// batch-normalized models, the sweep deck in the ngspice
// program, verify, and a short training run against SPICE that must follow
// the software run step for step.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <sstream>

#include "../devices/ngspice_runner.hpp"
#include "../models/kan_test_util.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/kan_evaluators.hpp"
#include "cosim/trainer.hpp"
#include "cosim/verify.hpp"
#include "data/dataset.hpp"
#include "models/kan.hpp"
#include "models/loss.hpp"

namespace spicenn::cosim {
namespace {

using Eigen::MatrixXd;

double max_abs_diff(const MatrixXd& a, const MatrixXd& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

// Every gradient tensor within rel × its largest |reference| entry.
void expect_gradients_close(const loss_gradient& got, const loss_gradient& ref, double rel, const std::string& what) {
  ASSERT_EQ(got.parameters.size(), ref.parameters.size()) << what;
  for (const auto& [name, values] : ref.parameters) {
    ASSERT_TRUE(got.parameters.count(name)) << what << ": " << name;
    const auto& g = got.parameters.at(name);
    double scale = 0.0, worst = 0.0;
    for (std::size_t k = 0; k < values.size(); ++k) {
      scale = std::max(scale, std::abs(values[k]));
      worst = std::max(worst, std::abs(g[k] - values[k]));
    }
    ASSERT_GT(scale, 0.0) << what << ": " << name << " is all zero";
    EXPECT_LE(worst, rel * scale) << what << ": " << name << " deviates by " << worst << " (scale " << scale << ")";
  }
  const double scale = ref.inputs.cwiseAbs().maxCoeff();
  EXPECT_LE(max_abs_diff(got.inputs, ref.inputs), rel * scale) << what << ": inputs";
}

TEST(KanSpiceEvaluator, ForwardMatchesTheSoftwareModelAcrossChunksAndEngines) {
  const auto m = test::kan_test_model({5, 6, 3}, {"z15", "zaz21"}, true, true, 3);
  const MatrixXd x = test::kan_test_inputs(5, 23, 4);
  auto spice = make_kan_spice_evaluator(m, {.threads = 2, .spice_chunk = 7});
  const auto got = spice->forward(x);
  const auto ref = make_kan_software_evaluator(m)->forward(x);
  const double scale = ref.outputs.cwiseAbs().maxCoeff();
  EXPECT_LE(max_abs_diff(got.outputs, ref.outputs), 1e-6 * scale);
  ASSERT_EQ(got.hidden.size(), 1u);
  EXPECT_LE(max_abs_diff(got.hidden[0], ref.hidden[0]), 1e-6);
  EXPECT_GE(spice->last_stats().sweeps, 4u);  // 23 samples in chunks of 7 on two engines
  // The sensed basis currents are the software model's Φ.
  const auto fwd =
      models::kan_forward(models::kan_network::from_model(models::kan_fold_batch_norm(m)), x, models::kan_mode::eval);
  for (std::size_t l = 0; l < 2; ++l) EXPECT_LE(max_abs_diff(spice->last_basis_values()[l], fwd.layers[l].phi), 1e-8) << l;
}

TEST(KanSpiceEvaluator, GradientMatchesSoftwareAndFiniteDifferencesThroughSpice) {
  const auto m = test::kan_test_model({3, 4, 2}, {"z15", "zaz21"}, false, true, 7);
  const MatrixXd x = test::kan_test_inputs(3, 5, 8);
  const auto labels = test::kan_test_labels(5, 2, 9);
  auto spice = make_kan_spice_evaluator(m, {.threads = 2});
  const auto got = spice->gradient(x, labels);
  EXPECT_EQ(spice->last_stats().ac_runs, 5u);  // one small-signal solve per sample
  const auto software = make_kan_software_evaluator(m)->gradient(x, labels);
  EXPECT_NEAR(got.loss, software.loss, 1e-9);
  expect_gradients_close(got, software, 1e-6, "spice vs software");
  // The device slopes read from the ac solve against the device law.
  const auto fwd =
      models::kan_forward(models::kan_network::from_model(m), x, models::kan_mode::eval, {.keep_for_backward = true});
  for (std::size_t l = 0; l < 2; ++l) {
    const double scale = fwd.layers[l].slope.cwiseAbs().maxCoeff();
    EXPECT_LE(max_abs_diff(spice->last_basis_slopes()[l], fwd.layers[l].slope), 1e-6 * scale) << l;
  }
  const auto fd = make_fd_evaluator(m, {.threads = 2, .fd_step = 1e-5})->gradient(x, labels);
  expect_gradients_close(got, fd, 1e-4, "spice vs finite differences through spice");
}

TEST(KanSpiceEvaluator, ThreeLayerModelsToo) {
  const auto m = test::kan_test_model({3, 4, 3, 2}, {"z15", "zaz21"}, false, false, 11);
  const MatrixXd x = test::kan_test_inputs(3, 3, 12);
  const auto labels = test::kan_test_labels(3, 2, 13);
  auto spice = make_kan_spice_evaluator(m, {.threads = 1});
  const auto got = spice->gradient(x, labels);
  EXPECT_EQ(spice->last_stats().ac_runs, 3u);
  expect_gradients_close(got, make_kan_software_evaluator(m)->gradient(x, labels), 1e-6, "three layers");
}

TEST(KanSpiceEvaluator, BatchNormalizedModelsGetTheEvaluationModeGradient) {
  const auto m = test::kan_test_model({3, 4, 2}, {"z15", "zaz21"}, true, false, 21);
  const MatrixXd x = test::kan_test_inputs(3, 4, 22);
  const auto labels = test::kan_test_labels(4, 2, 23);
  const auto got = make_kan_spice_evaluator(m, {.threads = 1})->gradient(x, labels);
  // Reference: the software model's backward pass in evaluation mode (running statistics).
  const auto net = models::kan_network::from_model(m);
  const auto fwd = models::kan_forward(net, x, models::kan_mode::eval, {.keep_for_backward = true});
  MatrixXd dy;
  loss_gradient ref;
  ref.loss = models::softmax_cross_entropy(fwd.outputs, labels, &dy);
  auto g = models::kan_backward(net, fwd, dy);
  ref.parameters = g.parameters;
  ref.inputs = g.inputs;
  expect_gradients_close(got, ref, 1e-6, "batch-normalized");
}

TEST(KanSpiceEvaluator, SweepDeckRunsInTheNgspiceProgram) {
  const auto m = test::kan_test_model({3, 4, 2}, {"z15", "zaz21"}, true, false, 31);
  const MatrixXd x = test::kan_test_inputs(3, 6, 32);
  const std::string output = devices::testing::run_ngspice(devices::testing::scratch_dir("kan_sweep"), kan_sweep_deck(m, x));
  // .print dc rows: index, sweep value, out0, out1.
  std::regex row(R"(^(\d+)\s+[-+0-9.e]+\s+([-+0-9.e]+)\s+([-+0-9.e]+)\s*$)");
  const auto ref = make_kan_software_evaluator(m)->forward(x);
  std::istringstream lines(output);
  int rows = 0;
  for (std::string l; std::getline(lines, l);) {
    std::smatch s;
    if (!std::regex_match(l, s, row)) continue;
    const int k = std::stoi(s[1]);
    ASSERT_LT(k, 6) << l;
    EXPECT_NEAR(std::stod(s[2]), ref.outputs(0, k), 1e-5) << l;
    EXPECT_NEAR(std::stod(s[3]), ref.outputs(1, k), 1e-5) << l;
    ++rows;
  }
  EXPECT_EQ(rows, 6) << output;
}

TEST(KanVerify, PassesForTheCircuitOfABatchNormalizedModel) {
  const auto m = test::kan_test_model({4, 5, 3}, {"a21", "z21"}, true, true, 41);
  const auto report = verify_kan(m, {.samples = 6, .threads = 2});
  EXPECT_TRUE(report.passed) << to_text(report);
  EXPECT_GE(report.checks.size(), 8u);
}

TEST(KanTraining, TrainingAgainstSpiceFollowsTheSoftwareRun) {
  // Ten samples of a 2-class toy problem in [0, 1]^2.
  data::dataset set = data::make_moons(40, 5);
  set.features = ((set.features.array() + 1.5f) / 4.0f).matrix();
  const auto start = test::kan_test_model({2, 3, 2}, {"z15", "zaz21"}, false, false, 51);
  train_options o;
  o.epochs = 2;
  o.batch_size = 10;
  o.schedule.base = 0.05;
  o.log = nullptr;
  ir::model by_spice = start, by_software = start;
  auto spice = make_evaluator(start, engine_kind::spice, {.threads = 1});
  auto software = make_evaluator(start, engine_kind::software, {.threads = 1});
  const auto rs = train(by_spice, *spice, set, nullptr, nullptr, o);
  const auto rw = train(by_software, *software, set, nullptr, nullptr, o);
  ASSERT_EQ(rs.steps, 8u);
  EXPECT_LT(rs.history.back().train_loss, rs.history.front().train_loss * 1.0001 + 0.0);
  for (const auto& t : by_software.parameters) {
    const auto& a = by_spice.parameter(t.name).values;
    for (std::size_t k = 0; k < a.size(); ++k) EXPECT_NEAR(a[k], t.values[k], 1e-6) << t.name << k;
  }
  double moved = 0.0;
  for (const auto& t : start.parameters)
    for (std::size_t k = 0; k < t.values.size(); ++k)
      moved = std::max(moved, std::abs(by_spice.parameter(t.name).values[k] - t.values[k]));
  EXPECT_GT(moved, 1e-3);  // training changed the model
}

}  // namespace
}  // namespace spicenn::cosim
