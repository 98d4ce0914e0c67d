// Compiler tests: template rendering, the netlist writer's guards, and MON
// lowering checked end to end in the `ngspice -b` program against an
// independent Newton solve of the network's KCL written here.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

#include <Eigen/Dense>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "compiler/mon_compiler.hpp"
#include "compiler/netlist_template.hpp"
#include "compiler/netlist_writer.hpp"
#include "core/error.hpp"
#include "devices/device.hpp"
#include "ir/init.hpp"
#include "scratch_path.hpp"

namespace spicenn::compiler {
namespace {

TEST(NetlistTemplate, RendersAndRejectsMissingUnusedAndMalformed) {
  netlist_template t("a {x}\nb {y} {{literal}}\n", "t.cir.in");
  EXPECT_EQ(t.render({{"x", "1"}, {"y", "2"}}), "a 1\nb 2 {literal}\n");
  try {
    t.render({{"x", "1"}});
    FAIL();
  } catch (const lowering_error& e) {
    EXPECT_NE(std::string(e.what()).find("t.cir.in:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'{y}'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(t.render({{"x", "1"}, {"y", "2"}, {"z", "3"}}), lowering_error);
  EXPECT_THROW(netlist_template("a {b c}\n", "bad.cir.in"), lowering_error);
  EXPECT_THROW(netlist_template("a }\n", "bad.cir.in"), lowering_error);
}

TEST(NetlistWriter, RefusesNamesAndValuesThatCouldInjectCards) {
  netlist_writer w("title\n.control\nshell rm -rf /\n.endc");
  EXPECT_THROW(w.resistor("r1", "a\n.control", "0", 1.0), lowering_error);
  EXPECT_THROW(w.resistor("R1", "a", "0", 1.0), lowering_error);  // uppercase: ngspice would lowercase it
  EXPECT_THROW(w.resistor("v1", "a", "0", 1.0), lowering_error);  // wrong element letter
  EXPECT_THROW(w.resistor("r1", "a", "0", std::nan("")), lowering_error);
  EXPECT_THROW(w.resistor("r1", "a", "0", -5.0), lowering_error);
  EXPECT_THROW(w.card(".endc"), lowering_error);
  EXPECT_THROW(w.card(".op\n.control"), lowering_error);
  EXPECT_THROW(w.include("x\".lib\n.control"), lowering_error);
  netlist_template t("v{pos} {pos} 0 dc {volts}\n", "t");
  EXPECT_THROW(w.instantiate(t, {{"pos", "x0 0 1\n.control"}, {"volts", "1"}}), lowering_error);
  w.resistor("r1", "a", "0", 1.0);
  EXPECT_THROW(w.resistor("r1", "b", "0", 1.0), lowering_error);  // duplicate
  auto text = w.text();
  // The hostile title became one comment line: no line of the deck starts a control block.
  std::istringstream lines(text);
  for (std::string l; std::getline(lines, l);) EXPECT_FALSE(l.starts_with(".control")) << l;
}

// Runs a deck in the ngspice program and returns its printed op node voltages.
std::map<std::string, double> ngspice_operating_point(const std::string& deck) {
  auto path = test::scratch_path("test_compiler_deck.cir");
  std::ofstream(path) << deck;
  std::string command = "ngspice -b " + path.string() + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe.get())) output += buffer;
  std::map<std::string, double> volts;
  std::regex row(R"(^\s+([a-z0-9_#.]+)\s+([-+]?[0-9]\.[0-9]+e[-+][0-9]+)\s*$)");
  std::istringstream lines(output);
  for (std::string l; std::getline(lines, l);) {
    std::smatch m;
    // Only the node table: it ends where the source currents begin.
    if (l.find("Source") != std::string::npos) break;
    if (std::regex_match(l, m, row)) volts.emplace(m[1], std::stod(m[2]));
  }
  EXPECT_FALSE(volts.empty()) << output;
  return volts;
}

// Independent reference: Newton on KCL of one stage, G v - s - i_d(v) = 0,
// with the diode (anode at ground, so V_diode = -v) injecting the device's
// own C++ current law. Steps are limited to 2 n*vt downwards for Shockley
// devices (the exponential); piecewise-linear diodes need no limiting.
Eigen::VectorXd newton_stage(const ir::model& m, std::size_t s, const Eigen::VectorXd& x, const devices::device& d) {
  const auto n = static_cast<Eigen::Index>(m.size("hidden"));
  const auto p = "stage" + std::to_string(s) + ".";
  const auto& gb = m.parameter(p + "g_between");
  const auto& gg = m.parameter(p + "g_ground");
  const auto& hp = m.parameter(p + "h_pos");
  const auto& hn = m.parameter(p + "h_neg");
  const auto& b = m.parameter(p + "bias");
  Eigen::MatrixXd G = Eigen::MatrixXd::Zero(n, n);
  Eigen::VectorXd src(n);
  for (Eigen::Index j = 0; j < n; ++j) {
    double diag = gg.values[j];
    src(j) = b.values[j];
    for (Eigen::Index k = 0; k < n; ++k)
      if (k != j) {
        G(j, k) = -gb.values[j * n + k];
        diag += gb.values[j * n + k];
      }
    for (Eigen::Index k = 0; k < x.size(); ++k) {
      diag += hp.values[j * x.size() + k] + hn.values[j * x.size() + k];
      src(j) += (hp.values[j * x.size() + k] - hn.values[j * x.size() + k]) * x(k);
    }
    G(j, j) = diag;
  }
  const double volt = m.scale.volt, ampere = m.scale.ampere;
  const double max_down = d.shockley() ? 2 * d.shockley()->n * d.shockley()->vt / volt : INFINITY;
  Eigen::VectorXd v = Eigen::VectorXd::Zero(n);
  for (int it = 0; it < 200; ++it) {
    Eigen::VectorXd f = G * v - src;
    Eigen::MatrixXd J = G;
    for (Eigen::Index j = 0; j < n; ++j) {
      f(j) -= d.current(-v(j) * volt) / ampere;
      J(j, j) += d.conductance(-v(j) * volt) * volt / ampere;
    }
    Eigen::VectorXd step = J.lu().solve(f);
    double scale = 1.0;
    for (Eigen::Index j = 0; j < n; ++j)
      if (step(j) > max_down) scale = std::min(scale, max_down / step(j));
    v -= scale * step;
    if (step.cwiseAbs().maxCoeff() < 1e-15) break;
  }
  return v;
}

// Compiles m at `input`, runs it in the ngspice program and checks every
// hidden node and output against the Newton reference.
void expect_netlist_matches_newton(const ir::model& m, const std::vector<double>& input, const mon_compile_options& base) {
  const auto& diode = devices::builtin_devices().get(m.device("diode").name);
  auto options = base;
  options.inputs = input;
  options.source_name = "test";
  auto net = compile_mon(m, options);
  auto volts = ngspice_operating_point(net.text);
  Eigen::VectorXd x = Eigen::Map<const Eigen::VectorXd>(input.data(), static_cast<Eigen::Index>(input.size()));
  Eigen::VectorXd v;
  for (std::size_t s = 0; s < static_cast<std::size_t>(m.size("stages")); ++s) {
    v = newton_stage(m, s, x, diode);
    for (Eigen::Index j = 0; j < v.size(); ++j)
      EXPECT_NEAR(volts.at(net.hidden_nodes[s][j]) / net.volt, v(j), 1e-6) << diode.name() << " " << net.hidden_nodes[s][j];
    x = v;
  }
  const auto& C = m.parameter("readout.weight");
  const auto& e = m.parameter("readout.bias");
  for (std::size_t o = 0; o < net.output_nodes.size(); ++o) {
    double y = e.values[o];
    for (Eigen::Index j = 0; j < v.size(); ++j) y += C.values[o * v.size() + j] * v(j);
    EXPECT_NEAR(volts.at(net.output_nodes[o]) / net.volt, y, 1e-6) << diode.name() << " " << net.output_nodes[o];
  }
}

// Device libraries are SPICE text that ngspice executes: every builtin one
// passes the check; control blocks, further includes, other dot-commands and
// lines that are no element are refused with file:line, and a model whose
// library holds one does not compile.
TEST(NetlistWriter, IncludesOnlyLibrariesThatHoldDeviceDefinitions) {
  const auto& reg = devices::builtin_devices();
  for (const auto& name : reg.names()) EXPECT_NO_THROW(check_device_library(reg.get(name).library_file())) << name;
  const auto dir = test::scratch_path("test_library_check");
  std::filesystem::create_directories(dir);
  const std::string good = "* a diode\n.subckt my_diode anode cathode\nD1 anode cathode dm\n+ area=1\n"
                           ".MODEL dm D (IS=1e-14)\n.param x=1\n\n.ends my_diode\n";
  auto write = [&](const std::string& name, const std::string& text) {
    const auto p = dir / name;
    std::ofstream(p) << text;
    return p;
  };
  EXPECT_NO_THROW(check_device_library(write("good.lib", good)));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {".control\nshell touch /tmp/pwned\n.endc\n", "'.control' is not allowed"},
      {".INCLUDE /etc/passwd\n", "'.include' is not allowed"},
      {".lib other.lib typical\n", "it would read a further file"},
      {".tran 1n 1u\n", "not a device definition"},
      {"*ng_script\nshell ls\n", "'*ng_script' is not allowed"},
      {"  ! shell ls\n", "line starts with '!'"},
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    // The offending line is the last of the file: its line number is known.
    const std::string text = good + bad[i].first;
    const auto p = write(fmt::format("bad{}.lib", i), text);
    const std::size_t line = static_cast<std::size_t>(std::count(good.begin(), good.end(), '\n')) + 1;
    try {
      check_device_library(p);
      ADD_FAILURE() << "accepted: " << bad[i].first;
    } catch (const parse_error& e) {
      EXPECT_NE(std::string(e.what()).find(bad[i].second), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fmt::format("{}:{}", p.string(), line)), std::string::npos) << e.what();
    }
  }
  // The text entry point (the fuzz target's, tests/fuzz/) says the same, with
  // the given name and the same line numbers; a last line without '\n' and
  // CR-LF line ends are checked like any other line.
  EXPECT_NO_THROW(check_device_library_text(good, "good.lib"));
  for (const std::string& text : {good + ".control", good + ".control\r\n", std::string("* x\r\n\r\n.endc")}) {
    try {
      check_device_library_text(text, "mem.lib");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const parse_error& e) {
      const auto line = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) +
                        (text.back() == '\n' ? 0 : 1);
      EXPECT_EQ(e.where().file, "mem.lib");
      EXPECT_EQ(e.where().line, line) << e.what();
    }
  }
  // Through the compiler: a MON whose diode library holds a control block.
  auto m = ir::init_mon(2, 3, 2, 1, 5);
  m.devices = {{"diode", "my_diode", write("evil.lib", good + ".control\nshell echo pwned\n.endc\n").string()}};
  EXPECT_THROW((void)compile_mon(m), parse_error);
  std::filesystem::remove_all(dir);
}

