// Batch evaluation (one DC sweep over a sample index) against one-by-one
// alter + op and against the independent Newton solver.
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "reference.hpp"
#include "spice/batch.hpp"

namespace {

using namespace spicenn::spice;
using spicenn::spice::testing::network;

// Two inputs, three internal nodes, diodes both ways (some reverse biased for
// some samples). With ngspice's default reltol = 1e-3 a DC solution is only
// accurate to ~1e-3 relative (observed: sweep vs cold op differ by up to
// ~5e-4 V); the tight tolerances make "identical" testable.
const char* two_input_deck =
    "two-input diode network\n"
    ".options reltol=1e-9 vntol=1e-12 abstol=1e-18\n"
    "Vx1 x1 0 DC 0\n"
    "VX2 x2 0 0.25\n"
    "R1 x1 a 1k\n"
    "R2 x2 a 2k\n"
    "R3 a b 1.5k\n"
    "R4 x2 b 3k\n"
    "R5 b 0 4k\n"
    "R6 c 0 1k\n"
    "D1 0 a dmod\n"
    "D2 b c dmod\n"
    "D3 0 b dmod\n"
    "D4 a 0 dmod\n"
    ".model dmod D(IS=1e-14)\n"
    ".end\n";

network two_input_network(double x1, double x2) {
  network net(5);  // 1 = x1, 2 = x2, 3 = a, 4 = b, 5 = c
  net.fixed[1] = x1;
  net.fixed[2] = x2;
  net.resistors = {{1, 3, 1e3}, {2, 3, 2e3}, {3, 4, 1.5e3}, {2, 4, 3e3}, {4, 0, 4e3}, {5, 0, 1e3}};
  net.diodes = {{0, 3}, {4, 5}, {0, 4}, {3, 0}};
  return net;
}

Eigen::MatrixXd random_samples(int n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-2.0, 2.0);
  Eigen::MatrixXd x(n, 2);
  for (int i = 0; i < n; ++i) {
    x(i, 0) = u(rng);
    x(i, 1) = u(rng);
  }
  return x;
}

const std::vector<std::string> probes = {"v(a)", "V(B)", "c", "i(vx1)", "vx2#branch"};

TEST(Batch, SweepMatchesOneByOneAlterAndOp) {
  const Eigen::MatrixXd x = random_samples(37, 1234);
  engine eng;
  batch_options opt;
  opt.chunk_size = 10;  // 4 chunks, the last one of 7
  Eigen::MatrixXd y = evaluate_batch(eng, two_input_deck, {"Vx1", "vx2"}, x, probes, opt);
  ASSERT_EQ(y.rows(), 37);
  ASSERT_EQ(y.cols(), 5);

  engine single;
  single.load(two_input_deck);
  double worst = 0;
  for (int i = 0; i < x.rows(); ++i) {
    single.alter("vx1", x(i, 0));
    single.alter("vx2", x(i, 1));
    single.op();
    for (std::size_t p = 0; p < probes.size(); ++p) {
      double one = single.real_value(probes[p]);
      double diff = std::abs(y(i, static_cast<int>(p)) - one);
      worst = std::max(worst, diff / std::max(1e-3, std::abs(one)));
      EXPECT_NEAR(y(i, static_cast<int>(p)), one, 1e-9 * std::max(1e-3, std::abs(one)))
          << "sample " << i << " probe " << probes[p];
    }
  }
  std::printf("[ batch ] largest relative difference sweep vs alter+op: %.3g\n", worst);
}

TEST(Batch, SweepMatchesIndependentNewtonSolve) {
  const Eigen::MatrixXd x = random_samples(25, 99);
  engine eng;
  Eigen::MatrixXd y = evaluate_batch(eng, two_input_deck, {"vx1", "vx2"}, x, {"v(a)", "v(b)", "v(c)"});
  for (int i = 0; i < x.rows(); ++i) {
    Eigen::VectorXd v = two_input_network(x(i, 0), x(i, 1)).solve();
    // The reverse-bias diode models differ by ~1e-14 A (ngspice uses a cubic
    // beyond -3 n vt): ~1e-11 V here.
    for (int p = 0; p < 3; ++p) EXPECT_NEAR(y(i, p), v(3 + p), 1e-9) << "sample " << i << " node " << p;
  }
}

