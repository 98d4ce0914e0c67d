#include <gtest/gtest.h>

#include "core/error.hpp"
#include "ir/model.hpp"
#include "ir_test_util.hpp"

namespace spicenn::ir {
namespace {

using test::expect_error;

TEST(IrModel, FamilyAndConstraintNamesRoundTrip) {
  for (family f : {family::kan, family::mon, family::kirchhoffnet}) EXPECT_EQ(family_from_string(to_string(f)), f);
  EXPECT_EQ(family_from_string("MON"), std::nullopt);
  for (constraint c : {constraint::none, constraint::nonnegative, constraint::symmetric_nonnegative, constraint::index})
    EXPECT_EQ(constraint_from_string(to_string(c)), c);
  EXPECT_EQ(constraint_from_string("positive"), std::nullopt);
}

TEST(IrModel, TensorIndexingIsRowMajorAndBoundsChecked) {
  tensor t{"w", {2, 3}, constraint::none, true, {0, 1, 2, 3, 4, 5}};
  EXPECT_EQ(t.size(), 6u);
  EXPECT_EQ(t.at({1, 2}), 5.0);
  EXPECT_EQ(t.offset({1, 0}), 3u);
  t.at({0, 1}) = 7;
  EXPECT_EQ(t.values[1], 7.0);
  expect_error<error>([&] { (void)t.offset({2, 0}); }, {"'w'", "[2 0]", "out of range", "dimension 0"});
  expect_error<error>([&] { (void)t.offset({1}); }, {"'w'", "1 dimensions, expected 2"});
  tensor scalar{"s", {}, constraint::none, true, {4.5}};
  EXPECT_EQ(scalar.size(), 1u);
  EXPECT_EQ(scalar.at({}), 4.5);
}

TEST(IrModel, ShapeSizeDetectsOverflow) {
  EXPECT_EQ(shape_size({}), 1u);
  EXPECT_EQ(shape_size({3, 0, 5}), 0u);
  expect_error<error>([] { (void)shape_size({std::size_t{1} << 40, std::size_t{1} << 40}); }, {"too many elements"});
  EXPECT_EQ(shape_to_string({3, 4}), "[3 4]");
  EXPECT_EQ(shape_to_string({}), "[]");
}

TEST(IrModel, LookupsNameTheMissingEntryAndListWhatExists) {
  model m;
  m.kind = family::mon;
  m.sizes = {{"hidden", 3}, {"inputs", 2}};
  m.options = {{"diode", "ideal"}};
  m.devices = {{"diode", "ideal_diode", ""}};
  m.parameters.push_back({"stage0.bias", {3}, constraint::none, true, {0, 0, 0}});
  m.parameters.push_back({"readout.bias", {1}, constraint::none, true, {0}});
  EXPECT_EQ(m.size("hidden"), 3);
  EXPECT_EQ(m.option("diode"), "ideal");
  EXPECT_EQ(m.device("diode").name, "ideal_diode");
  EXPECT_EQ(&m.parameter("readout.bias"), &m.parameters[1]);
  EXPECT_EQ(m.find_parameter("nope"), nullptr);
  expect_error<error>([&] { (void)m.parameter("stage0.g_ground"); },
                      {"'stage0.g_ground'", "stage0.bias, readout.bias"});
  expect_error<error>([&] { (void)m.size("outputs"); }, {"'outputs'", "hidden, inputs"});
  expect_error<error>([&] { (void)m.option("edge_function"); }, {"'edge_function'", "diode"});
  expect_error<error>([&] { (void)m.device("basis0"); }, {"'basis0'", "roles: diode"});
}

TEST(IrModel, LibraryPathResolvesAgainstBaseDir) {
  model m;
  m.base_dir = "/models/run1";
  EXPECT_EQ(library_path(m, {"diode", "d1", "libs/d1.lib"}), std::filesystem::path("/models/run1/libs/d1.lib"));
  EXPECT_EQ(library_path(m, {"diode", "d1", "/abs/d1.lib"}), std::filesystem::path("/abs/d1.lib"));
  m.base_dir.clear();
  EXPECT_EQ(library_path(m, {"diode", "d1", "d1.lib"}), std::filesystem::path("d1.lib"));
}

}  // namespace
}  // namespace spicenn::ir
