// KAN co-simulation: ngspice forward values against the software model,
// the circuit gradient (sensed basis currents + device conductances from
// one ac solve of the linearization deck per sample) against the software
// gradient and against finite differences through ngspice, deeper models,
// batch-normalized models, the sweep deck in the ngspice
// program, verify, and a short training run against SPICE that must follow
// the software run step for step.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>

#include "../devices/ngspice_runner.hpp"
#include "../models/kan_test_util.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/kan_evaluators.hpp"
#include "cosim/realisability.hpp"
#include "cosim/trainer.hpp"
#include "cosim/verify.hpp"
#include "data/dataset.hpp"
#include "devices/device.hpp"
#include "devices/fit.hpp"
#include "ir/init.hpp"
#include "models/kan.hpp"
#include "models/loss.hpp"
#include "scratch_path.hpp"

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

// ------------------------------------------------------------ realisability

std::string warnings_text(const ir::model& m) {
  std::string out;
  for (const auto& w : realisability_warnings(m)) out += to_text(w) + "\n";
  return out;
}

// Fresh KANs (with and without batch normalization, with mismatch) draw no
// warning; each rule, violated on purpose, draws one naming the tensor and
// the entry that was set.
TEST(KanRealisability, WarningsNameTheTensorIndexAndLimit) {
  const auto good = ir::init_kan({3, 4, 2}, {"z15", "zaz21"}, 7);
  EXPECT_EQ(warnings_text(good), "");
  EXPECT_EQ(warnings_text(ir::init_kan({3, 4, 2}, {"z15", "zaz21"}, 7, {.batch_norm = true})), "");
  EXPECT_EQ(warnings_text(test::kan_test_model({4, 5, 3}, {"a21", "z21"}, true, true, 41)), "");

  // One crossbar coefficient of 5e6: a 0.002-ohm resistor at layer1.coef[2, 1, 0].
  auto big = good;
  big.parameter("layer1.coef").at({2, 1, 0}) = 5e6;
  auto text = warnings_text(big);
  EXPECT_NE(text.find("warning: layer1.coef[2, 1, 0]: resistor 0.002 ohm (coef 5e+06 x 0.0001 S): below 1 ohm"),
            std::string::npos)
      << text;

  // One of 1e-9 (1e-13 S): a 1e13-ohm resistor.
  auto faint = good;
  faint.parameter("layer0.coef").at({1, 3, 1}) = 1e-9;
  text = warnings_text(faint);
  EXPECT_NE(text.find("warning: layer0.coef[1, 3, 1]: resistor 1e+13 ohm"), std::string::npos) << text;
  EXPECT_NE(text.find("above 1 Tohm"), std::string::npos) << text;

  // The circuit realises the folded coefficients: a batch-norm gain of 1e6
  // on output 2 of layer 0 makes every c[i, 2, d] a resistor below 1 ohm,
  // the largest |c| the smallest, although no coef itself is out of range.
  auto bn = ir::init_kan({3, 4, 2}, {"z15", "zaz21"}, 7, {.batch_norm = true});
  bn.parameter("layer0.bn_weight").values[2] = 1e6;
  std::size_t largest_i = 0, largest_d = 0;
  double largest = 0;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t d = 0; d < 2; ++d)
      if (const double c = std::abs(bn.parameter("layer0.coef").at({i, 2, d})); c > largest)
        largest = c, largest_i = i, largest_d = d;
  text = warnings_text(bn);
  EXPECT_NE(text.find("warning: layer0.coef[" + std::to_string(largest_i) + ", 2, " + std::to_string(largest_d) +
                      "]: resistor "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("(coef with batch norm folded "), std::string::npos) << text;
  EXPECT_NE(text.find(", and 5 more of this tensor: below 1 ohm"), std::string::npos) << text;

  // ... and the mismatch: m = 1e-10 on one entry is a 1e14-ohm resistor.
  auto mm = test::kan_test_model({4, 5, 3}, {"a21", "z21"}, false, true, 41);
  mm.parameter("layer1.coef_mismatch").at({3, 0, 1}) = 1e-10;
  const double c = mm.parameter("layer1.coef").at({3, 0, 1});
  text = warnings_text(mm);
  EXPECT_NE(text.find(fmt::format("warning: layer1.coef[3, 0, 1]: resistor {:.3g} ohm (coef x mismatch", 1e4 / std::abs(c * 1e-10))),
            std::string::npos)
      << text;

  // Crossbar currents |c|/ohm·|u| of ~1e-11 A with ohm = 1e10 (ampere = 1e-10).
  auto weak = good;
  weak.scale = weak.scale.with_volt_ampere(weak.scale.volt, 1e-10);
  text = warnings_text(weak);
  EXPECT_NE(text.find("warning: layer0: crossbar currents of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: layer1: crossbar currents of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("ngspice's abstol (1e-15 A)"), std::string::npos) << text;
  EXPECT_EQ(text.find("node voltages"), std::string::npos) << text;
  EXPECT_EQ(text.find("device currents"), std::string::npos) << text;

  // Node voltages below 1e-7 V with volt = 1e-7 (ohm kept at 1e4; the
  // devices then sit near 0 V, so their currents are faint too).
  auto low = good;
  low.scale.volt = 1e-7;
  low.scale.ampere = 1e-11;
  text = warnings_text(low);
  EXPECT_NE(text.find("warning: layer0: node voltages of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: layer1: node voltages of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("ngspice's vntol (1e-12 V)"), std::string::npos) << text;
  EXPECT_EQ(text.find("resistor"), std::string::npos) << text;
}

// Device currents B·I_ref: a basis device fitted to z15's curve times 1e-8
// (I_ref ~ 1e-13 A) draws the abstol warning for that basis, and only that.
TEST(KanRealisability, FaintDevicesDrawTheDeviceCurrentWarning) {
  const auto& z15 = devices::builtin_devices().get("z15");
  const auto window = *z15.window();
  devices::iv_data iv;
  for (int k = 0; k <= 200; ++k) {
    const double v = window.lo + (window.hi - window.lo) * k / 200.0;
    iv.voltage.push_back(v);
    iv.current.push_back(1e-8 * z15.current(v));
    iv.line.push_back(static_cast<std::size_t>(k + 1));
  }
  iv.source = "z15 x 1e-8";
  auto fitted = devices::fit_device(iv, "faint_z15", {.method = devices::fit_method::spline, .spline_knots = 60});
  const auto dir = test::scratch_path("kan_faint_device");
  std::filesystem::create_directories(dir);
  const auto lib = dir / "faint_z15.lib";
  devices::write_fitted_library(fitted, lib);
  const auto m = ir::init_kan({3, 4, 2}, {lib.string(), "zaz21"}, 7);
  const auto text = warnings_text(m);
  EXPECT_NE(text.find("warning: layer0: basis 0 (faint_z15) device currents of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("warning: layer1: basis 0 (faint_z15) device currents of ~"), std::string::npos) << text;
  EXPECT_EQ(text.find("basis 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("crossbar currents"), std::string::npos) << text;
  EXPECT_EQ(warnings_text(ir::init_kan({3, 4, 2}, {"z15", "zaz21"}, 7)), "");  // the same model with z15 itself
}

}  // namespace
}  // namespace spicenn::cosim
