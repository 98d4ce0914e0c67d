// spicenn::spice::engine against closed forms, an independent Newton solve
// and the ngspice command-line program.
#include <array>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numbers>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "reference.hpp"
#include "spice/engine.hpp"

namespace {

using spicenn::spice::engine;
using spicenn::spice::testing::network;

const char* divider_deck =
    "resistor divider\n"
    "V1 in 0 DC 10\n"
    "R1 in out 1k\n"
    "R2 out 0 3k\n"
    ".end\n";

TEST(Engine, ResistorDividerMatchesClosedForm) {
  engine eng;
  eng.load(divider_deck);
  ASSERT_TRUE(eng.loaded());
  eng.op();
  EXPECT_NEAR(eng.real_value("v(out)"), 10.0 * 3e3 / 4e3, 1e-12);
  EXPECT_NEAR(eng.real_value("v(in)"), 10.0, 1e-12);
  // Source current flows into the + terminal: negative when delivering power.
  EXPECT_NEAR(eng.real_value("i(v1)"), -10.0 / 4e3, 1e-15);
  EXPECT_NEAR(eng.real_value("v1#branch"), -10.0 / 4e3, 1e-15);
}

TEST(Engine, NamesAreLowercasedByTheApi) {
  engine eng;
  eng.load(divider_deck);
  eng.alter("R2", "RESISTANCE", 1e3);  // uppercase device and parameter
  eng.op();
  EXPECT_NEAR(eng.real_value("V(OUT)"), 5.0, 1e-12);
  auto names = eng.vector_names();
  EXPECT_NE(std::find(names.begin(), names.end(), "out"), names.end());
  // dc through the API lowercases the source name...
  eng.dc("V1", 0, 2, 1);
  EXPECT_EQ(eng.real_vector("v(out)").size(), 3u);
  // ...while a raw command is sent as is, and ngspice rejects the uppercase name.
  EXPECT_THROW(eng.command("dc V1 0 1 0.5"), spicenn::spice::command_error);
  eng.command("dc v1 0 1 0.5");
  EXPECT_EQ(eng.real_vector("v(out)").size(), 3u);
}

TEST(Engine, DcSweepMatchesClosedForm) {
  engine eng;
  eng.load(divider_deck);
  eng.dc("v1", -2, 3, 0.5);
  auto sweep = eng.real_vector("v-sweep");
  auto out = eng.real_vector("v(out)");
  ASSERT_EQ(sweep.size(), 11u);
  ASSERT_EQ(out.size(), 11u);
  for (std::size_t i = 0; i < sweep.size(); ++i) {
    EXPECT_NEAR(sweep[i], -2 + 0.5 * static_cast<double>(i), 1e-12);
    EXPECT_NEAR(out[i], 0.75 * sweep[i], 1e-12);
  }
}

TEST(Engine, RcTransientMatchesExponential) {
  // C charged to 1 V discharging through R: v(t) = exp(-t / RC), RC = 1 ms.
  engine eng;
  eng.load("rc discharge\nR1 out 0 1k\nC1 out 0 1u IC=1\n.end\n");
  spicenn::spice::tran_options opt;
  opt.uic = true;
  opt.max_step = 1e-6;
  eng.tran(1e-5, 5e-3, opt);
  auto t = eng.real_vector("time");
  auto v = eng.real_vector("v(out)");
  ASSERT_EQ(t.size(), v.size());
  ASSERT_GT(t.size(), 1000u);  // max_step 1 us over 5 ms
  EXPECT_NEAR(t.back(), 5e-3, 1e-12);
  double worst = 0;
  for (std::size_t i = 0; i < t.size(); ++i) worst = std::max(worst, std::abs(v[i] - std::exp(-t[i] / 1e-3)));
  EXPECT_LT(worst, 1e-4) << "trapezoidal integration with 1 us steps on a 1 ms time constant";
  EXPECT_NEAR(v.back(), std::exp(-5.0), 1e-4);
}

TEST(Engine, AcOfRcLowPassMatchesTransferFunction) {
  // H(jw) = 1 / (1 + jwRC), RC = 1 ms.
  engine eng;
  eng.load("rc low-pass\nV1 in 0 DC 0 AC 1\nR1 in out 1k\nC1 out 0 1u\n.end\n");
  eng.ac(spicenn::spice::ac_sweep::dec, 10, 1, 1e6);
  auto f = eng.complex_vector("frequency");
  auto h = eng.complex_vector("v(out)");
  ASSERT_EQ(f.size(), 61u);  // 6 decades x 10 + 1
  ASSERT_EQ(h.size(), f.size());
  EXPECT_THROW(eng.real_vector("v(out)"), spicenn::spice::vector_error);  // complex
  for (std::size_t i = 0; i < f.size(); ++i) {
    double w = 2 * std::numbers::pi * f[i].real();
    std::complex<double> expected = 1.0 / std::complex<double>(1.0, w * 1e-3);
    EXPECT_NEAR(std::abs(h[i]), std::abs(expected), 1e-9 * std::abs(expected)) << "f = " << f[i].real();
    EXPECT_NEAR(std::arg(h[i]), std::arg(expected), 1e-9) << "f = " << f[i].real();
  }
  EXPECT_NEAR(std::abs(h.front()), 1.0, 1e-4);
  EXPECT_NEAR(std::arg(h[30]), -std::atan(2 * std::numbers::pi * 1e3 * 1e-3), 1e-9);  // f = 1 kHz
}

// in --R1-- a --R2-- b --R3-- gnd, diodes a->gnd and b->gnd.
network diode_network(double vin) {
  network net(3);  // nodes: 1 = in, 2 = a, 3 = b
  net.fixed[1] = vin;
  net.resistors = {{1, 2, 1e3}, {2, 3, 2e3}, {3, 0, 10e3}};
  net.diodes = {{2, 0, 1e-14, 1.0}, {3, 0, 1e-14, 1.05}};
  return net;
}

std::string diode_deck(double vin, const char* options = ".options reltol=1e-9 vntol=1e-12 abstol=1e-18") {
  return fmt::format(
      "diode network\n"
      "V1 in 0 DC {}\n"
      "R1 in a 1k\n"
      "R2 a b 2k\n"
      "R3 b 0 10k\n"
      "D1 a 0 d1mod\n"
      "D2 b 0 d2mod\n"
      ".model d1mod D(IS=1e-14 N=1)\n"
      ".model d2mod D(IS=1e-14 N=1.05)\n"
      "{}\n"
      ".end\n",
      vin, options);
}

TEST(Engine, DiodeNetworkMatchesIndependentNewtonSolve) {
  engine eng;
  for (double vin : {0.3, 1.0, 5.0}) {
    auto net = diode_network(vin);
    Eigen::VectorXd v = net.solve();
    eng.load(diode_deck(vin));
    eng.op();
    EXPECT_NEAR(eng.real_value("v(a)"), v(2), 1e-6) << "vin = " << vin;
    EXPECT_NEAR(eng.real_value("v(b)"), v(3), 1e-6) << "vin = " << vin;
    EXPECT_NEAR(-eng.real_value("i(v1)"), net.source_current(v, 1), 1e-9) << "vin = " << vin;
  }
}

TEST(Engine, AlterChangesValuesWithoutReparsing) {
  engine eng;
  eng.load(diode_deck(1.0));
  for (double vin : {2.0, 0.5, 4.0}) {
    eng.alter("v1", vin);
    eng.op();
    auto net = diode_network(vin);
    Eigen::VectorXd v = net.solve();
    EXPECT_NEAR(eng.real_value("v(a)"), v(2), 1e-6) << "vin = " << vin;
  }
  // Device parameter, both alter forms.
  eng.load(divider_deck);
  eng.alter("r1", "resistance", 3e3);
  eng.op();
  EXPECT_NEAR(eng.real_value("v(out)"), 5.0, 1e-12);
  eng.alter("r1", 1e3);
  eng.alter("v1", -1.5e-5);  // exponent form survives the round trip through text
  eng.op();
  EXPECT_NEAR(eng.real_value("v(out)"), -1.5e-5 * 0.75, 1e-18);
  EXPECT_NEAR(eng.real_value("@r1[resistance]"), 1e3, 1e-9);
}

TEST(Engine, SensMatchesAnalyticDerivatives) {
  engine eng;
  eng.load(divider_deck);  // vout = V R2 / (R1 + R2)
  eng.sens("V(OUT)");
  // ngspice's DC sensitivities are finite differences with a relative
  // perturbation of 1e-6: expect ~1e-6 relative agreement, not more.
  const double v = 10, r1 = 1e3, r2 = 3e3, s = r1 + r2;
  auto near = [](double got, double expected) { EXPECT_NEAR(got, expected, 1e-5 * std::abs(expected)); };
  near(eng.real_value("r1"), -v * r2 / (s * s));
  near(eng.real_value("r2"), v * r1 / (s * s));
  near(eng.real_value("v1"), r2 / s);
}

TEST(Engine, OperatingPointAfterSensIsRightAndKeepsAlters) {
  // ngspice's op after sens on a diode circuit is wrong until `reset`; the
  // engine resets and re-applies the alters.
  engine eng;
  eng.load(diode_deck(1.0));
  eng.alter("v1", 3.0);
  eng.alter("r2", "resistance", 5e3);
  eng.op();
  eng.sens("v(b)");
  eng.op();
  auto net = diode_network(3.0);
  net.resistors[1].r = 5e3;
  Eigen::VectorXd v = net.solve();
  EXPECT_NEAR(eng.real_value("v(a)"), v(2), 1e-6);
  EXPECT_NEAR(eng.real_value("v(b)"), v(3), 1e-6);
}

TEST(Engine, CommandRunsAnalysesAndPlainCommands) {
  engine eng;
  eng.load(divider_deck);
  eng.command("op");
  EXPECT_EQ(eng.current_plot().rfind("op", 0), 0u) << eng.current_plot();
  EXPECT_NEAR(eng.real_value("out"), 7.5, 1e-12);
  eng.command("echo hello from spicenn");
  EXPECT_NE(eng.last_output().find("hello from spicenn"), std::string::npos) << eng.last_output();
  EXPECT_THROW(eng.command("bg_run"), spicenn::spice::command_error);
  EXPECT_THROW(eng.command("quit"), spicenn::spice::command_error);
}

TEST(Engine, MissingEndIsAppended) {
  engine eng;
  eng.load("no end line\nV1 a 0 DC 2\nR1 a 0 1k");
  eng.op();
  EXPECT_NEAR(eng.real_value("v(a)"), 2.0, 1e-12);
  EXPECT_EQ(eng.deck().back(), ".end");
}

TEST(Engine, PolySourceUsesPrivateCodeModels) {
  // POLY controlled sources run in the spice2poly XSPICE code model: with
  // several engines alive each must call its own simulator.
  const char* deck = "poly\nV1 a 0 DC 2\nR1 a 0 1k\nE1 b 0 POLY(1) a 0 1 2 3\nR2 b 0 1k\n.end\n";
  engine first;
  first.load(deck);
  first.op();
  EXPECT_NEAR(first.real_value("v(b)"), 1 + 2 * 2 + 3 * 4, 1e-9);
  {
    engine second;
    second.load(deck);
    second.alter("v1", 1.0);
    second.op();
    EXPECT_NEAR(second.real_value("v(b)"), 1 + 2 + 3, 1e-9);
    first.op();
    EXPECT_NEAR(first.real_value("v(b)"), 17, 1e-9);
  }
  first.alter("v1", 3.0);
  first.op();  // `second` and its library are gone
  EXPECT_NEAR(first.real_value("v(b)"), 1 + 2 * 3 + 3 * 9, 1e-9);
}

// Runs the ngspice program in batch mode; returns its output.
std::string run_ngspice_cli(const std::string& deck) {
  char path[] = "/tmp/spicenn-cli-XXXXXX.cir";
  int fd = mkstemps(path, 4);
  if (fd < 0) return {};
  FILE* f = fdopen(fd, "w");
  std::fputs(deck.c_str(), f);
  std::fclose(f);
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(fmt::format("ngspice -b {} 2>&1", path).c_str(), "r"), pclose);
  if (pipe) {
    std::array<char, 4096> buf;
    while (std::fgets(buf.data(), buf.size(), pipe.get())) out += buf.data();
  }
  std::remove(path);
  return out;
}

double cli_value(const std::string& output, const std::string& name) {
  std::istringstream in(output);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + " = ", 0) == 0) return std::stod(line.substr(name.size() + 3));
  }
  return std::nan("");
}

TEST(Engine, AgreesWithNgspiceCommandLine) {
  if (std::system("command -v ngspice > /dev/null 2>&1") != 0) GTEST_SKIP() << "ngspice program not installed";
  const std::string circuit = diode_deck(2.0, "E1 c 0 POLY(1) b 0 0.5 2 1\nR4 c 0 1k");
  auto with_control = circuit.substr(0, circuit.rfind(".end")) +
                      ".control\nop\nset numdgt=17\nprint v(a) v(b) v(c) i(v1)\n.endc\n.end\n";
  std::string out = run_ngspice_cli(with_control);
  engine eng;
  eng.load(circuit);
  eng.op();
  for (const char* name : {"v(a)", "v(b)", "v(c)", "i(v1)"}) {
    double cli = cli_value(out, name);
    ASSERT_FALSE(std::isnan(cli)) << name << " not in the ngspice output:\n" << out;
    EXPECT_NEAR(eng.real_value(name), cli, 1e-12 * std::max(1.0, std::abs(cli))) << name;
  }
}

}  // namespace