TEST(MonCompiler, NetlistRunsInNgspiceAndMatchesAnIndependentNewtonSolve) {
  for (std::size_t stages : {1u, 2u})
    for (const char* diode : {"shockley", "ideal"})
      for (bool literal : {false, true}) {
        SCOPED_TRACE(fmt::format("{} stage(s), {} diode, {} input pairs", stages, diode, literal ? "literal" : "merged"));
        auto m = ir::init_mon(3, 5, 2, stages, 17 + stages, diode);
        // negative biases so that some diodes conduct
        auto& bias = m.parameter("stage0.bias").values;
        bias[1] = -0.9;
        bias[3] = -0.7;
        expect_netlist_matches_newton(m, {0.8, -0.3, 0.45}, {.literal_input_pairs = literal});
      }
}

// Merging an input pair keeps the current (h_pos - h_neg) x - (h_pos + h_neg) v
// with one resistor: count the crossbar resistors and check the ground
// conductance that absorbs 2 min(h_pos, h_neg).
TEST(MonCompiler, MergedInputPairsUseOneResistorPerPair) {
  auto m = ir::init_mon(4, 3, 2, 1, 5, "ideal");
  auto& hp = m.parameter("stage0.h_pos").values;
  auto& hn = m.parameter("stage0.h_neg").values;
  hp[0] = 0.5, hn[0] = 0.2;  // (0,0): 0.3 to +x0, 0.4 to ground
  hp[1] = 0.1, hn[1] = 0.6;  // (0,1): 0.5 to -x1, 0.2 to ground
  hp[2] = 0.3, hn[2] = 0.3;  // (0,2): no crossbar resistor, 0.6 to ground
  hp[3] = 0.0, hn[3] = 0.0;  // (0,3): nothing
  const auto merged = compile_mon(m).text;
  const auto literal = compile_mon(m, {.literal_input_pairs = true}).text;
  auto count = [](const std::string& text, const std::regex& re) {
    return std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator());
  };
  const std::regex crossbar(R"((^|\n)r[pn]0_\d+_\d+ )");
  std::ptrdiff_t pairs = 0, values = 0;
  for (std::size_t i = 0; i < hp.size(); ++i) {
    pairs += hp[i] != hn[i];
    values += (hp[i] > 0) + (hn[i] > 0);
  }
  EXPECT_EQ(count(merged, crossbar), pairs);
  EXPECT_EQ(count(literal, crossbar), values);
  EXPECT_NE(merged.find("rp0_0_0 h0 x0 33333.33333333333"), std::string::npos) << merged;  // 1e4 ohm / 0.3
  EXPECT_NE(merged.find("rn0_0_1 h0 xn1 20000"), std::string::npos) << merged;             // 1e4 ohm / 0.5
  EXPECT_EQ(merged.find("rp0_0_2 "), std::string::npos);
  EXPECT_EQ(merged.find("rn0_0_2 "), std::string::npos);
  const double g0 = m.parameter("stage0.g_ground").values[0] + 0.4 + 0.2 + 0.6;
  std::smatch rg;
  ASSERT_TRUE(std::regex_search(merged, rg, std::regex(R"(\nrg0_0 h0 0 (\S+)\n)")));
  EXPECT_NEAR(std::stod(rg[1]), 1e4 / g0, 1e-9 * 1e4 / g0);
}

TEST(MonCompiler, RejectsWrongInputCountAndFamily) {
  auto m = ir::init_mon(3, 4, 2, 1, 1, "ideal");
  EXPECT_THROW(compile_mon(m, {.inputs = {1.0}, .source_name = "test"}), lowering_error);
  auto k = ir::init_kan({4, 3}, {"z15"}, 1);
  EXPECT_THROW(compile_mon(k), lowering_error);
}

}  // namespace
}  // namespace spicenn::compiler
