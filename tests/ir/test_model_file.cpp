// Model file tests. Error tests edit one line of a literal file and check
// that the message names that line (counted by hand in the literal), the
// element path and the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "core/error.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "ir/names.hpp"
#include "ir/schema.hpp"
#include "ir_test_util.hpp"

namespace spicenn::ir {
namespace {

namespace fs = std::filesystem;
using test::bits;
using test::expect_error;
using test::expect_same_model;

// A valid MON file (inputs 1, hidden 2, outputs 1, stages 1); index + 1 = line.
const std::vector<std::string> mon_lines = {
    R"(<?xml version="1.0" encoding="UTF-8"?>)",                                           // 1
    R"(<model format_version="1" family="mon">)",                                          // 2
    R"(  <sizes>)",                                                                        // 3
    R"(    <size name="inputs" value="1"/>)",                                              // 4
    R"(    <size name="hidden" value="2"/>)",                                              // 5
    R"(    <size name="outputs" value="1"/>)",                                             // 6
    R"(    <size name="stages" value="1"/>)",                                              // 7
    R"(  </sizes>)",                                                                       // 8
    R"(  <options><option name="diode" value="ideal"/></options>)",                        // 9
    R"(  <scale volt="1" ampere="0.0001" ohm="10000" farad="1e-9" second="1e-5"/>)",       // 10
    R"(  <devices><device role="diode" name="ideal_diode"/></devices>)",                   // 11
    R"(  <provenance seed="1" created_by="test"/>)",                                      // 12
    R"(  <parameters>)",                                                                   // 13
    R"(    <tensor name="stage0.g_between" shape="2 2" constraint="symmetric_nonnegative" trainable="true">)",  // 14
    R"(      0 0.5)",                                                                      // 15
    R"(      0.5 0)",                                                                      // 16
    R"(    </tensor>)",                                                                    // 17
    R"(    <tensor name="stage0.g_ground" shape="2" constraint="nonnegative" trainable="true">0.1 0.2</tensor>)",  // 18
    R"(    <tensor name="stage0.h_pos" shape="2 1" constraint="nonnegative" trainable="true">0.3 0.4</tensor>)",  // 19
    R"(    <tensor name="stage0.h_neg" shape="2 1" constraint="nonnegative" trainable="true">0.1 0.1</tensor>)",  // 20
    R"(    <tensor name="stage0.bias" shape="2" constraint="none" trainable="true">0.01 -0.02</tensor>)",  // 21
    R"(    <tensor name="readout.weight" shape="1 2" constraint="none" trainable="true">1 -1</tensor>)",  // 22
    R"(    <tensor name="readout.bias" shape="1" constraint="none" trainable="true">0</tensor>)",  // 23
    R"(  </parameters>)",                                                                  // 24
    R"(</model>)",                                                                         // 25
};

// A valid KirchhoffNet file (nodes 2, 3 edges, conductance edges).
const std::vector<std::string> knet_lines = {
    R"(<?xml version="1.0"?>)",                                                            // 1
    R"(<model format_version="1" family="kirchhoffnet">)",                                 // 2
    R"(  <sizes>)",                                                                        // 3
    R"(    <size name="inputs" value="1"/> <size name="nodes" value="2"/> <size name="outputs" value="1"/>)",  // 4
    R"(    <size name="slices" value="1"/> <size name="edges" value="3"/> <size name="theta" value="1"/>)",  // 5
    R"(  </sizes>)",                                                                       // 6
    R"(  <options><option name="edge_function" value="conductance"/></options>)",          // 7
    R"(  <scale volt="1" ampere="0.0001" ohm="10000" farad="1e-9" second="1e-5"/>)",       // 8
    R"(  <parameters>)",                                                                   // 9
    R"(    <tensor name="capacitance" shape="2" constraint="nonnegative" trainable="false">1 1</tensor>)",  // 10
    R"(    <tensor name="slice0.edges" shape="3 2" constraint="index" trainable="false">)",  // 11
    R"(      0 1)",                                                                        // 12
    R"(      1 2)",                                                                        // 13
    R"(      2 0)",                                                                        // 14
    R"(    </tensor>)",                                                                    // 15
    R"(    <tensor name="slice0.theta" shape="3 1" constraint="none" trainable="true">0.1 -0.2 0.3</tensor>)",  // 16
    R"(    <tensor name="slice0.duration" shape="" constraint="nonnegative" trainable="false">0.5</tensor>)",  // 17
    R"(  </parameters>)",                                                                  // 18
    R"(</model>)",                                                                         // 19
};

std::string join(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// lines with line `line` (1-based) replaced by `text`.
std::string with_line(std::vector<std::string> lines, std::size_t line, std::string text) {
  lines.at(line - 1) = std::move(text);
  return join(lines);
}

model load(const std::string& text) { return load_model_from_string(text, "net.xml"); }

template <class E = validation_error>
std::string rejects(const std::string& text, std::size_t line, const std::vector<std::string>& parts) {
  std::vector<std::string> all = parts;
  all.insert(all.begin(), "net.xml:" + std::to_string(line) + ": ");
  auto what = expect_error<E>([&] { (void)load(text); }, all);
  EXPECT_EQ(what.find('\n'), std::string::npos) << "a message is one line: " << what;
  return what;
}

const std::string g_ground = "/model/parameters/tensor[@name='stage0.g_ground']";

// ------------------------------------------------------------------ valid files

TEST(IrModelFile, LiteralMonLoads) {
  model m = load(join(mon_lines));
  EXPECT_EQ(m.kind, family::mon);
  EXPECT_EQ(m.size("hidden"), 2);
  EXPECT_EQ(m.option("diode"), "ideal");
  EXPECT_EQ(m.device("diode").name, "ideal_diode");
  EXPECT_EQ(m.parameter("stage0.g_between").at({1, 0}), 0.5);
  EXPECT_EQ(m.parameter("stage0.bias").at({1}), -0.02);
  EXPECT_EQ(m.origin.seed, 1u);
  EXPECT_EQ(m.origin.created_by, "test");
  EXPECT_EQ(m.scale.farad, 1e-9);
}

TEST(IrModelFile, LiteralKirchhoffNetLoads) {
  model m = load(join(knet_lines));
  EXPECT_EQ(m.parameter("slice0.edges").at({1, 1}), 2.0);
  EXPECT_TRUE(m.parameter("slice0.duration").shape.empty());
  EXPECT_EQ(m.parameter("slice0.duration").at({}), 0.5);
  EXPECT_TRUE(m.devices.empty());
}

// ------------------------------------------------------------------ round trips

const double special_values[] = {
    std::numeric_limits<double>::denorm_min(),          // 5e-324
    2.2250738585072009e-308,                            // largest subnormal
    std::numeric_limits<double>::min(),                 // smallest normal
    0.1,
    1.0 / 3.0,
    2.0 / 3.0,
    1e300,
    std::numeric_limits<double>::max(),
    std::nextafter(1.0, 2.0),
    123456789.123456789,
    1e-300,
    6.02214076e23,
};

void spice_up(tensor& t, bool allow_negative) {
  std::size_t k = 0;
  for (double v : special_values) {
    if (k >= t.values.size()) break;
    t.values[k++] = v;
    if (allow_negative && k < t.values.size()) t.values[k++] = -v;
  }
  if (allow_negative && k < t.values.size()) t.values[k] = -0.0;
}

void check_round_trip(const model& m) {
  std::string text = to_xml_string(m);
  model back = load_model_from_string(text, "round_trip.xml");
  expect_same_model(m, back);
  EXPECT_EQ(to_xml_string(back), text);
}

TEST(IrModelFile, RoundTripMonIsBitExact) {
  model m = init_mon(3, 5, 4, 2, 11, "shockley");
  spice_up(m.parameter("readout.weight"), true);
  // conductances: positive specials only (a g_between must stay symmetric)
  spice_up(m.parameter("stage1.h_pos"), false);
  m.parameter("stage0.g_ground").values[0] = std::numeric_limits<double>::denorm_min();
  m.scale = {1.0 / 3.0, 1.0 / 7.0, (1.0 / 3.0) / (1.0 / 7.0), 0.1, 0.1 * ((1.0 / 3.0) / (1.0 / 7.0))};
  m.origin.accuracy = 0.1 + 0.2;
  m.origin.data = "mnist & <friends>";
  m.origin.created_by = "spicenn train --lr 0.1\n\tsecond line \"quoted\" 'single'";
  m.origin.notes = "two\nlines with \"quotes\", 'apostrophes', <tags> & ampersands\n  indented\n";
  check_round_trip(m);
}

TEST(IrModelFile, RoundTripKanIsBitExact) {
  model m = init_kan({4, 3, 2}, {"z15", "zaz21", "esaki"}, 5);
  spice_up(m.parameter("layer0.coef"), true);
  spice_up(m.parameter("layer1.basis_gain"), false);
  check_round_trip(m);
}

TEST(IrModelFile, RoundTripKirchhoffNetIsBitExact) {
  model m = init_kirchhoffnet(2, 3, 1, 2, "shift_tanh2", 9);
  spice_up(m.parameter("slice1.theta"), true);
  m.parameter("slice0.duration").values[0] = 1.0 / 3.0;
  m.parameter("capacitance").values[2] = std::numeric_limits<double>::denorm_min();
  check_round_trip(m);
}

TEST(IrModelFile, NegativeZeroKeepsItsSign) {
  model m = init_mon(1, 2, 1, 1, 1);
  m.parameter("readout.bias").values[0] = -0.0;
  model back = load(to_xml_string(m));
  EXPECT_EQ(bits(back.parameter("readout.bias").values[0]), bits(-0.0));
}

TEST(IrModelFile, SaveIsAtomicAndLoadsBack) {
  test::temp_dir dir;
  model m = init_kirchhoffnet(1, 2, 1, 1, "shift_relu1", 4);
  fs::path file = dir.path() / "net.xml";
  save_model(m, file);
  m.parameter("slice0.theta").values[0] = 0.125;
  save_model(m, file);  // replaces the existing file
  model back = load_model(file);
  expect_same_model(m, back);
  EXPECT_EQ(back.base_dir, fs::absolute(dir.path()));
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(e.path().filename(), "net.xml") << "leftover temporary file";
  }
  EXPECT_EQ(files, 1u);
  expect_error<error>([&] { save_model(m, dir.path() / "no_such_dir" / "x.xml"); }, {"cannot write model file"});
}

TEST(IrModelFile, MissingFile) {
  expect_error<parse_error>([] { (void)load_model("/nonexistent/dir/model.xml"); },
                            {"/nonexistent/dir/model.xml", "cannot open model file"});
}

TEST(IrModelFile, LibraryDevicesResolveAgainstTheModelDirectoryAndAreRebasedOnSave) {
  test::temp_dir dir;
  fs::create_directories(dir.path() / "a" / "fits");
  fs::create_directories(dir.path() / "b");
  std::ofstream(dir.path() / "a" / "fits" / "my_diode.lib") << ".subckt my_diode a c\n.ends\n";
  std::string text = with_line(mon_lines, 11, R"(  <devices><device role="diode" name="my_diode" library="fits/my_diode.lib"/></devices>)");
  std::ofstream(dir.path() / "a" / "net.xml") << text;
  model m = load_model(dir.path() / "a" / "net.xml");
  EXPECT_EQ(library_path(m, m.device("diode")), fs::absolute(dir.path()) / "a" / "fits" / "my_diode.lib");

  save_model(m, dir.path() / "b" / "copy.xml");
  model copy = load_model(dir.path() / "b" / "copy.xml");
  EXPECT_EQ(copy.device("diode").library, "../a/fits/my_diode.lib");
  EXPECT_EQ(fs::weakly_canonical(library_path(copy, copy.device("diode"))),
            fs::weakly_canonical(dir.path() / "a" / "fits" / "my_diode.lib"));

  // The same text read from a string resolves against the given directory.
  EXPECT_NO_THROW((void)load_model_from_string(text, "net.xml", dir.path() / "a"));
  rejects(text, 11, {"/model/devices/device[@role='diode']", "fits/my_diode.lib", "does not exist",
                     "relative paths resolve against the model file's directory"});
}

// ------------------------------------------------------------------ rejections

TEST(IrModelFileRejects, MalformedXml) {
  rejects<parse_error>(with_line(mon_lines, 10, R"(  <scale volt=1 ampere="0.0001" ohm="10000" farad="1e-9" second="1e-5"/>)"), 10,
                       {"malformed XML"});
  rejects<parse_error>(with_line(mon_lines, 17, "    </tensr>"), 17, {"malformed XML", "mismatch"});
  expect_error<parse_error>([] { (void)load(""); }, {"net.xml:1: ", "malformed XML"});
}

TEST(IrModelFileRejects, UnknownAndMissingElementsAndAttributes) {
  rejects(with_line(mon_lines, 12, R"(  <provenance seed="1"/><comment/>)"), 12, {"/model: ", "unknown element <comment> in <model>"});
  rejects(with_line(mon_lines, 18,
                    R"(    <tensor name="stage0.g_ground" unit="S" shape="2" constraint="nonnegative" trainable="true">0.1 0.2</tensor>)"),
          18, {g_ground, "unknown attribute 'unit' on <tensor>", "allowed: name, shape, constraint, trainable"});
  rejects(with_line(mon_lines, 19, R"(    <tensor name="stage0.h_pos" shape="2 1" constraint="nonnegative">0.3 0.4</tensor>)"), 19,
          {"/model/parameters/tensor[@name='stage0.h_pos']", "missing attribute 'trainable'"});
  rejects(with_line(mon_lines, 4, R"(    <size name="inputs" value="1"/>junk)"), 4, {"/model/sizes: ", "unexpected text 'junk' in <sizes>"});
  rejects(with_line(mon_lines, 10, ""), 2, {"/model: ", "missing element <scale>"});
  rejects(with_line(mon_lines, 12, R"(  <sizes/>)"), 12, {"/model: ", "element <sizes> is given twice"});
  std::vector<std::string> renamed = mon_lines;
  renamed[1] = R"(<network format_version="1" family="mon">)";
  renamed[24] = "</network>";
  rejects(join(renamed), 2, {"/network: ", "the top-level element must be <model>, not <network>"});
}

TEST(IrModelFileRejects, FormatVersionAndFamily) {
  rejects(with_line(mon_lines, 2, R"(<model format_version="2" family="mon">)"), 2, {"/model: ", "format_version 2 is newer"});
  rejects(with_line(mon_lines, 2, R"(<model family="mon">)"), 2, {"/model: ", "missing attribute 'format_version'"});
  rejects(with_line(mon_lines, 2, R"(<model format_version="1" family="mlp">)"), 2,
          {"/model: ", "unknown family 'mlp'", "kan, mon, kirchhoffnet"});
}

TEST(IrModelFileRejects, Sizes) {
  rejects(with_line(mon_lines, 5, R"(    <size name="hidden" value="0"/>)"), 5,
          {"/model/sizes/size[@name='hidden']: ", "hidden = 0 is out of range"});
  rejects<parse_error>(with_line(mon_lines, 5, R"(    <size name="hidden" value="two"/>)"), 5,
                       {"/model/sizes/size[@name='hidden']: ", "value 'two' is not an integer"});
  rejects<parse_error>(with_line(mon_lines, 5, R"(    <size name="hidden" value="2.0"/>)"), 5, {"'2.0' is not an integer"});
  rejects(with_line(mon_lines, 7, ""), 3, {"/model/sizes: ", "missing size 'stages'"});
  rejects(with_line(mon_lines, 7, R"(    <size name="stages" value="1"/><size name="depth" value="3"/>)"), 7,
          {"/model/sizes/size[@name='depth']: ", "unknown size 'depth' for family mon"});
  rejects(with_line(mon_lines, 7, R"(    <size name="stages" value="1"/><size name="hidden" value="3"/>)"), 7,
          {"/model/sizes/size[@name='hidden']: ", "size 'hidden' is given twice"});
}

TEST(IrModelFileRejects, ShapesAndValueCounts) {
  rejects(with_line(mon_lines, 18, R"(    <tensor name="stage0.g_ground" shape="3" constraint="nonnegative" trainable="true">0.1 0.2 0.3</tensor>)"),
          18, {g_ground, "shape [3] does not match the schema: expected [hidden] = [2]"});
  rejects(with_line(mon_lines, 18, R"(    <tensor name="stage0.g_ground" shape="2" constraint="nonnegative" trainable="true">0.1 0.2 0.3</tensor>)"),
          18, {g_ground, "has 3 values but shape [2] needs 2"});
  rejects(with_line(mon_lines, 18, R"(    <tensor name="stage0.g_ground" shape="2" constraint="nonnegative" trainable="true">0.1</tensor>)"),
          18, {g_ground, "has 1 values but shape [2] needs 2"});
  rejects<parse_error>(
      with_line(mon_lines, 18, R"(    <tensor name="stage0.g_ground" shape="2 x" constraint="nonnegative" trainable="true">0.1 0.2</tensor>)"),
      18, {g_ground, "shape '2 x' is not a list of nonnegative integers"});
  rejects(with_line(mon_lines, 21, ""), 13, {"/model/parameters: ", "missing tensor 'stage0.bias'", "[hidden] = [2]"});
  rejects(with_line(mon_lines, 23, R"(    <tensor name="readout.offset" shape="1" constraint="none" trainable="true">0</tensor>)"), 23,
          {"/model/parameters/tensor[@name='readout.offset']: ", "unknown tensor 'readout.offset'", "readout.bias"});
  rejects(with_line(mon_lines, 23, R"(    <tensor name="readout.weight" shape="1" constraint="none" trainable="true">0</tensor>)"), 23,
          {"/model/parameters/tensor[@name='readout.weight']: ", "tensor 'readout.weight' is given twice"});
}

TEST(IrModelFileRejects, Numbers) {
  rejects(with_line(mon_lines, 21, R"(    <tensor name="stage0.bias" shape="2" constraint="none" trainable="true">0.01 nan</tensor>)"), 21,
          {"/model/parameters/tensor[@name='stage0.bias']: ", "value nan at [1] is not finite"});
  rejects(with_line(mon_lines, 21, R"(    <tensor name="stage0.bias" shape="2" constraint="none" trainable="true">-inf 0</tensor>)"), 21,
          {"value -inf at [0] is not finite"});
  rejects<parse_error>(with_line(mon_lines, 16, "      0.5 zero"), 16,
                       {"/model/parameters/tensor[@name='stage0.g_between']: ", "value 3 (counting from 0) is 'zero'",
                        "not a number"});
  rejects<parse_error>(with_line(mon_lines, 21, R"(    <tensor name="stage0.bias" shape="2" constraint="none" trainable="true">1e400 0</tensor>)"), 21,
                       {"'1e400'", "outside the range of a double"});
  rejects<parse_error>(with_line(mon_lines, 21, R"(    <tensor name="stage0.bias" shape="2" constraint="none" trainable="true">0.1,0.2</tensor>)"), 21,
                       {"'0.1,0.2'"});
  rejects<parse_error>(with_line(mon_lines, 10, R"(  <scale volt="1V" ampere="0.0001" ohm="10000" farad="1e-9" second="1e-5"/>)"), 10,
                       {"/model/scale: ", "volt = '1V' is not a number"});
  rejects<parse_error>(with_line(mon_lines, 19, R"(    <tensor name="stage0.h_pos" shape="2 1" constraint="nonnegative" trainable="yes">0.3 0.4</tensor>)"), 19,
                       {"trainable = 'yes' must be true or false"});
}

TEST(IrModelFileRejects, Constraints) {
  rejects(with_line(mon_lines, 19, R"(    <tensor name="stage0.h_pos" shape="2 1" constraint="nonnegative" trainable="true">0.3 -0.4</tensor>)"), 19,
          {"/model/parameters/tensor[@name='stage0.h_pos']: ", "value -0.4 at [1 0] is negative", ">= 0"});
  rejects(with_line(mon_lines, 16, "      0.25 0"), 16,
          {"/model/parameters/tensor[@name='stage0.g_between']: ", "not symmetric: value 0.25 at [1 0] differs from 0.5 at [0 1]"});
  rejects(with_line(mon_lines, 16, "      0.5 0.125"), 16, {"diagonal value 0.125 at [1 1] must be 0"});
  rejects(with_line(mon_lines, 16, "      -0.5 0"), 16, {"value -0.5 at [1 0] is negative"});
  rejects(with_line(mon_lines, 23, R"(    <tensor name="readout.bias" shape="1" constraint="positive" trainable="true">0</tensor>)"), 23,
          {"/model/parameters/tensor[@name='readout.bias']: ", "unknown constraint 'positive'"});
  rejects(with_line(mon_lines, 23, R"(    <tensor name="readout.bias" shape="1" constraint="nonnegative" trainable="true">0</tensor>)"), 23,
          {"constraint nonnegative does not match the schema: expected none"});
}

TEST(IrModelFileRejects, ScaleAndProvenance) {
  rejects(with_line(mon_lines, 10, R"(  <scale volt="1" ampere="0.0001" ohm="1000" farad="1e-9" second="1e-5"/>)"), 10,
          {"/model/scale: ", "ohm = 1000 but volt/ampere = 10000"});
  rejects(with_line(mon_lines, 10, R"(  <scale volt="1" ampere="0.0001" ohm="10000" farad="1e-9"/>)"), 10,
          {"/model/scale: ", "missing attribute 'second'"});
  rejects(with_line(mon_lines, 12, R"(  <provenance seed="1" accuracy="1.5"/>)"), 12, {"/model/provenance: ", "accuracy = 1.5 must be in [0, 1]"});
  rejects<parse_error>(with_line(mon_lines, 12, R"(  <provenance seed="-1"/>)"), 12, {"seed '-1' is not an unsigned 64-bit integer"});
}

TEST(IrModelFileRejects, OptionsAndDevices) {
  rejects(with_line(mon_lines, 9, R"(  <options><option name="diode" value="relu"/></options>)"), 9,
          {"/model/options/option[@name='diode']: ", "unknown value 'relu' for option diode", "ideal, shockley"});
  rejects(with_line(mon_lines, 9, R"(  <options><option name="diode" value="ideal"/><option name="speed" value="fast"/></options>)"), 9,
          {"/model/options/option[@name='speed']: ", "unknown option 'speed' for family mon"});
  rejects(with_line(mon_lines, 9, ""), 2, {"/model/options: ", "missing option 'diode'"});
  rejects(with_line(mon_lines, 11, R"(  <devices><device role="diode" name="foo"/></devices>)"), 11,
          {"/model/devices/device[@role='diode']: ", "unknown device 'foo'", "not a builtin device", "no library= file given"});
  rejects(with_line(mon_lines, 11, R"(  <devices><device role="diode" name="ideal_diode"/><device role="basis0" name="z15"/></devices>)"), 11,
          {"/model/devices/device[@role='basis0']: ", "unknown device role 'basis0' for family mon"});
  rejects(with_line(mon_lines, 11, ""), 2, {"/model/devices: ", "missing device for role 'diode'"});
  rejects(with_line(mon_lines, 11, R"(  <devices><device role="diode" name="ideal_diode" library=""/></devices>)"), 11,
          {"library is empty"});
}

TEST(IrModelFileRejects, KirchhoffNetIndicesAndStructure) {
  rejects(with_line(knet_lines, 14, "      2 3"), 14,
          {"/model/parameters/tensor[@name='slice0.edges']: ", "node 3 at [2 1] is out of range: nodes are 0 (ground)..2"});
  rejects(with_line(knet_lines, 13, "      2 2"), 13, {"edge 1 goes from node 2 to itself"});
  rejects(with_line(knet_lines, 12, "      0 1.5"), 12, {"value 1.5 at [0 1] is not an index"});
  rejects(with_line(knet_lines, 11, R"(    <tensor name="slice0.edges" shape="3 2" constraint="index" trainable="true">)"), 11,
          {"slice0.edges", "set trainable=\"false\""});
  rejects(with_line(knet_lines, 7, R"(  <options><option name="edge_function" value="shift_tanh2"/></options>)"), 5,
          {"/model/sizes/size[@name='theta']: ", "theta = 1 but edge_function shift_tanh2 takes 3 parameters"});
  rejects(with_line(knet_lines, 17, R"(    <tensor name="slice0.duration" shape="1" constraint="nonnegative" trainable="false">0.5</tensor>)"), 17,
          {"shape [1] does not match the schema: expected [] = []"});
  rejects(with_line(knet_lines, 10, R"(    <tensor name="capacitance" shape="2" constraint="nonnegative" trainable="false">1 0</tensor>)"), 10,
          {"value 0 at [1] must be > 0"});
}

// ------------------------------------------------------------------ security

const std::string evil = "&#10;.control&#10;shell rm -rf /&#10;.endc";

TEST(IrModelFileSecurity, MaliciousTensorName) {
  auto what = rejects(with_line(mon_lines, 18, R"(    <tensor name="stage0.g_ground)" + evil +
                                                   R"(" shape="2" constraint="nonnegative" trainable="true">0.1 0.2</tensor>)"),
                      18, {"/model/parameters/tensor[2]: ", "tensor name 'stage0.g_ground\\n.control\\nshell rm -rf /\\n.endc'",
                           "only A-Z a-z 0-9 _ . are allowed"});
  EXPECT_EQ(what.find("\n.control"), std::string::npos);
}

TEST(IrModelFileSecurity, LiteralNewlineInAName) {
  // A raw newline inside an attribute: XML turns it into a blank, still rejected;
  // the element starts on line 18.
  std::vector<std::string> lines = mon_lines;
  lines[17] = R"(    <tensor name="stage0.g_ground)";
  lines.insert(lines.begin() + 18,
               R"(.control shell rm -rf /" shape="2" constraint="nonnegative" trainable="true">0.1 0.2</tensor>)");
  rejects(join(lines), 18, {"/model/parameters/tensor[2]: ", "contains ' ' at position 15"});
}