TEST(Batch, SingleSampleAndChunksOfOne) {
  Eigen::MatrixXd x(3, 2);
  x << 0.7, -0.3, 1.5, 0.2, -1.0, 1.0;
  engine eng;
  batch_options one;
  one.chunk_size = 1;
  Eigen::MatrixXd y = evaluate_batch(eng, two_input_deck, {"vx1", "vx2"}, x, {"v(a)"}, one);
  Eigen::MatrixXd first = evaluate_batch(eng, two_input_deck, {"vx1", "vx2"}, x.topRows(1), {"v(a)"});
  ASSERT_EQ(first.rows(), 1);
  EXPECT_NEAR(first(0, 0), y(0, 0), 1e-12);
  for (int i = 0; i < 3; ++i) {
    Eigen::VectorXd v = two_input_network(x(i, 0), x(i, 1)).solve();
    EXPECT_NEAR(y(i, 0), v(3), 1e-6) << "sample " << i;
  }
}

TEST(Batch, SweepNetlistReplacesInputSources) {
  Eigen::MatrixXd x(2, 1);
  x << 0.5, 1e-5;
  const std::string deck = "title\nVin in 0 DC 1\nR1 in 0 1k\n.end\n";
  EXPECT_EQ(sweep_netlist(deck, {"VIN"}, x),
            "title\n"
            "bspicenn_vin in 0 v=pwl(v(spicenn_idx), 0,0.5, 1,1e-05)\n"
            "R1 in 0 1k\n"
            "vspicenn_idx spicenn_idx 0 dc 0\n"
            ".end\n");
  // One sample: the pwl still has two points.
  EXPECT_EQ(sweep_netlist("t\nVin in 0 3", {"vin"}, x.topRows(1)),
            "t\nbspicenn_vin in 0 v=pwl(v(spicenn_idx), 0,0.5, 1,0.5)\nvspicenn_idx spicenn_idx 0 dc 0\n");
}

TEST(Batch, InputSourceErrorsNameTheLine) {
  Eigen::MatrixXd x = Eigen::MatrixXd::Ones(2, 1);
  auto error_line = [&](const std::string& deck, const std::string& source) -> std::size_t {
    try {
      sweep_netlist(deck, {source}, x);
    } catch (const netlist_error& e) {
      return e.line_number() ? e.line_number() : 1000;
    }
    return 0;
  };
  EXPECT_EQ(error_line("t\nR1 in 0 1k\nVin in 0 SIN(0 1 1k)\n.end\n", "vin"), 3u);
  EXPECT_EQ(error_line("t\nVin in 0 DC 1 AC 1\n.end\n", "vin"), 2u);
  EXPECT_EQ(error_line("t\nVin in 0\n+ DC 1\n.end\n", "vin"), 2u);
  EXPECT_EQ(error_line("t\nVin in 0 1\nVin b 0 2\n.end\n", "vin"), 3u);
  EXPECT_EQ(error_line("t\nVin in 0 1\nvspicenn_idx a 0 1\n.end\n", "vin"), 3u);
  EXPECT_EQ(error_line("t\nVa in 0 1\n.end\n", "vin"), 1000u);  // not found: no line
  // Inside a subcircuit does not count.
  EXPECT_EQ(error_line("t\n.subckt s a\nVin a 0 1\n.ends\n.end\n", "vin"), 1000u);
  EXPECT_EQ(error_line("t\nVin in 0 1\n.end\n", "vin"), 0u);  // fine
  engine eng;
  EXPECT_THROW(evaluate_batch(eng, "t\nVin in 0 1\nR1 in 0 1\n.end\n", {"vin"}, Eigen::MatrixXd::Ones(2, 2), {"v(in)"}),
               netlist_error);  // 2 columns, 1 source
}

TEST(Batch, ImplausibleSampleIsNamed) {
  // Input current v(x) amperes into a sink that saturates at 0.5 A: samples
  // below 0.5 settle at v(a) = atanh(2 v(x)); 1.0 has no solution and
  // ngspice returns an absurd voltage instead of failing.
  const char* deck =
      "saturating sink\nVx x 0 DC 0\nRx x 0 1k\nB1 0 a I = v(x)\nB2 a 0 I = 0.5*tanh(v(a))\n"
      ".options reltol=1e-9 vntol=1e-12 abstol=1e-18\n.end\n";
  Eigen::MatrixXd x(4, 1);
  x << 0.1, 0.2, 0.3, 1.0;
  engine eng;
  Eigen::MatrixXd y = evaluate_batch(eng, deck, {"vx"}, x.topRows(3), {"v(a)"});
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(y(i, 0), std::atanh(2 * x(i, 0)), 1e-6);
  batch_options opt;
  opt.voltage_bound = 2;  // below the sample-index node's 3 V: that node must not count
  try {
    evaluate_batch(eng, deck, {"vx"}, x, {"v(a)"}, opt);
    ADD_FAILURE() << "no error for sample 3";
  } catch (const convergence_error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 3"), std::string::npos) << e.what();
    EXPECT_EQ(e.node(), "a");
  }
}

}  // namespace
