// KAN lowering: the netlist's structure (one crossbar resistor per nonzero
// coefficient, R = ohm/|c'·m|, negative weights from the inverted copy) and
// its operating point in the `ngspice -b` program against the software
// model, with batch normalization folded by the compiler and a fixed
// mismatch applied.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <sstream>

#include "../devices/ngspice_runner.hpp"
#include "../models/kan_test_util.hpp"
#include "compiler/kan_compiler.hpp"
#include "core/error.hpp"
#include "models/kan.hpp"

namespace spicenn::compiler {
namespace {

// The printed operating point of a deck run by the ngspice program
// (devices::testing::run_ngspice throws on any error it prints).
std::map<std::string, double> ngspice_op(const std::string& deck) {
  const std::string output = devices::testing::run_ngspice(devices::testing::scratch_dir("kan_compiler"), deck);
  std::map<std::string, double> values;
  std::regex row(R"(^\s+([a-z0-9_#.]+)\s+([-+]?[0-9]\.[0-9]+e[-+][0-9]+)\s*$)");
  std::istringstream lines(output);
  for (std::string l; std::getline(lines, l);) {
    std::smatch m;
    if (std::regex_match(l, m, row)) values.emplace(m[1], std::stod(m[2]));
  }
  EXPECT_FALSE(values.empty()) << output;
  EXPECT_EQ(output.find("rror"), std::string::npos) << output;
  return values;
}

TEST(KanCompiler, NetlistRunsInNgspiceAndMatchesTheSoftwareModel) {
  const auto m = test::kan_test_model({3, 4, 2}, {"z15", "zaz21"}, true, true, 5);
  const auto net_sw = models::kan_network::from_model(m);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    const Eigen::MatrixXd x = test::kan_test_inputs(3, 1, seed);
    const auto fwd = models::kan_forward(net_sw, x, models::kan_mode::eval);
    kan_compile_options o;
    o.inputs = {x(0, 0), x(1, 0), x(2, 0)};
    o.simulator_options = precise_simulator_options();
    const auto net = compile_kan(m, o);
    const auto op = ngspice_op(net.text);
    // ngspice prints 7 significant digits: judge to 1e-6 relative of the signal scale.
    const double scale = std::max(1.0, fwd.outputs.cwiseAbs().maxCoeff());
    for (std::size_t o2 = 0; o2 < 2; ++o2) {
      ASSERT_TRUE(op.count(net.output_nodes[1][o2])) << net.output_nodes[1][o2];
      EXPECT_NEAR(op.at(net.output_nodes[1][o2]), fwd.outputs(static_cast<Eigen::Index>(o2), 0), 2e-6 * scale);
    }
    for (std::size_t h = 0; h < 4; ++h)
      EXPECT_NEAR(op.at(net.output_nodes[0][h]), fwd.hidden[0](static_cast<Eigen::Index>(h), 0), 2e-6);
  }
}

TEST(KanCompiler, OneResistorPerNonzeroCoefficientFromTheCopyOfItsSign) {
  auto m = test::kan_test_model({3, 2, 2}, {"z15", "zaz21"}, false, true, 9);
  m.parameter("layer0.coef").at({1, 0, 1}) = 0.0;  // no resistor
  const auto net = compile_kan(m);
  const auto& c = m.parameter("layer0.coef");
  const auto& mm = m.parameter("layer0.coef_mismatch");
  std::size_t resistors = 0;
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t o = 0; o < 2; ++o)
      for (std::size_t d = 0; d < 2; ++d) {
        const double g = c.at({i, o, d}) * mm.at({i, o, d});
        const std::string name = "r0_" + std::to_string(i) + "_" + std::to_string(o) + "_" + std::to_string(d);
        const auto at = net.text.find("\n" + name + " ");
        if (g == 0.0) {
          EXPECT_EQ(at, std::string::npos) << name;
          continue;
        }
        ASSERT_NE(at, std::string::npos) << name;
        ++resistors;
        std::istringstream line(net.text.substr(at + 1, net.text.find('\n', at + 1) - at - 1));
        std::string n, from, to;
        double ohms = 0;
        line >> n >> from >> to >> ohms;
        const std::string cell = std::to_string(i) + "_" + std::to_string(d);
        EXPECT_EQ(from, (g > 0 ? "u0_" : "un0_") + cell) << name;
        EXPECT_EQ(to, "sum0_" + std::to_string(o)) << name;
        EXPECT_NEAR(ohms, m.scale.ohm / std::abs(g), 1e-9 * ohms) << name;
      }
  EXPECT_EQ(resistors, 11u);
  std::size_t devices = 0;
  for (const auto& layer : net.sense_sources) devices += layer.size();
  EXPECT_EQ(devices, 3u * 2 + 2u * 2);  // one device per (input, basis), independent of the outputs
  EXPECT_EQ(net.reference_currents.size(), 2u);
}

TEST(KanCompiler, RejectsWrongInputCountAndFamily) {
  const auto m = test::kan_test_model({3, 2, 2}, {"z15", "zaz21"}, false, false, 1);
  try {
    (void)compile_kan(m, {.inputs = {0.1, 0.2}});
    FAIL();
  } catch (const lowering_error& e) {
    EXPECT_NE(std::string(e.what()).find("2 input values given, the model has 3 inputs"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)compile_kan(ir::init_mon(2, 3, 2, 1, 1)), lowering_error);
}

}  // namespace
}  // namespace spicenn::compiler
