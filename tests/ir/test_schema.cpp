#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "ir/init.hpp"
#include "ir/schema.hpp"
#include "ir_test_util.hpp"

namespace spicenn::ir {
namespace {

using test::expect_error;

const tensor_spec* find_spec(const family_schema& s, std::string_view name) {
  for (const auto& t : s.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

TEST(IrSchema, MonTensorsPerStage) {
  auto s = schema_for(family::mon, {{"inputs", 5}, {"hidden", 3}, {"outputs", 2}, {"stages", 2}});
  EXPECT_EQ(s.tensors.size(), 2u * 5 + 2);
  const auto* h0 = find_spec(s, "stage0.h_pos");
  const auto* h1 = find_spec(s, "stage1.h_neg");
  const auto* g = find_spec(s, "stage1.g_between");
  ASSERT_TRUE(h0 && h1 && g);
  EXPECT_EQ(h0->shape, (std::vector<std::size_t>{3, 5}));
  EXPECT_EQ(h1->shape, (std::vector<std::size_t>{3, 3}));  // later stages are fed by the hidden nodes
  EXPECT_EQ(g->kind, constraint::symmetric_nonnegative);
  EXPECT_EQ(find_spec(s, "readout.weight")->shape, (std::vector<std::size_t>{2, 3}));
  ASSERT_EQ(s.devices.size(), 1u);
  EXPECT_EQ(s.devices[0].role, "diode");
}

TEST(IrSchema, KanExpandsWidthsAndBasisRoles) {
  auto s = schema_for(family::kan, {{"layers", 2}, {"bases", 3}, {"width0", 4}, {"width1", 6}, {"width2", 2}});
  EXPECT_EQ(s.sizes.size(), 2u + 3);
  EXPECT_EQ(find_spec(s, "layer1.coef")->shape, (std::vector<std::size_t>{6, 2, 3}));
  EXPECT_EQ(find_spec(s, "layer0.bias")->shape, (std::vector<std::size_t>{6}));
  EXPECT_FALSE(find_spec(s, "hidden_clamp")->trainable);
  ASSERT_EQ(s.devices.size(), 3u);
  EXPECT_EQ(s.devices[2].role, "basis2");
  expect_error<validation_error>(
      [] { (void)schema_for(family::kan, {{"layers", 2}, {"bases", 1}, {"width0", 4}, {"width1", 6}}); },
      {"/model/sizes", "missing size 'width2'"});
  expect_error<validation_error>(
      [] {
        (void)schema_for(family::kan, {{"layers", 1}, {"bases", 1}, {"width0", 4}, {"width1", 6}, {"width2", 1}});
      },
      {"/model/sizes/size[@name='width2']", "layers = 1 uses width0..width1"});
}

TEST(IrSchema, KirchhoffNetSizesAreCrossChecked) {
  std::map<std::string, std::int64_t> sizes = {{"inputs", 3}, {"nodes", 2}, {"outputs", 1},
                                               {"slices", 1}, {"edges", 2}, {"theta", 1}};
  expect_error<validation_error>([&] { (void)schema_for(family::kirchhoffnet, sizes); },
                                 {"/model/sizes/size[@name='inputs']", "inputs = 3 exceeds nodes = 2"});
  EXPECT_EQ(kirchhoff_theta_count("shift_tanh2"), 3u);
  EXPECT_EQ(kirchhoff_theta_count("shift_tanh1"), 2u);
  EXPECT_EQ(kirchhoff_theta_count("shift_relu1"), 2u);
  EXPECT_EQ(kirchhoff_theta_count("conductance"), 1u);
  expect_error<error>([] { (void)kirchhoff_theta_count("sigmoid"); }, {"'sigmoid'", "shift_tanh2"});
}

TEST(IrSchema, SizesOutOfRangeOrUnknown) {
  expect_error<validation_error>(
      [] { (void)schema_for(family::mon, {{"inputs", 1}, {"hidden", 0}, {"outputs", 1}, {"stages", 1}}); },
      {"/model/sizes/size[@name='hidden']", "hidden = 0 is out of range"});
  expect_error<validation_error>(
      [] {
        (void)schema_for(family::mon, {{"inputs", 1}, {"hidden", 2}, {"outputs", 1}, {"stages", 1}, {"hiden", 2}});
      },
      {"/model/sizes/size[@name='hiden']", "unknown size 'hiden'", "inputs, hidden, outputs, stages"});
}

TEST(IrValidate, InMemoryModelsAreCheckedWithoutAFile) {
  model m = init_mon(2, 3, 1, 1, 7);
  validate(m);
  m.parameter("stage0.g_ground").values[2] = -0.5;
  auto what = expect_error<validation_error>([&] { validate(m); },
                                             {"/model/parameters/tensor[@name='stage0.g_ground']", "value -0.5 at [2]",
                                              "negative"});
  EXPECT_EQ(what.rfind("/model", 0), 0u) << "no file: the message starts with the path: " << what;
}

TEST(IrValidate, SymmetryDiagonalAndFiniteness) {
  model m = init_mon(2, 3, 1, 1, 7);
  auto& g = m.parameter("stage0.g_between");
  g.at({2, 0}) += 1e-3;
  expect_error<validation_error>([&] { validate(m); }, {"g_between", "not symmetric", "at [2 0]", "at [0 2]"});
  g.at({2, 0}) = g.at({0, 2});
  g.at({1, 1}) = 0.25;
  expect_error<validation_error>([&] { validate(m); }, {"diagonal value 0.25 at [1 1] must be 0"});
  g.at({1, 1}) = 0;
  m.parameter("readout.weight").values[0] = std::numeric_limits<double>::infinity();
  expect_error<validation_error>([&] { validate(m); }, {"readout.weight", "value inf at [0 0] is not finite"});
}

TEST(IrValidate, TrainableFlagOfStructureTensors) {
  model m = init_kirchhoffnet(1, 2, 1, 1, "conductance", 3);
  m.parameter("slice0.edges").trainable = true;
  expect_error<validation_error>([&] { validate(m); }, {"slice0.edges", "set trainable=\"false\""});
  m.parameter("slice0.edges").trainable = false;
  m.parameter("slice0.theta").trainable = false;  // freezing a trainable tensor is allowed
  validate(m);
}

TEST(IrValidate, KirchhoffNetEdgesAndCapacitance) {
  model m = init_kirchhoffnet(1, 2, 1, 2, "shift_tanh1", 3);
  m.parameter("slice1.edges").at({3, 1}) = 3;
  expect_error<validation_error>([&] { validate(m); }, {"slice1.edges", "node 3 at [3 1] is out of range", "0 (ground)..2"});
  m.parameter("slice1.edges").at({3, 1}) = m.parameter("slice1.edges").at({3, 0});
  expect_error<validation_error>([&] { validate(m); }, {"slice1.edges", "edge 3 goes from node", "to itself"});
  m.parameter("slice1.edges").at({3, 1}) = 1.5;
  expect_error<validation_error>([&] { validate(m); }, {"value 1.5 at [3 1] is not an index"});
  m = init_kirchhoffnet(1, 2, 1, 1, "shift_tanh1", 3);
  m.parameter("capacitance").values[1] = 0;
  expect_error<validation_error>([&] { validate(m); }, {"capacitance", "value 0 at [1] must be > 0"});
  m = init_kirchhoffnet(1, 2, 1, 1, "shift_tanh1", 3);
  m.sizes["theta"] = 3;
  expect_error<validation_error>([&] { validate(m); }, {"size[@name='theta']", "edge_function shift_tanh1 takes 2"});
}

TEST(IrValidate, ScaleMustBeConsistent) {
  model m = init_mon(1, 2, 1, 1, 1);
  m.scale.ohm *= 1 + 1e-12;  // within 1e-9
  validate(m);
  m.scale.ohm *= 1 + 1e-6;
  expect_error<validation_error>([&] { validate(m); }, {"/model/scale", "ohm = ", "volt/ampere"});
  m = init_mon(1, 2, 1, 1, 1);
  m.scale.second = 2e-5;
  expect_error<validation_error>([&] { validate(m); }, {"/model/scale", "second = 2e-05", "farad*ohm = "});
  m.scale.volt = -1;
  expect_error<validation_error>([&] { validate(m); }, {"/model/scale", "volt = -1 must be a finite number > 0"});
}

TEST(IrValidate, DevicesMustBeKnown) {
  model m = init_mon(1, 2, 1, 1, 1, "shockley");
  m.devices[0].name = "z15";
  expect_error<validation_error>([&] { validate(m); },
                                 {"/model/devices/device[@role='diode']", "'z15' cannot serve as diode"});
  m.devices[0].name = "ideal_diode";
  expect_error<validation_error>([&] { validate(m); }, {"option diode = shockley needs the builtin device shockley_diode"});
  m.devices[0].name = "mystery_diode";
  expect_error<validation_error>([&] { validate(m); }, {"unknown device 'mystery_diode'", "no library= file"});
  m.devices.clear();
  expect_error<validation_error>([&] { validate(m); }, {"/model/devices", "missing device for role 'diode'"});
}

TEST(IrValidate, MaliciousIdentifiersInMemory) {
  const std::string evil = "x\n.control shell rm -rf /";
  model m = init_mon(1, 2, 1, 1, 1);
  m.parameters[0].name = evil;
  auto what = expect_error<validation_error>([&] { validate(m); }, {"tensor name", "'x\\n.control shell rm -rf /'"});
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;

  m = init_mon(1, 2, 1, 1, 1);
  m.options["diode"] = evil;
  what = expect_error<validation_error>([&] { validate(m); }, {"option value", "only A-Z a-z 0-9 _ . are allowed"});
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;

  m = init_mon(1, 2, 1, 1, 1);
  m.devices[0].name = evil;
  what = expect_error<validation_error>([&] { validate(m); }, {"device name"});
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;

  m = init_mon(1, 2, 1, 1, 1);
  m.devices[0] = {"diode", "my_diode", "x.lib\n.control\nshell rm -rf /"};
  what = expect_error<validation_error>([&] { validate(m); }, {"library path", "is not allowed"});
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
}

}  // namespace
}  // namespace spicenn::ir