TEST(IrModelFileSecurity, MaliciousDeviceOptionRoleSizeAndLibrary) {
  rejects(with_line(mon_lines, 11, R"(  <devices><device role="diode" name="ideal_diode)" + evil + R"("/></devices>)"), 11,
          {"/model/devices/device[@role='diode']: ", "device name 'ideal_diode\\n.control"});
  rejects(with_line(mon_lines, 11, R"(  <devices><device role="diode)" + evil + R"(" name="ideal_diode"/></devices>)"), 11,
          {"/model/devices/device[1]: ", "device role 'diode\\n.control"});
  rejects(with_line(mon_lines, 11, R"(  <devices><device role="diode" name="my_diode" library="x.lib)" + evil + R"("/></devices>)"), 11,
          {"/model/devices/device[@role='diode']: ", "library path 'x.lib\\n.control", "is not allowed"});
  rejects(with_line(mon_lines, 9, R"(  <options><option name="diode" value="ideal)" + evil + R"("/></options>)"), 9,
          {"/model/options/option[@name='diode']: ", "option value 'ideal\\n.control"});
  rejects(with_line(mon_lines, 5, R"(    <size name="hidden)" + evil + R"(" value="2"/>)"), 5, {"/model/sizes/size[2]: ", "size name 'hidden\\n"});
}

