// KirchhoffNet lowering: netlists for every builtin edge function (and one
// registered by the test) run in the `ngspice -b` program and their outputs
// at T are compared with an independent fixed-step RK4 integration of the
// model's ODE written here, reading the model tensors directly:
//
//   C_i dv_i/dt = Σ_{e=(j→i)} f(v_j, v_i; θ_e) − Σ_{e=(i→k)} f(v_i, v_k; θ_e)
//
// slice by slice (the state at the end of a slice starts the next).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "../devices/ngspice_runner.hpp"
#include "compiler/kirchhoffnet_compiler.hpp"
#include "core/error.hpp"
#include "ir/edge_functions.hpp"
#include "ir/init.hpp"
#include "ir/schema.hpp"

namespace spicenn::compiler {
namespace {

// Outputs at T (normalized) by RK4 with `steps_per_unit` steps per normalized time unit.
std::vector<double> rk4_outputs(const ir::model& m, const std::vector<double>& inputs, double steps_per_unit = 4000) {
  const auto N = static_cast<std::size_t>(m.size("nodes"));
  const auto P = static_cast<std::size_t>(m.size("theta"));
  const auto& fn = ir::find_edge_function(m.option("edge_function"));
  const auto& cap = m.parameter("capacitance").values;
  std::vector<double> v(N + 1, 0.0);  // v[0] = ground
  for (std::size_t i = 0; i < inputs.size(); ++i) v[i + 1] = inputs[i];
  for (std::int64_t k = 0; k < m.size("slices"); ++k) {
    const auto& edges = m.parameter(fmt::format("slice{}.edges", k)).values;
    const auto& theta = m.parameter(fmt::format("slice{}.theta", k)).values;
    const double d = m.parameter(fmt::format("slice{}.duration", k)).values[0];
    if (d == 0) continue;
    auto rhs = [&](const std::vector<double>& x) {
      std::vector<double> dx(N + 1, 0.0);
      for (std::size_t e = 0; e < edges.size() / 2; ++e) {
        const auto s = static_cast<std::size_t>(edges[2 * e]), t = static_cast<std::size_t>(edges[2 * e + 1]);
        const double i = fn.current(x[s], x[t], &theta[e * P]);
        dx[s] -= i;
        dx[t] += i;
      }
      dx[0] = 0;
      for (std::size_t n = 1; n <= N; ++n) dx[n] /= cap[n - 1];
      return dx;
    };
    const auto steps = static_cast<std::size_t>(std::ceil(d * steps_per_unit));
    const double h = d / static_cast<double>(steps);
    auto axpy = [](const std::vector<double>& x, double a, const std::vector<double>& y) {
      std::vector<double> r(x);
      for (std::size_t i = 0; i < r.size(); ++i) r[i] += a * y[i];
      return r;
    };
    for (std::size_t s = 0; s < steps; ++s) {
      const auto k1 = rhs(v), k2 = rhs(axpy(v, h / 2, k1)), k3 = rhs(axpy(v, h / 2, k2)), k4 = rhs(axpy(v, h, k3));
      for (std::size_t i = 1; i <= N; ++i) v[i] += h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
    }
  }
  std::vector<double> y;
  const auto* listed = m.find_parameter("output_nodes");
  for (std::int64_t o = 0; o < m.size("outputs"); ++o)
    y.push_back(v[listed ? static_cast<std::size_t>(listed->values[static_cast<std::size_t>(o)]) : static_cast<std::size_t>(o) + 1]);
  return y;
}

// `name = value` lines of the .meas results (and of `print` in a .control block).
std::map<std::string, double> printed_values(const std::string& output) {
  std::map<std::string, double> values;
  std::regex row(R"(^([a-z0-9_\[\]]+)\s*=\s*([-+]?[0-9.]+e[-+][0-9]+)\s*$)");
  std::istringstream lines(output);
  for (std::string l; std::getline(lines, l);) {
    std::smatch mm;
    if (std::regex_match(l, mm, row)) values[mm[1]] = std::stod(mm[2]);
  }
  return values;
}

// A test model: the complete edge set over nodes 0..nodes (edges to and from
// ground included), θ scaled up from init's 0.1·N(0,1) so the dynamics are
// strong, durations 0.7 and 0.4, unequal capacitances and two output nodes
// listed out of order.
ir::model test_model(const std::string& edge_function, std::uint64_t seed, double theta_gain = 8.0) {
  auto m = ir::init_kirchhoffnet(2, 4, 2, 2, edge_function, seed);
  for (std::int64_t k = 0; k < 2; ++k) {
    for (auto& t : m.parameter(fmt::format("slice{}.theta", k)).values) t *= theta_gain;
    m.parameter(fmt::format("slice{}.duration", k)).values[0] = k == 0 ? 0.7 : 0.4;
  }
  m.parameter("capacitance").values = {1.0, 0.5, 2.0, 0.8};
  m.parameter("output_nodes").values = {4, 2};
  ir::validate(m);
  return m;
}

const std::vector<double> test_inputs = {0.6, -0.35};

// Relative to max(|y|, 1e-3), with kirchhoffnet_precise_simulator_options and
// a largest step of 1e-3 time units (measured worst 2.3e-5: DISABLED_AccuracyStudy).
constexpr double tolerance = 1e-4;

void expect_matches_rk4(const ir::model& m, const kirchhoffnet_compile_options& o, const std::string& tag,
                        double tolerance = compiler::tolerance) {
  const auto net = compile_kirchhoffnet(m, o);
  const auto output = devices::testing::run_ngspice(devices::testing::scratch_dir("kn_" + tag), net.text);
  const auto values = printed_values(output);
  const auto want = rk4_outputs(m, o.inputs);
  double scale = 1e-3;
  for (double y : want) scale = std::max(scale, std::abs(y));
  for (std::size_t i = 0; i < net.output_nodes.size(); ++i) {
    const auto key = net.output_nodes[i] + "_t";
    ASSERT_TRUE(values.count(key)) << tag << ": no " << key << " in\n" << output;
    EXPECT_NEAR(values.at(key) / net.volt, want[i], tolerance * scale) << tag << " output " << i;
  }
  // The dynamics moved the outputs away from their initial values (a real test of the edges).
  const double start0 = m.parameter("output_nodes").values[0] <= 2 ? test_inputs[1] : 0.0;
  EXPECT_GT(std::abs(want[0] - start0), 1e-2) << tag;
}

kirchhoffnet_compile_options precise(const ir::model& m, theta_storage theta = theta_storage::current_into_resistor,
                                     double max_step = 1e-3) {
  return {.inputs = test_inputs,
          .theta = theta,
          .max_step = max_step,
          .simulator_options = kirchhoffnet_precise_simulator_options(m.scale)};
}

TEST(KirchhoffnetCompiler, EveryBuiltinEdgeFunctionMatchesRk4InNgspice) {
  std::uint64_t seed = 11;
  for (const auto& name : ir::edge_function_names()) {
    if (name.starts_with("test_")) continue;
    const auto m = test_model(name, seed++);
    expect_matches_rk4(m, precise(m), name);
    // Ten times smaller steps: trapezoidal error ~ h^2 (measured worst 1.9e-7).
    expect_matches_rk4(m, precise(m, theta_storage::current_into_resistor, 1e-4), name + "_fine", 1e-6);
  }
}

TEST(KirchhoffnetCompiler, ThetaStoragesGiveTheSameOutputs) {
  const auto m = test_model("shift_tanh1", 5);
  for (auto [storage, tag] : {std::pair{theta_storage::voltage_source, "vsource"},
                              std::pair{theta_storage::current_into_resistor, "resistor"},
                              std::pair{theta_storage::inline_values, "inline"}}) {
    const auto net = compile_kirchhoffnet(m, precise(m, storage));
    EXPECT_EQ(net.theta_values, 2u * 20 * 2) << tag;  // 2 slices x 20 edges x 2 theta
    const std::size_t theta_elements = storage == theta_storage::voltage_source          ? 80
                                       : storage == theta_storage::current_into_resistor ? 160
                                                                                         : 0;
    EXPECT_EQ(net.elements, 4 /*capacitors*/ + 2 /*gates*/ + 2 * 20 /*edges*/ + 2 /*outputs*/ + theta_elements) << tag;
    expect_matches_rk4(m, precise(m, storage), tag);
  }
}

TEST(KirchhoffnetCompiler, NonUnitVoltScaleAndThreeSlicesWithAZeroOne) {
  auto m = ir::init_kirchhoffnet(1, 3, 1, 3, "shift_tanh2", 3);
  m.scale = {2.0, 5e-5, 4e4, 1e-10, 4e-6};
  for (std::int64_t k = 0; k < 3; ++k)
    for (auto& t : m.parameter(fmt::format("slice{}.theta", k)).values) t *= 10;
  m.parameter("slice1.duration").values[0] = 0.0;  // omitted
  m.parameter("slice2.duration").values[0] = 0.9;
  m.parameter("output_nodes").values = {3};
  ir::validate(m);
  kirchhoffnet_compile_options o{.inputs = {0.45}, .max_step = 1e-3, .simulator_options = kirchhoffnet_precise_simulator_options(m.scale)};
  const auto net = compile_kirchhoffnet(m, o);
  EXPECT_TRUE(net.edge_sources[1].empty());
  EXPECT_TRUE(net.gate_sources[1].empty());
  EXPECT_EQ(net.gate_sources[2], "vg2");
  EXPECT_DOUBLE_EQ(net.stop_time, 1.4 * 4e-6);
  EXPECT_NE(net.text.find("c1 n1 0 1e-10 ic=0.9"), std::string::npos) << net.text.substr(0, 800);
  const auto values = printed_values(devices::testing::run_ngspice(devices::testing::scratch_dir("kn_scale"), net.text));
  const auto want = rk4_outputs(m, o.inputs);
  ASSERT_TRUE(values.count("out0_t"));
  EXPECT_NEAR(values.at("out0_t") / 2.0, want[0], tolerance * std::max(1e-3, std::abs(want[0])));
}

// The registered function from the registry header: compiled from its
// spice_expression alone.
TEST(KirchhoffnetCompiler, RegisteredEdgeFunctionCompilesAndRuns) {
  ir::register_edge_function(
      {.name = "test_cubic1",
       .theta_count = 1,
       .formula = "theta0 * (vs - vd)^3",
       .current = [](double vs, double vd, const double* t) { double u = vs - vd; return t[0] * u * u * u; },
       .partials = [](double vs, double vd, const double* t, double* d_vs, double* d_vd, double* d_t) {
         double u = vs - vd;
         *d_vs = 3 * t[0] * u * u;
         *d_vd = -*d_vs;
         d_t[0] = u * u * u;
       },
       .spice_expression = "{theta0}*({vs}-{vd})*({vs}-{vd})*({vs}-{vd})",
       .realisation = "active: a cubic transconductor"});
  // θ ≥ 0 (a passive cubic conductor): a negative cubic conductance blows up in finite time.
  auto m = test_model("test_cubic1", 21);
  for (int k = 0; k < 2; ++k)
    for (auto& t : m.parameter(fmt::format("slice{}.theta", k)).values) t = std::abs(t);
  expect_matches_rk4(m, precise(m), "test_cubic1");
}

// θ and initial voltages change in place: `alter` of the θ sources and of
// the capacitor ICs, then a second run, agrees with RK4 on the changed model.
TEST(KirchhoffnetCompiler, AlterChangesThetaAndInitialVoltagesWithoutReparsing) {
  for (auto storage : {theta_storage::voltage_source, theta_storage::current_into_resistor}) {
    auto m = test_model("shift_tanh1", 7);
    auto o = precise(m, storage);
    o.transient_cards = false;
    const auto net = compile_kirchhoffnet(m, o);
    std::string deck = net.text.substr(0, net.text.rfind(".end"));
    const double T = net.stop_time;
    deck += ".control\n";
    deck += fmt::format("tran {} {} 0 {} uic\n", T / 200, T, 1e-3 * net.second);
    deck += fmt::format("meas tran first find v({}) at={}\n", net.output_nodes[0], T * (1 - 1e-10));
    // Changed model: θ of slice 1 edge 3 and slice 0 edge 0; the inputs.
    auto& t1 = m.parameter("slice1.theta").values;
    auto& t0 = m.parameter("slice0.theta").values;
    t1[3 * 2 + 1] = 2.5;
    t0[0] = -1.25;
    deck += fmt::format("alter {} dc = 2.5\n", net.theta_sources[1][3 * 2 + 1]);
    deck += fmt::format("alter {} dc = -1.25\n", net.theta_sources[0][0]);
    const std::vector<double> inputs = {-0.2, 0.9};
    deck += fmt::format("alter {} ic = -0.2\nalter {} ic = 0.9\n", net.capacitors[0], net.capacitors[1]);
    deck += fmt::format("tran {} {} 0 {} uic\n", T / 200, T, 1e-3 * net.second);
    deck += fmt::format("meas tran second find v({}) at={}\n", net.output_nodes[0], T * (1 - 1e-10));
    deck += "quit 0\n.endc\n.end\n";  // without quit, `ngspice -b` exits 1: no analysis card ran
    const auto values = printed_values(devices::testing::run_ngspice(devices::testing::scratch_dir("kn_alter"), deck));
    ASSERT_TRUE(values.count("first") && values.count("second"));
    const auto before = rk4_outputs(test_model("shift_tanh1", 7), test_inputs);
    const auto after = rk4_outputs(m, inputs);
    EXPECT_NEAR(values.at("first"), before[0], tolerance);
    EXPECT_NEAR(values.at("second"), after[0], tolerance);
    EXPECT_GT(std::abs(after[0] - before[0]), 1e-2);
  }
}

TEST(KirchhoffnetCompiler, NetlistStructure) {
  const auto m = test_model("shift_relu1", 3);
  const auto net = compile_kirchhoffnet(m, {.inputs = test_inputs});
  // Edge 0 of the complete set is 0 -> 1 (a ground edge), gated by slice 0.
  EXPECT_NE(net.text.find("\nb0_0 0 n1 i=v(g0)*1e-04*(v(th0_0_1)*max(0-v(n1)-v(th0_0_0),0))\n"), std::string::npos)
      << net.text;
  EXPECT_NE(net.text.find("\nith1_19_1 0 th1_19_1 dc "), std::string::npos);
  EXPECT_NE(net.text.find("\nrth1_19_1 th1_19_1 0 1\n"), std::string::npos);
  EXPECT_NE(net.text.find("\neout0 out0 0 n4 0 1\n"), std::string::npos);
  EXPECT_NE(net.text.find("\nc1 n1 0 1e-09 ic=0.6\n"), std::string::npos);
  EXPECT_NE(net.text.find("\nc3 n3 0 2e-09 ic=0\n"), std::string::npos);
  EXPECT_NE(net.text.find("\n.meas tran out1_t find v(out1) at=1.0999999998900002e-05\n"), std::string::npos) << net.text;
  // Gates: ramps centred on the boundary at 0.7 units, δ = 1e-3 of the shortest slice (0.4).
  EXPECT_NEAR(net.gate_width, 4e-4 * 1e-5, 1e-18);
  EXPECT_EQ(net.output_model_nodes, (std::vector<std::size_t>{4, 2}));
  EXPECT_EQ(net.edges, 40u);
  EXPECT_EQ(net.mna_unknowns, 4u + 2 * 2 + 80 + 2 * 2);
}

// only_slice: slice k alone, ungated, from t = 0 to its duration, is the
// model with every other slice of duration 0.
TEST(KirchhoffnetCompiler, OneSliceCircuitIsThatSliceAlone) {
  const auto m = test_model("shift_tanh1", 5);
  for (int k = 0; k < 2; ++k) {
    auto o = precise(m);
    o.only_slice = k;
    const auto net = compile_kirchhoffnet(m, o);
    EXPECT_EQ(net.text.find("v(g"), std::string::npos) << "slice " << k << " is gated";
    EXPECT_EQ(net.edges, 20u);
    EXPECT_EQ(net.edge_sources[static_cast<std::size_t>(k)].size(), 20u);
    EXPECT_TRUE(net.edge_sources[static_cast<std::size_t>(1 - k)].empty());
    EXPECT_NEAR(net.stop_time, (k == 0 ? 0.7 : 0.4) * 1e-5, 1e-18);
    auto alone = m;
    alone.parameter(fmt::format("slice{}.duration", 1 - k)).values[0] = 0;
    expect_matches_rk4(alone, o, fmt::format("only_slice{}", k));
  }
  auto o = precise(m);
  o.only_slice = 2;
  EXPECT_THROW((void)compile_kirchhoffnet(m, o), lowering_error);
  auto zero = m;
  zero.parameter("slice1.duration").values[0] = 0;
  o.only_slice = 1;
  EXPECT_THROW((void)compile_kirchhoffnet(zero, o), lowering_error);
}

TEST(KirchhoffnetCompiler, ErrorsNameWhatCannotBeCompiled) {
  auto expect_error = [](auto&& f, const std::string& part) {
    try {
      f();
      ADD_FAILURE() << "no error; expected " << part;
    } catch (const error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  const auto m = test_model("conductance", 1);
  expect_error([&] { (void)compile_kirchhoffnet(m, {.inputs = {0.1}}); }, "1 input values given, the model has 2 inputs");
  expect_error([&] { (void)compile_kirchhoffnet(ir::init_mon(2, 3, 2, 1, 1)); }, "not 'kirchhoffnet'");
  auto bad_edge = m;
  bad_edge.parameter("slice1.edges").values[7] = 9;
  expect_error([&] { (void)compile_kirchhoffnet(bad_edge); }, "slice1.edges");
  auto bad_scale = m;
  bad_scale.scale.second = 1e-6;
  expect_error([&] { (void)compile_kirchhoffnet(bad_scale); }, "second = 1e-06 but farad*ohm = 1e-05");
  auto no_time = m;
  for (int k = 0; k < 2; ++k) no_time.parameter(fmt::format("slice{}.duration", k)).values[0] = 0;
  expect_error([&] { (void)compile_kirchhoffnet(no_time); }, "duration is 0");
  auto bad_theta = m;
  bad_theta.parameter("slice0.theta").values[5] = std::nan("");
  expect_error([&] { (void)compile_kirchhoffnet(bad_theta); }, "slice0.theta");
  ir::register_edge_function({.name = "test_badexpr",
                              .theta_count = 1,
                              .formula = "theta0 * vx",
                              .current = [](double, double, const double* t) { return t[0]; },
                              .partials = [](double, double, const double*, double* a, double* b, double* d) { *a = *b = 0; d[0] = 1; },
                              .spice_expression = "{theta0}*{vx}",
                              .realisation = "none"});
  auto bad_fn = ir::init_kirchhoffnet(1, 2, 1, 1, "test_badexpr", 1);
  expect_error([&] { (void)compile_kirchhoffnet(bad_fn); }, "edge function test_badexpr");
  expect_error([&] { (void)compile_kirchhoffnet(bad_fn); }, "unknown placeholder {vx}");
}

// Not a check: the table behind docs/kirchhoffnet.md "Accuracy" (run with
// --gtest_also_run_disabled_tests). Largest |ngspice − RK4| / max(|y|, 1e-3)
// over the builtin edge functions, per option set.
TEST(KirchhoffnetCompiler, DISABLED_AccuracyStudy) {
  struct variant {
    std::string name;
    std::vector<std::pair<std::string, double>> simulator_options;
    double max_step, gate;
  };
  const ir::physical_scale sc;
  std::vector<variant> variants = {
      {"ngspice defaults, tmax = T/200", {}, 0.0, 1e-3},
      {"precise, tmax = T/200", kirchhoffnet_precise_simulator_options(sc), 0.0, 1e-3},
      {"precise, tmax = 1e-3", kirchhoffnet_precise_simulator_options(sc), 1e-3, 1e-3},
      {"precise, tmax = 1e-4", kirchhoffnet_precise_simulator_options(sc), 1e-4, 1e-3},
      {"reltol 1e-9 trtol 1, tmax = 1e-3", {{"reltol", 1e-9}, {"vntol", 1e-12}, {"abstol", 1e-15}, {"chgtol", 1e-20}, {"trtol", 1}}, 1e-3, 1e-3},
      {"precise, tmax = 1e-3, gate 1e-1", kirchhoffnet_precise_simulator_options(sc), 1e-3, 1e-1},
      {"precise, tmax = 1e-3, gate 3e-2", kirchhoffnet_precise_simulator_options(sc), 1e-3, 3e-2},
      {"precise, tmax = 1e-3, gate 1e-2", kirchhoffnet_precise_simulator_options(sc), 1e-3, 1e-2},
      {"precise, tmax = 1e-3, gate 1e-4", kirchhoffnet_precise_simulator_options(sc), 1e-3, 1e-4},
  };
  for (const auto& v : variants) {
    double worst = 0;
    std::size_t rows = 0;
    std::uint64_t seed = 11;
    for (const auto& name : ir::edge_function_names()) {
      if (name.starts_with("test_")) continue;
      const auto m = test_model(name, seed++);
      const auto net = compile_kirchhoffnet(m, {.inputs = test_inputs,
                                                .gate_transition = v.gate,
                                                .max_step = v.max_step,
                                                .simulator_options = v.simulator_options});
      const auto output = devices::testing::run_ngspice(devices::testing::scratch_dir("kn_study"), net.text);
      const auto values = printed_values(output);
      const auto want = rk4_outputs(m, test_inputs);
      for (std::size_t i = 0; i < want.size(); ++i)
        worst = std::max(worst, std::abs(values.at(net.output_nodes[i] + "_t") - want[i]) / std::max(1e-3, std::abs(want[i])));
      std::smatch mm;
      if (std::regex_search(output, mm, std::regex(R"(No. of Data Rows : ([0-9]+))"))) rows += std::stoul(mm[1]);
    }
    std::printf("%-40s worst relative error %.2e, %zu time points (4 models)\n", v.name.c_str(), worst, rows);
  }
}

}  // namespace
}  // namespace spicenn::compiler
