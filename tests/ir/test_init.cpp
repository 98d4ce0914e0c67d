#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "core/error.hpp"
#include "devices/device.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "ir/schema.hpp"
#include "ir_test_util.hpp"

namespace spicenn::ir {
namespace {

using test::expect_error;
using test::expect_same_model;

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

TEST(IrInit, SameSeedSameModelDifferentSeedDifferentModel) {
  expect_same_model(init_mon(4, 6, 2, 2, 42), init_mon(4, 6, 2, 2, 42));
  expect_same_model(init_kan({3, 4, 2}, {"z15", "zaz21"}, 42), init_kan({3, 4, 2}, {"z15", "zaz21"}, 42));
  expect_same_model(init_kirchhoffnet(2, 3, 1, 2, "shift_tanh2", 42), init_kirchhoffnet(2, 3, 1, 2, "shift_tanh2", 42));
  EXPECT_NE(init_mon(4, 6, 2, 2, 42).parameter("stage0.h_pos").values,
            init_mon(4, 6, 2, 2, 43).parameter("stage0.h_pos").values);
  EXPECT_NE(init_kan({3, 4, 2}, {"z15"}, 1).parameter("layer0.coef").values,
            init_kan({3, 4, 2}, {"z15"}, 2).parameter("layer0.coef").values);
  EXPECT_NE(init_kirchhoffnet(2, 3, 1, 1, "conductance", 1).parameter("slice0.theta").values,
            init_kirchhoffnet(2, 3, 1, 1, "conductance", 2).parameter("slice0.theta").values);
}

TEST(IrInit, RandomStreamIsPinned) {
  // mt19937_64 with seed 42: first output 13930160852258120406; top 53 bits
  // scaled by 2^-53 give the first uniform. h_pos is the first tensor drawn
  // after g_between (hidden = 1 has no off-diagonal entries) and g_ground.
  model m = init_mon(1, 1, 1, 1, 42);
  std::mt19937_64 engine(42);
  double u0 = static_cast<double>(engine() >> 11) * 0x1.0p-53;  // g_ground[0]
  double u1 = static_cast<double>(engine() >> 11) * 0x1.0p-53;  // h_pos[0] (fan-in 1)
  EXPECT_EQ(m.parameter("stage0.g_ground").values[0], u0);
  EXPECT_EQ(m.parameter("stage0.h_pos").values[0], u1);
}

TEST(IrInit, MonIsValidAndWellScaled) {
  model m = init_mon(100, 50, 10, 2, 7);
  validate(m);
  EXPECT_EQ(m.option("diode"), "ideal");
  EXPECT_EQ(m.device("diode").name, "pwl_diode");
  EXPECT_EQ(m.scale.volt, 1.0);
  EXPECT_EQ(m.scale.ampere, 1e-4);
  EXPECT_EQ(m.origin.seed, 7u);
  EXPECT_NE(m.origin.created_by.find("init_mon"), std::string::npos);
  // h ~ U(0,1)/sqrt(100): mean 0.05, all in [0, 0.1)
  const auto& h = m.parameter("stage0.h_pos").values;
  EXPECT_NEAR(mean(h), 0.05, 0.005);
  for (double x : h) EXPECT_TRUE(x >= 0 && x < 0.1);
  // stage 1 is fed by the 50 hidden nodes: U(0,1)/sqrt(50)
  EXPECT_NEAR(mean(m.parameter("stage1.h_neg").values), 0.5 / std::sqrt(50.0), 0.01);
  const auto& w = m.parameter("readout.weight").values;
  double var = 0;
  for (double x : w) var += x * x;
  var /= static_cast<double>(w.size());
  EXPECT_NEAR(var, 1.0 / 50, 0.3 / 50);
  EXPECT_EQ(init_mon(1, 2, 1, 1, 0, "shockley").device("diode").name, "shockley_diode");
  expect_error<error>([] { (void)init_mon(1, 2, 1, 1, 0, "zener"); }, {"ideal or shockley", "'zener'"});
  expect_error<validation_error>([] { (void)init_mon(1, 0, 1, 1, 0); }, {"hidden = 0 is out of range"});
}

// input_scale multiplies stage 0's input conductances and nothing else: the
// same random draws, so 1 (the default) is the model of before.
TEST(IrInit, MonInputScaleMultipliesTheFirstStagesInputConductancesOnly) {
  const model a = init_mon(3, 5, 2, 2, 11);
  const model b = init_mon(3, 5, 2, 2, 11, "ideal", 3.0);
  expect_same_model(a, init_mon(3, 5, 2, 2, 11, "ideal", 1.0));
  for (const auto& t : a.parameters) {
    const auto& scaled = b.parameter(t.name).values;
    ASSERT_EQ(scaled.size(), t.values.size()) << t.name;
    const bool input = t.name == "stage0.h_pos" || t.name == "stage0.h_neg";
    for (std::size_t i = 0; i < t.values.size(); ++i)
      EXPECT_DOUBLE_EQ(scaled[i], (input ? 3.0 : 1.0) * t.values[i]) << t.name << "[" << i << "]";
  }
  EXPECT_GT(mean(b.parameter("stage0.h_pos").values), 0.0);
  EXPECT_NE(b.origin.created_by.find("input_scale=3"), std::string::npos) << b.origin.created_by;
  EXPECT_EQ(a.origin.created_by.find("input_scale"), std::string::npos) << a.origin.created_by;
  expect_error<error>([] { (void)init_mon(2, 3, 2, 1, 0, "ideal", 0.0); }, {"input scale must be a positive number"});
  expect_error<error>([] { (void)init_mon(2, 3, 2, 1, 0, "ideal", -1.0); }, {"input scale"});
}

TEST(IrInit, KanMapsTheSignalOntoTheChosenDeviceVoltages) {
  model m = init_kan({5, 4, 3}, {"z15", "a21"}, 3);
  validate(m);
  EXPECT_EQ(m.size("layers"), 2);
  EXPECT_EQ(m.size("width1"), 4);
  EXPECT_EQ(m.device("basis1").name, "a21");
  auto clamp = m.parameter("hidden_clamp").values;
  EXPECT_EQ(clamp, (std::vector<double>{0.0, 1.4}));
  EXPECT_FALSE(m.parameter("hidden_clamp").trainable);
  // Inputs [0, 1] span 0.4..1.0 V, the clamp [0, 1.4] spans 0.3..1.0 V (volt = 1).
  for (int l = 0; l < 2; ++l) {
    const auto& a = m.parameter("layer" + std::to_string(l) + ".basis_gain").values;
    const auto& b = m.parameter("layer" + std::to_string(l) + ".basis_offset").values;
    const double hi = l == 0 ? 1.0 : 1.4;
    for (int d = 0; d < 2; ++d) {
      EXPECT_NEAR(b[d], l == 0 ? 0.4 : 0.3, 1e-15);
      EXPECT_NEAR(a[d] * hi + b[d], 1.0, 1e-15);
    }
    EXPECT_FALSE(m.parameter("layer" + std::to_string(l) + ".basis_gain").trainable);
  }
  EXPECT_EQ(m.find_parameter("layer0.bn_weight"), nullptr);
  const model bn = init_kan({5, 4, 3}, {"z15", "a21"}, 3, {.batch_norm = true});
  EXPECT_EQ(bn.parameter("layer0.bn_weight").values, std::vector<double>(4, 0.35));
  EXPECT_EQ(bn.parameter("layer0.bn_bias").values, std::vector<double>(4, 0.7));
  EXPECT_EQ(bn.parameter("layer0.bn_var").values, std::vector<double>(4, 1.0));
  EXPECT_EQ(bn.find_parameter("layer1.bn_weight"), nullptr);  // none after the last layer
  const auto& c = m.parameter("layer0.coef").values;
  double var = 0;
  for (double x : c) var += x * x;
  var /= static_cast<double>(c.size());
  EXPECT_NEAR(var, 1.0 / (5 * 2), 0.5 / 10);
  for (double x : m.parameter("layer1.bias").values) EXPECT_EQ(x, 0.0);
  expect_error<error>([] { (void)init_kan({3}, {"z15"}, 0); }, {"at least two widths"});
  expect_error<error>([] { (void)init_kan({3, 2}, {"ideal_diode"}, 0); }, {"ideal_diode"});
  expect_error<error>([] { (void)init_kan({3, 2}, {"nonexistent_device"}, 0); }, {"nonexistent_device"});
}

TEST(IrInit, KirchhoffNetDefaultEdgesAreAllOrderedPairs) {
  model m = init_kirchhoffnet(2, 3, 1, 2, "shift_tanh1", 5);
  validate(m);
  EXPECT_EQ(m.size("edges"), 4 * 3);  // (nodes + 1) * nodes ordered pairs, ground -> ground excluded
  EXPECT_EQ(m.size("theta"), 2);
  const auto& e = m.parameter("slice1.edges");
  std::set<std::pair<int, int>> pairs;
  for (std::size_t r = 0; r < 12; ++r) pairs.insert({static_cast<int>(e.at({r, 0})), static_cast<int>(e.at({r, 1}))});
  EXPECT_EQ(pairs.size(), 12u);
  EXPECT_FALSE(pairs.count({0, 0}));
  EXPECT_TRUE(pairs.count({0, 3}) && pairs.count({3, 0}) && pairs.count({2, 1}));
  for (double c : m.parameter("capacitance").values) EXPECT_EQ(c, 1.0);
  EXPECT_EQ(m.parameter("slice0.duration").values, std::vector<double>{0.5});
  for (double t : m.parameter("slice0.theta").values) EXPECT_LT(std::abs(t), 0.6);

  model custom = init_kirchhoffnet(1, 2, 1, 1, "conductance", 5, std::vector<std::array<std::int64_t, 2>>{{1, 2}, {2, 0}});
  EXPECT_EQ(custom.size("edges"), 2);
  EXPECT_EQ(custom.parameter("slice0.edges").values, (std::vector<double>{1, 2, 2, 0}));
  expect_error<validation_error>(
      [] { (void)init_kirchhoffnet(1, 2, 1, 1, "conductance", 5, std::vector<std::array<std::int64_t, 2>>{{1, 5}}); },
      {"slice0.edges", "out of range"});
  expect_error<error>([] { (void)init_kirchhoffnet(1, 2, 1, 1, "sigmoid", 5); }, {"'sigmoid'"});
}

TEST(IrInit, InitialisedModelsSurviveTheFile) {
  for (const model& m : {init_mon(3, 4, 2, 2, 1), init_kan({2, 3, 1}, {"z21", "rtd", "esaki"}, 1),
                         init_kirchhoffnet(1, 2, 2, 3, "shift_relu1", 1)}) {
    model back = load_model_from_string(to_xml_string(m), "init.xml");
    expect_same_model(m, back);
  }
}

TEST(InitKirchhoffNet, ImageTopologyFollowsTheReferenceOrder) {
  // Counts: windows × 16·15 ordered pairs + 2 per pixel + 2·(pixels+1) per hub.
  auto small = image_topology(14, 14, 4, 50);
  EXPECT_EQ(small.size(), 11u * 11u * 240u + 2u * 196u + 2u * 197u * 50u);  // 49,132
  EXPECT_EQ(image_topology(28, 28, 4, 50).size(), 230068u);
  // Window 0 (rows 0-3, columns 0-3): pixel (0,0) = node 1 to (0,1), (0,2),
  // (0,3), then (1,0) = node 15; the second pair source is (0,1) = node 2.
  using e = std::array<std::int64_t, 2>;
  EXPECT_EQ(small[0], (e{1, 2}));
  EXPECT_EQ(small[2], (e{1, 4}));
  EXPECT_EQ(small[3], (e{1, 15}));
  EXPECT_EQ(small[15], (e{2, 1}));
  EXPECT_EQ(small[240], (e{2, 3}));  // window 1 starts at column 1
  const std::size_t ground = 11 * 11 * 240;
  EXPECT_EQ(small[ground - 1], (e{196, 195}));  // last window, last pair: (13,3)... (13,13)→(13,12)
  EXPECT_EQ(small[ground], (e{1, 0}));
  EXPECT_EQ(small[ground + 1], (e{0, 1}));
  const std::size_t hubs = ground + 2 * 196;
  EXPECT_EQ(small[hubs], (e{0, 197}));
  EXPECT_EQ(small[hubs + 1], (e{197, 0}));
  EXPECT_EQ(small[hubs + 2], (e{1, 197}));
  EXPECT_EQ(small.back(), (e{246, 196}));
  auto m = init_kirchhoffnet(196, 246, 10, 2, "shift_relu1", 1, small, {.kaiming = true, .duration = 1.0});
  EXPECT_EQ(m.parameter("output_nodes").values.front(), 237);
  EXPECT_EQ(m.parameter("output_nodes").values.back(), 246);
  double sum2 = 0;
  for (double v : m.parameter("slice0.theta").values) sum2 += v * v;
  EXPECT_NEAR(std::sqrt(sum2 / (2.0 * 49132)), std::sqrt(2.0 / 49132), 0.02 * std::sqrt(2.0 / 49132));
  EXPECT_THROW(image_topology(3, 3, 4, 0), error);
}

}  // namespace
}  // namespace spicenn::ir