TEST(IrModelFileSecurity, FreeTextIsKeptVerbatimButCommentSafeStripsIt) {
  std::string text = with_line(mon_lines, 12, R"(  <provenance seed="1" created_by="me"><notes>ok)" + evil + "</notes></provenance>");
  model m = load(text);
  EXPECT_EQ(m.origin.notes, "ok\n.control\nshell rm -rf /\n.endc");
  EXPECT_EQ(spice_comment_safe(m.origin.notes), "ok .control shell rm -rf / .endc");
  check_round_trip(m);
}

TEST(IrModelFileSecurity, NoEntityExpansion) {
  std::string text = join(mon_lines);
  text.insert(text.find("<model"), "<!DOCTYPE model [<!ENTITY big \"0.5\">]>\n");
  // the DOCTYPE adds one line: line 16 of the literal is now line 17
  text.replace(text.find("      0.5 0\n"), 12, "      &big; 0\n");
  rejects<parse_error>(text, 17, {"'&big;'"});
}

// ------------------------------------------------------------------ examples

TEST(IrModelFile, ExampleModelsLoad) {
  fs::path dir = fs::path(SPICENN_SOURCE_DIR) / "examples" / "models";
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".xml") continue;
    SCOPED_TRACE(e.path().string());
    model m = load_model(e.path());
    EXPECT_EQ(to_xml_string(m), [&] {
      std::ifstream in(e.path());
      return std::string(std::istreambuf_iterator<char>(in), {});
    }()) << "example files are in canonical form";
    ++n;
  }
  EXPECT_GE(n, 3u);
}

}  // namespace
}  // namespace spicenn::ir
