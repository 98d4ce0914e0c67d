// MON co-simulation: ngspice forward values and hardware-linearization
// gradients against the software model, against finite differences through
// ngspice, and the verify report. Tolerances are derived in
// docs/cosimulation.md; every comparison prints its measured deviation.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <numeric>
#include <string>
#include <vector>

#include "compiler/mon_compiler.hpp"
#include "core/error.hpp"
#include "core/random.hpp"
#include "cosim/activation.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/mon_evaluators.hpp"
#include "cosim/realisability.hpp"
#include "cosim/verify.hpp"
#include "devices/device.hpp"
#include "devices/fit.hpp"
#include "ir/init.hpp"
#include "models/loss.hpp"
#include "models/mon.hpp"
#include "scratch_path.hpp"

namespace spicenn::cosim {
namespace {

using Eigen::MatrixXd;

MatrixXd random_inputs(Eigen::Index inputs, Eigen::Index batch, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
  rng r(seed);
  MatrixXd x(inputs, batch);
  for (Eigen::Index b = 0; b < batch; ++b)
    for (Eigen::Index k = 0; k < inputs; ++k) x(k, b) = r.uniform(lo, hi);
  return x;
}

std::vector<int> random_labels(Eigen::Index batch, int classes, std::uint64_t seed) {
  rng r(seed);
  std::vector<int> y(static_cast<std::size_t>(batch));
  for (auto& v : y) v = static_cast<int>(r.below(static_cast<std::uint64_t>(classes)));
  return y;
}

double max_abs_diff(const MatrixXd& a, const MatrixXd& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

// Largest |Δv| over every stage's hidden nodes (both evaluations of the same stages).
double max_hidden_diff(const evaluation& a, const evaluation& b) {
  EXPECT_EQ(a.hidden.size(), b.hidden.size());
  double d = 0.0;
  for (std::size_t s = 0; s < std::min(a.hidden.size(), b.hidden.size()); ++s)
    d = std::max(d, max_abs_diff(a.hidden[s], b.hidden[s]));
  return d;
}

// The model with the diode's exact Shockley law in the software model:
// option diode=shockley, same device (ideal_diode has IS = 1 fA, N = 0.001).
ir::model exact_law(ir::model m) {
  m.options["diode"] = "shockley";
  return m;
}

// An ideal-diode MON realised with the N = 0.001 exponential diode
// ideal_diode instead of the default piecewise-linear pwl_diode.
ir::model init_near_ideal(std::int64_t inputs, std::int64_t hidden, std::int64_t outputs, std::int64_t stages,
                          std::uint64_t seed) {
  auto m = ir::init_mon(inputs, hidden, outputs, stages, seed, "ideal");
  m.devices = {{"diode", "ideal_diode", ""}};
  return m;
}

// Samples of `pool` whose ideal solution keeps every node away from its
// kink: free with v_j >= margin or clamped with current w_j >= margin.
// Reports the smallest free voltage and the largest G_jj / w_j of a
// clamped node.
struct away_from_kinks {
  MatrixXd x;
  double v_free_min = 1e9;
  double clamped_g_over_w = 0.0;
};

away_from_kinks samples_away_from_kinks(const ir::model& m, const MatrixXd& pool, double margin, std::size_t wanted) {
  const auto net = models::mon_network::from_model(m);
  const auto f = make_evaluator(m, engine_kind::software)->forward(pool);
  const auto stages = static_cast<int>(m.size("stages"));
  away_from_kinks out;
  std::vector<Eigen::Index> keep;
  for (Eigen::Index b = 0; b < pool.cols() && keep.size() < wanted; ++b) {
    bool ok = true;
    double vmin = 1e9, ratio = 0.0;
    for (int s = 0; s < stages && ok; ++s) {
      const Eigen::VectorXd xs = s == 0 ? Eigen::VectorXd(pool.col(b)) : Eigen::VectorXd(f.hidden[s - 1].col(b));
      const Eigen::VectorXd v = f.hidden[s].col(b);
      const Eigen::VectorXd w = net.stages[s].G * v - net.stages[s].sources(xs);
      for (Eigen::Index j = 0; j < v.size(); ++j) {
        if (v[j] >= margin) {
          vmin = std::min(vmin, v[j]);
        } else if (v[j] == 0.0 && w[j] >= margin) {
          ratio = std::max(ratio, net.stages[s].G(j, j) / w[j]);
        } else {
          ok = false;
        }
      }
    }
    if (!ok) continue;
    keep.push_back(b);
    out.v_free_min = std::min(out.v_free_min, vmin);
    out.clamped_g_over_w = std::max(out.clamped_g_over_w, ratio);
  }
  out.x.resize(pool.rows(), static_cast<Eigen::Index>(keep.size()));
  for (std::size_t i = 0; i < keep.size(); ++i) out.x.col(static_cast<Eigen::Index>(i)) = pool.col(keep[i]);
  return out;
}

// Largest deviation of every gradient tensor relative to that tensor's
// largest magnitude (in the reference), and the inputs likewise.
struct gradient_deviation {
  double worst = 0.0;
  std::string where;
};

gradient_deviation compare_gradients(const loss_gradient& got, const loss_gradient& ref) {
  gradient_deviation d;
  EXPECT_EQ(got.parameters.size(), ref.parameters.size());
  for (const auto& [name, r] : ref.parameters) {
    auto it = got.parameters.find(name);
    if (it == got.parameters.end()) {
      ADD_FAILURE() << "missing gradient " << name;
      continue;
    }
    const auto& g = it->second;
    EXPECT_EQ(g.size(), r.size()) << name;
    double scale = 0.0, diff = 0.0;
    for (std::size_t i = 0; i < r.size() && i < g.size(); ++i) {
      scale = std::max(scale, std::abs(r[i]));
      diff = std::max(diff, std::abs(g[i] - r[i]));
    }
    const double rel = scale > 0 ? diff / scale : diff;
    if (rel >= d.worst) d = {rel, name};
  }
  const double scale = ref.inputs.cwiseAbs().maxCoeff();
  const double rel = max_abs_diff(got.inputs, ref.inputs) / (scale > 0 ? scale : 1.0);
  if (rel >= d.worst) d = {rel, "inputs"};
  return d;
}

// ------------------------------------------------------------ software evaluator

TEST(MonCosim, DispatchGivesEveryFamilyEveryEngine) {
  for (const auto& m : {ir::init_mon(2, 3, 2, 1, 1), ir::init_kan({2, 3, 2}, {"z15", "zaz21"}, 1),
                        ir::init_kirchhoffnet(2, 3, 2, 1, "shift_tanh2", 1)})
    for (auto kind : {engine_kind::software, engine_kind::spice, engine_kind::finite_differences})
      EXPECT_EQ(make_evaluator(m, kind)->kind(), kind) << ir::to_string(m.kind) << " " << to_string(kind);
}

TEST(MonCosim, SoftwareEvaluatorGradientMatchesItsOwnLossByCentralDifferences) {
  // Wiring check of the wrapper (names, trainable filter, mean loss); the
  // model's own gradient is tested in tests/models.
  auto m = ir::init_mon(3, 4, 3, 2, 5, "shockley");
  m.parameter("readout.bias").trainable = false;
  const MatrixXd x = random_inputs(3, 5, 11);
  const auto labels = random_labels(5, 3, 12);
  auto eval = make_evaluator(m, engine_kind::software);
  const auto g = eval->gradient(x, labels);
  EXPECT_EQ(g.parameters.count("readout.bias"), 0u);
  ASSERT_EQ(g.parameters.size(), 11u);
  EXPECT_NEAR(g.loss, models::softmax_cross_entropy(eval->forward(x).outputs, labels), 1e-12);
  const double h = 1e-6;
  for (const auto& [name, grad] : g.parameters) {
    for (std::size_t i : {std::size_t{0}, grad.size() / 2, grad.size() - 1}) {
      auto mp = m, mm = m;
      auto& tp = mp.parameter(name);
      if (tp.kind == ir::constraint::symmetric_nonnegative) {
        const std::size_t n = tp.shape[0], a = i / n, b = i % n;
        if (a == b) continue;
        mp.parameter(name).values[a * n + b] += h, mp.parameter(name).values[b * n + a] += h;
        mm.parameter(name).values[a * n + b] -= h, mm.parameter(name).values[b * n + a] -= h;
      } else {
        mp.parameter(name).values[i] += h;
        mm.parameter(name).values[i] -= h;
      }
      eval->set_model(mp);
      const double lp = models::softmax_cross_entropy(eval->forward(x).outputs, labels);
      eval->set_model(mm);
      const double lm = models::softmax_cross_entropy(eval->forward(x).outputs, labels);
      EXPECT_NEAR(grad[i], (lp - lm) / (2 * h), 1e-6 * std::max(1.0, std::abs(grad[i]))) << name << "[" << i << "]";
    }
  }
}

// ------------------------------------------------------------ spice forward

TEST(MonCosim, SpiceForwardMatchesSoftwareWithShockleyDiodesTo1uV) {
  for (int stages : {1, 2}) {
    const auto m = ir::init_mon(4, 6, 3, stages, 21 + stages, "shockley");
    const MatrixXd x = random_inputs(4, 12, 31);
    auto sw = make_evaluator(m, engine_kind::software);
    auto sp = make_evaluator(m, engine_kind::spice);
    const auto a = sp->forward(x), b = sw->forward(x);
    ASSERT_EQ(a.hidden.size(), static_cast<std::size_t>(stages));
    const double dv = max_hidden_diff(a, b);
    const double dy = max_abs_diff(a.outputs, b.outputs);
    std::printf("[measured] shockley, %d stage(s): max |dv| = %.3g V, max |dy| = %.3g V (signal scale %.3g V)\n", stages, dv, dy,
                b.hidden.back().cwiseAbs().maxCoeff());
    EXPECT_LE(dv, 1e-6);
    EXPECT_LE(dy, 1e-6);
  }
}

TEST(MonCosim, SpiceForwardOfTheNearIdealDiodeMatchesItsExactLawTo1uV) {
  // Convergence of ngspice with IS = 1 fA, N = 0.001 at the tight tolerances.
  for (int stages : {1, 2}) {
    const auto m = init_near_ideal(4, 6, 3, stages, 41 + stages);
    const MatrixXd x = random_inputs(4, 12, 51);
    auto sp = make_evaluator(m, engine_kind::spice);
    auto law = make_evaluator(exact_law(m), engine_kind::software);
    const auto a = sp->forward(x), b = law->forward(x);
    const double dv = max_hidden_diff(a, b);
    const double dy = max_abs_diff(a.outputs, b.outputs);
    std::printf("[measured] ideal_diode vs its exact law, %d stage(s): max |dv| = %.3g V, max |dy| = %.3g V\n", stages, dv, dy);
    EXPECT_LE(dv, 1e-6);
    EXPECT_LE(dy, 1e-6);
  }
}

TEST(MonCosim, SpiceForwardOfTheNearIdealDiodeIsWithinTheForwardDropBoundOfTheIdealMon) {
  for (int stages : {1, 2}) {
    const auto m = init_near_ideal(4, 6, 3, stages, 61 + stages);
    const MatrixXd x = random_inputs(4, 16, 71);
    auto sp = make_evaluator(m, engine_kind::spice);
    auto sw = make_evaluator(m, engine_kind::software);
    const auto a = sp->forward(x), b = sw->forward(x);
    const auto bound = mon_ideal_deviation_bound(m, x, b);
    const double dv = max_hidden_diff(a, b);
    // The derivation also says that, for the same inputs, the near-ideal
    // voltages lie below the ideal ones (stage 0; later stages see different inputs).
    const double below = (a.hidden[0] - b.hidden[0]).maxCoeff();
    const double dy = max_abs_diff(a.outputs, b.outputs);
    const double scale = b.hidden.back().cwiseAbs().maxCoeff();
    std::printf(
        "[measured] ideal_diode vs ideal MON, %d stage(s): max |dv| = %.3g V (bound %.3g V), max |dy| = "
        "%.3g V (bound %.3g V), signal scale %.3g V\n",
        stages, dv, bound.hidden, dy, bound.outputs, scale);
    EXPECT_LE(dv, bound.hidden + 1e-6);
    EXPECT_LE(dy, bound.outputs + 1e-6);
    EXPECT_LE(below, 1e-6);
    EXPECT_GT(dv, 1e-5) << "the near-ideal diode's forward drop should be visible";
    // Per stage the bound is the forward drop at the largest diode current
    // (0.64 mV at 0.1 mA): below 1e-3 of the 1 V unit; a cascade adds up.
    EXPECT_LE(bound.forward_drop * m.scale.volt, 1e-3);
    EXPECT_LE(bound.hidden * m.scale.volt, 1e-3 * stages);
  }
}

// ------------------------------------------------------------ spice gradient

TEST(MonCosim, SpiceGradientMatchesTheSoftwareImplicitGradientWithShockleyDiodes) {
  for (int stages : {1, 2, 3}) {
    const auto m = ir::init_mon(4, 6, 3, stages, 81 + stages, "shockley");
    const MatrixXd x = random_inputs(4, 6, 91);
    const auto labels = random_labels(6, 3, 92);
    auto sw = make_evaluator(m, engine_kind::software);
    auto sp = make_evaluator(m, engine_kind::spice);
    const auto a = sp->gradient(x, labels), b = sw->gradient(x, labels);
    const auto d = compare_gradients(a, b);
    std::printf(
        "[measured] spice vs software gradient, shockley, %d stage(s): loss %.12g vs %.12g, worst relative "
        "deviation %.3g (%s)\n",
        stages, a.loss, b.loss, d.worst, d.where.c_str());
    EXPECT_NEAR(a.loss, b.loss, 1e-6);
    EXPECT_LE(d.worst, 1e-5) << d.where;
  }
}

TEST(MonCosim, SpiceGradientOfTheNearIdealDiodeMatchesItsExactLaw) {
  for (int stages : {1, 2}) {
    const auto m = init_near_ideal(4, 6, 3, stages, 101 + stages);
    const MatrixXd x = random_inputs(4, 6, 111);
    const auto labels = random_labels(6, 3, 112);
    auto sp = make_evaluator(m, engine_kind::spice);
    auto law = make_evaluator(exact_law(m), engine_kind::software);
    const auto d = compare_gradients(sp->gradient(x, labels), law->gradient(x, labels));
    std::printf(
        "[measured] spice vs software gradient, ideal_diode exact law, %d stage(s): worst relative deviation "
        "%.3g (%s)\n",
        stages, d.worst, d.where.c_str());
    EXPECT_LE(d.worst, 1e-5) << d.where;
  }
}

TEST(MonCosim, SpiceGradientOfTheNearIdealDiodeMatchesTheIdealMonAwayFromKinks) {
  // Samples whose ideal solution has every node either well off its diode
  // (v_j >= 0.05) or clamped with a clear current (w_j = (Gv - s)_j >= 0.05).
  // To first order the near-ideal circuit differs by (a) the forward drop
  // V_f ~ 0.65 mV shifting free nodes, relative V_f / min v_free, and (b) the
  // finite diode conductance g_d = w / (N V_T) leaving λ_j ~ G_jj / g_d of
  // the free value on clamped nodes. The gradient deviation, relative to
  // each tensor's scale, must stay within the larger of the two.
  for (int stages : {1, 2}) {
    const auto m = init_near_ideal(4, 6, 3, stages, 182 + 2 * (stages - 1));  // seeds 182, 184
    auto sw = make_evaluator(m, engine_kind::software);
    const double margin = stages == 1 ? 0.05 : 0.01, nvt = 0.001 * 0.025864917007157463;  // ideal_diode, scale volt = 1
    const auto away = samples_away_from_kinks(m, random_inputs(4, 400, 191), margin, 6);
    const MatrixXd& x = away.x;
    const double v_free_min = away.v_free_min, ratio_max = away.clamped_g_over_w * nvt;
    ASSERT_GE(x.cols(), 3) << "too few samples away from the kinks";
    const auto labels = random_labels(x.cols(), 3, 193);
    auto sp = make_evaluator(m, engine_kind::spice);
    const auto d = compare_gradients(sp->gradient(x, labels), sw->gradient(x, labels));
    const double first_order = std::max(0.66e-3 / v_free_min, ratio_max);
    std::printf(
        "[measured] spice (ideal_diode) vs ideal MON gradient away from kinks, %d stage(s), %zu samples: worst "
        "relative deviation %.3g (%s); first-order estimate %.3g\n",
        stages, static_cast<std::size_t>(x.cols()), d.worst, d.where.c_str(), first_order);
    EXPECT_LE(d.worst, first_order) << d.where;
  }
}

// The piecewise-linear diode (pwl_diode, 1e6 S forward) realises the ideal
// MON itself: forward within the bound I/g_on + g_off leak (nanovolts), and
// away from the kinks the gradient to first order G_jj/g_on ~ 1e-10 of the
// free value on clamped nodes, i.e. to ngspice's own tolerances.
TEST(MonCosim, SpiceWithThePiecewiseLinearDiodeMatchesTheIdealMon) {
  for (int stages : {1, 2}) {
    const auto m = ir::init_mon(4, 6, 3, stages, 201 + stages, "ideal");
    ASSERT_EQ(m.device("diode").name, "pwl_diode");
    auto sp = make_evaluator(m, engine_kind::spice);
    auto sw = make_evaluator(m, engine_kind::software);
    // forward on unfiltered inputs
    const MatrixXd x = random_inputs(4, 16, 211);
    const auto a = sp->forward(x), b = sw->forward(x);
    const auto bound = mon_ideal_deviation_bound(m, x, b);
    const double dv = max_hidden_diff(a, b);
    const double dy = max_abs_diff(a.outputs, b.outputs);
    std::printf("[measured] pwl_diode vs ideal MON, %d stage(s): max |dv| = %.3g V (bound %.3g V), max |dy| = %.3g V (bound %.3g V)\n",
                stages, dv, bound.hidden, dy, bound.outputs);
    EXPECT_LE(bound.hidden * m.scale.volt, 1e-7);
    EXPECT_LE(dv, bound.hidden + 1e-8);
    EXPECT_LE(dy, bound.outputs + 1e-8);
    // gradient away from the kinks (some diodes conducting: negative biases)
    auto mm = m;
    for (auto& v : mm.parameter("stage0.bias").values) v -= 0.6;
    auto sp2 = make_evaluator(mm, engine_kind::spice);
    auto sw2 = make_evaluator(mm, engine_kind::software);
    const auto away = samples_away_from_kinks(mm, random_inputs(4, 400, 213), 0.01, 6);
    ASSERT_GE(away.x.cols(), 3) << "too few samples away from the kinks";
    ASSERT_LT(away.clamped_g_over_w, 1e9) << "no diode conducts in these samples";
    const auto labels = random_labels(away.x.cols(), 3, 214);
    const auto d = compare_gradients(sp2->gradient(away.x, labels), sw2->gradient(away.x, labels));
    std::printf("[measured] pwl_diode vs ideal MON gradient away from kinks, %d stage(s): worst relative deviation %.3g (%s)\n",
                stages, d.worst, d.where.c_str());
    EXPECT_LE(d.worst, 1e-5) << d.where;
  }
}

TEST(MonCosim, SpiceGradientMatchesFiniteDifferencesThroughSpice) {
  for (int stages : {1, 2}) {
    const auto m = ir::init_mon(3, 4, 2, stages, 121 + stages, "shockley");
    const MatrixXd x = random_inputs(3, 3, 131);
    const auto labels = random_labels(3, 2, 132);
    evaluator_options fd_options;
    fd_options.fd_step = 1e-5;
    auto sp = make_evaluator(m, engine_kind::spice);
    auto fd = make_evaluator(m, engine_kind::finite_differences, fd_options);
    const auto a = sp->gradient(x, labels), b = fd->gradient(x, labels);
    const auto d = compare_gradients(a, b);
    std::printf(
        "[measured] spice vs finite differences through spice, %d stage(s): worst relative deviation %.3g "
        "(%s)\n",
        stages, d.worst, d.where.c_str());
    EXPECT_LE(d.worst, 1e-4) << d.where;
  }
}

// The nudged gradient (one more batched sweep per stage) against the
// small-signal one (an `ac` per sample and stage) on the same circuit, with
// diodes conducting and blocking; the second round nudges so hard that many
// samples change a diode's state and are redone by `ac`.
TEST(MonCosim, NudgedSpiceGradientEqualsTheSmallSignalGradient) {
  for (int stages : {1, 2}) {
    auto m = ir::init_mon(4, 6, 3, stages, 301 + stages, "ideal");
    for (auto& v : m.parameter("stage0.bias").values) v -= 0.3;
    const MatrixXd x = random_inputs(4, 24, 311);
    const auto labels = random_labels(24, 3, 312);
    evaluator_options ac_options;
    ac_options.mon_gradient = spice_gradient::small_signal;
    const auto ref = make_evaluator(m, engine_kind::spice, ac_options)->gradient(x, labels);
    for (double nudge : {1e-5, 1e-3, 0.05, 0.2}) {
      evaluator_options o;
      o.mon_gradient = spice_gradient::nudged;
      o.mon_nudge = nudge;
      o.spice_chunk = 10;  // several chunks
      auto sp = make_mon_spice_evaluator(m, o);
      ASSERT_TRUE(sp->nudged_gradient());
      const auto got = sp->gradient(x, labels);
      const auto& st = sp->last_stats();
      const auto d = compare_gradients(got, ref);
      std::printf("[measured] nudged (|dv| <= %g) vs ac gradient, %d stage(s): worst relative deviation %.3g (%s); "
                  "%zu of 24 samples redone by ac, %zu ac runs\n",
                  nudge, stages, d.worst, d.where.c_str(), st.nudged_fallbacks, st.ac_runs);
      EXPECT_LE(d.worst, 1e-6) << d.where;
      EXPECT_NEAR(got.loss, ref.loss, 1e-12);
      EXPECT_EQ(st.ac_runs, st.nudged_fallbacks * static_cast<std::size_t>(stages)) << "ac only for redone samples";
      if (nudge > 0.01) EXPECT_GT(st.nudged_fallbacks, 0u) << "a hard nudge changes some diode's state";
      if (nudge < 0.1) EXPECT_LT(st.nudged_fallbacks, 24u);
    }
  }
}

TEST(MonCosim, NudgedSpiceGradientMatchesFiniteDifferencesThroughSpice) {
  auto m = ir::init_mon(3, 4, 2, 1, 321, "ideal");
  for (auto& v : m.parameter("stage0.bias").values) v -= 0.2;
  const auto away = samples_away_from_kinks(m, random_inputs(3, 200, 331), 0.02, 3);
  ASSERT_GE(away.x.cols(), 2);
  const auto labels = random_labels(away.x.cols(), 2, 332);
  evaluator_options fd_options;
  fd_options.fd_step = 1e-5;
  auto sp = make_mon_spice_evaluator(m);
  ASSERT_TRUE(sp->nudged_gradient()) << "pwl_diode: nudged by default";
  const auto d = compare_gradients(sp->gradient(away.x, labels),
                                   make_evaluator(m, engine_kind::finite_differences, fd_options)->gradient(away.x, labels));
  std::printf("[measured] nudged spice gradient vs finite differences through spice: worst relative deviation %.3g (%s)\n",
              d.worst, d.where.c_str());
  EXPECT_LE(d.worst, 1e-4) << d.where;
}

// A Shockley diode is nudged from both sides (central difference).
TEST(MonCosim, CentrallyNudgedShockleyGradientEqualsTheSmallSignalGradient) {
  for (int stages : {1, 2}) {
    const auto m = ir::init_mon(4, 6, 3, stages, 351 + stages, "shockley");
    const MatrixXd x = random_inputs(4, 12, 361);
    const auto labels = random_labels(12, 3, 362);
    evaluator_options ac_options;
    ac_options.mon_gradient = spice_gradient::small_signal;
    const auto ref = make_evaluator(m, engine_kind::spice, ac_options)->gradient(x, labels);
    evaluator_options one;
    one.threads = 1;  // one chunk
    auto sp = make_mon_spice_evaluator(m, one);
    ASSERT_TRUE(sp->nudged_gradient()) << "shockley_diode: nudged by default";
    const auto got = sp->gradient(x, labels);
    const auto d = compare_gradients(got, ref);
    std::printf("[measured] central nudge vs ac gradient, Shockley diode, %d stage(s): worst relative deviation %.3g (%s); "
                "%zu sweeps, %zu ac runs\n",
                stages, d.worst, d.where.c_str(), sp->last_stats().sweeps, sp->last_stats().ac_runs);
    // The −β point starts 2·Δv from the +β solution, so ngspice's Newton
    // stops within its tolerance (reltol 1e-9 · |v|) of the exact point:
    // ~1e-9 · |v| / Δv ≈ 1e-6 relative (Δv ≤ 1e-5 V), plus (Δv/(N·vt))²/6 ≈ 1e-8.
    EXPECT_LE(d.worst, 1e-5) << d.where;
    EXPECT_EQ(sp->last_stats().ac_runs, 0u);
    EXPECT_EQ(sp->last_stats().sweeps, 1u + static_cast<std::size_t>(stages)) << "one forward, one ±β sweep per stage";
  }
}

// The near-ideal exponential diode (N = 0.001) bends within 26 µV: no nudge.
TEST(MonCosim, NudgedGradientIsRefusedWhereItWouldNotBeExact) {
  evaluator_options o;
  o.mon_gradient = spice_gradient::nudged;
  const auto m = init_near_ideal(3, 4, 2, 1, 341);
  try {
    make_mon_spice_evaluator(m, o);
    FAIL() << "expected an error";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("piecewise-linear"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ideal_diode"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(ac)"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(make_mon_spice_evaluator(m)->nudged_gradient()) << "auto falls back to ac";
}

// Both gradient methods. The small-signal one is a linear solve at each
// sample's own operating point, exact to rounding; the nudged one (central,
// Shockley) differs from sample to sample's start by Newton's tolerance
// (~1e-6 relative, see CentrallyNudged... above), which is what it may
// differ by between the batch and single samples.
TEST(MonCosim, BatchedSpiceGradientIsTheMeanOfPerSampleGradients) {
  const auto m = ir::init_mon(3, 5, 3, 2, 141, "shockley");
  const MatrixXd x = random_inputs(3, 5, 151);
  const auto labels = random_labels(5, 3, 152);
  for (auto [method, tolerance] : {std::pair{spice_gradient::small_signal, 1e-9}, std::pair{spice_gradient::nudged, 1e-5}}) {
    evaluator_options two;
    two.threads = 2;      // samples split over two engines
    two.spice_chunk = 2;  // and several chunks per engine
    two.mon_gradient = method;
    auto sp = make_evaluator(m, engine_kind::spice, two);
    const auto batch = sp->gradient(x, labels);
    std::map<std::string, std::vector<double>> sum;
    double loss = 0.0, scale = 0.0, input_scale = batch.inputs.cwiseAbs().maxCoeff() * static_cast<double>(x.cols());
    for (Eigen::Index b = 0; b < x.cols(); ++b) {
      const auto one = sp->gradient(x.col(b), std::span<const int>(&labels[static_cast<std::size_t>(b)], 1));
      loss += one.loss;
      for (const auto& [name, g] : one.parameters) {
        auto& s = sum[name];
        s.resize(g.size(), 0.0);
        for (std::size_t i = 0; i < g.size(); ++i) s[i] += g[i];
      }
      EXPECT_LE(max_abs_diff(one.inputs, batch.inputs.col(b) * static_cast<double>(x.cols())), tolerance * input_scale);
    }
    EXPECT_NEAR(batch.loss * x.cols(), loss, 1e-9);
    double worst = 0.0;
    for (const auto& [name, g] : batch.parameters)
      for (std::size_t i = 0; i < g.size(); ++i) {
        worst = std::max(worst, std::abs(g[i] * static_cast<double>(x.cols()) - sum.at(name)[i]));
        scale = std::max(scale, std::abs(sum.at(name)[i]));
      }
    std::printf("[measured] %s gradient: batch x B vs sum of per-sample gradients: max |diff| = %.3g (scale %.3g)\n",
                std::string(to_string(method)).c_str(), worst, scale);
    EXPECT_LE(worst, tolerance * scale);
  }
}

TEST(MonCosim, FiniteDifferencesRefuseLargeModelsWithAClearMessage) {
  const auto m = ir::init_mon(784, 100, 10, 1, 1, "ideal");
  try {
    make_evaluator(m, engine_kind::finite_differences);
    ADD_FAILURE() << "no error";
  } catch (const error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("at most 2000"), std::string::npos) << what;
    EXPECT_NE(what.find("spice engine"), std::string::npos) << what;
  }
}

// The batched deck written by `spicenn compile --data` runs in the ngspice
// program and gives the ideal MON's outputs (printed to 7 digits).
TEST(MonCosim, SweepDeckRunsInTheNgspiceProgram) {
  const auto m = ir::init_mon(3, 5, 2, 2, 221, "ideal");
  const MatrixXd x = random_inputs(3, 7, 222);
  const auto deck = mon_sweep_deck(m, x);
  const auto path = test::scratch_path("test_sweep_deck.cir");
  std::ofstream(path) << deck;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("ngspice -b " + path.string() + " 2>&1").c_str(), "r"), pclose);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe.get())) output += buffer;
  // rows "index  sweep  v(out0)  v(out1)"
  std::map<int, std::vector<double>> rows;
  std::istringstream lines(output);
  for (std::string l; std::getline(lines, l);) {
    std::istringstream in(l);
    int index;
    double sweep, y0, y1;
    if (in >> index >> sweep >> y0 >> y1) rows[index] = {y0, y1};
  }
  ASSERT_EQ(rows.size(), 7u) << output;
  const auto ref = make_evaluator(m, engine_kind::software)->forward(x);
  for (int b = 0; b < 7; ++b)
    for (int o = 0; o < 2; ++o)
      EXPECT_NEAR(rows[b][static_cast<std::size_t>(o)], ref.outputs(o, b), 1e-5 * std::abs(ref.outputs(o, b)) + 1e-6)
          << "sample " << b << ", output " << o;
  std::filesystem::remove(path);
}

// The activation deck runs unchanged in the ngspice program and prints the
// curve the embedded engine read.
TEST(MonCosim, ActivationDeckRunsInTheNgspiceProgram) {
  const auto m = ir::init_mon(1, 1, 1, 1, 1, "shockley");
  const auto deck = compiler::compile_mon_activation(m, 0.5, -1.0, 1.0, 11, compiler::mon_precise_simulator_options());
  const auto path = test::scratch_path("test_activation_deck.cir");
  std::ofstream(path) << deck.text;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(("ngspice -b " + path.string() + " 2>&1").c_str(), "r"), pclose);
  std::string output;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe.get())) output += buffer;
  std::map<int, double> rows;  // "index  sweep  v(n)"
  std::istringstream lines(output);
  for (std::string l; std::getline(lines, l);) {
    std::istringstream in(l);
    int index;
    double sweep, v;
    if (in >> index >> sweep >> v) rows[index] = v;
  }
  mon_activation_options o;
  o.conductance = 0.5;
  o.points = 11;
  const auto a = mon_activation_curves(m, o);
  ASSERT_EQ(rows.size(), a.spice.size()) << output;
  for (std::size_t i = 0; i < a.spice.size(); ++i)
    EXPECT_NEAR(rows[static_cast<int>(i)], a.spice[i], 2e-6 * std::abs(a.spice[i]) + 1e-9) << i;  // printed to 6 digits
  std::filesystem::remove(path);
}

// ------------------------------------------------------------ realisability

std::string warnings_text(const ir::model& m) {
  std::string out;
  for (const auto& w : realisability_warnings(m)) out += to_text(w) + "\n";
  return out;
}

// A fresh MON draws no warning; each way out of the regime where the
// circuit implements the model draws one naming the tensor and index.
TEST(MonRealisability, WarningsNameTheTensorIndexAndDeviation) {
  const auto good = ir::init_mon(3, 6, 2, 1, 401, "ideal");
  EXPECT_EQ(warnings_text(good), "");

  // Readout weights ~1e6: 0.01-ohm resistors, largest |C| at [1, 4].
  auto big = good;
  auto& c = big.parameter("readout.weight").values;
  for (auto& v : c) v *= 1e6;
  c[1 * 6 + 4] = 5e6;
  auto text = warnings_text(big);
  EXPECT_NE(text.find("readout.weight[1, 4]: resistor 0.002 ohm"), std::string::npos) << text;
  EXPECT_NE(text.find("below 1 ohm"), std::string::npos) << text;

  // A conductance of 1e-9 units (1e-13 S): a 1e13-ohm resistor.
  auto faint = good;
  faint.parameter("stage0.g_ground").values[3] = 1e-9;
  text = warnings_text(faint);
  EXPECT_NE(text.find("stage0.g_ground[3]: resistor 1e+13 ohm"), std::string::npos) << text;

  // The exponential ideal_diode's forward drop (~0.6 mV) against the ideal
  // ReLU: the bound exceeds 1e-3 of the outputs, and SPICE does deviate by
  // more than that, within the bound.
  auto drop = good;
  drop.devices = {{"diode", "ideal_diode", ""}};
  text = warnings_text(drop);
  EXPECT_NE(text.find("warning: readout.weight["), std::string::npos) << text;
  EXPECT_NE(text.find("the diode clamp of ideal_diode deviates from the ideal ReLU"), std::string::npos) << text;
  const MatrixXd x = random_inputs(3, 16, 402);
  const auto sp = make_evaluator(drop, engine_kind::spice)->forward(x);
  const auto sw = make_evaluator(drop, engine_kind::software)->forward(x);
  const double scale = sw.outputs.cwiseAbs().maxCoeff();
  EXPECT_GT(max_abs_diff(sp.outputs, sw.outputs), 1e-3 * scale);
  evaluation ideal = sw;
  EXPECT_LE(max_abs_diff(sp.outputs, sw.outputs), mon_ideal_deviation_bound(drop, x, ideal).outputs);

  // Currents of ~1e-14 A: ngspice's abstol (1e-15 A) is 10 % of them.
  auto tiny = good;
  tiny.scale = tiny.scale.with_volt_ampere(tiny.scale.volt, 1e-14);
  text = warnings_text(tiny);
  EXPECT_NE(text.find("warning: stage0: node currents of ~"), std::string::npos) << text;
  EXPECT_NE(text.find("abstol"), std::string::npos) << text;
}

// ------------------------------------------------------------ verify

TEST(MonCosim, VerifyPassesOnGoodModelsOfEveryDiodeKind) {
  for (const char* device : {"shockley_diode", "pwl_diode", "ideal_diode"}) {
    const std::string dev = device;
    auto m = ir::init_mon(3, 5, 3, 2, 161, dev == "shockley_diode" ? "shockley" : "ideal");
    m.devices = {{"diode", dev, ""}};
    verify_options o;
    o.samples = 6;
    const auto r = verify_mon(m, o);
    EXPECT_TRUE(r.passed) << to_text(r);
    std::size_t judged = 0;
    for (const auto& c : r.checks) judged += c.judged ? 1 : 0;
    // Against one software model: outputs, 2 hidden, loss, 10 + 2 gradient tensors, inputs (17).
    // shockley_diode: its exact law. pwl_diode: the ideal MON. ideal_diode: its exact law, plus
    // outputs and 2 hidden against the ideal MON within the forward-drop bound.
    EXPECT_EQ(judged, dev == "ideal_diode" ? 20u : 17u) << to_text(r);
    std::printf("%s", to_text(r).c_str());
  }
}

// A spline fitted to the builtin Shockley diode's I-V curve, written as a
// library (the path of a user's measured diode through `fit-device`).
std::filesystem::path fitted_shockley_library(const std::filesystem::path& dir) {
  const auto& diode = devices::builtin_devices().get("shockley_diode");
  devices::iv_data iv;
  for (int k = 0; k <= 250; ++k) {
    const double v = -0.5 + 0.005 * k;
    iv.voltage.push_back(v);
    iv.current.push_back(diode.current(v));
    iv.line.push_back(static_cast<std::size_t>(k + 1));
  }
  iv.source = "shockley_diode sweep";
  auto fitted = devices::fit_device(iv, "shockley_fit", {.method = devices::fit_method::spline, .spline_knots = 100});
  std::filesystem::create_directories(dir);
  const auto file = dir / "shockley_fit.lib";
  devices::write_fitted_library(fitted, file);
  return file;
}

// A MON whose diode is that fitted library device: the software model uses
// the fitted law (option diode = device) and SPICE the fitted subcircuit.
// verify judges every check (outputs, hidden state, loss, every gradient)
// and passes; the SPICE gradient matches finite differences through SPICE.
TEST(MonCosim, AFittedDiodeMonMatchesItsSoftwareLawAndFiniteDifferencesThroughSpice) {
  const auto dir = test::scratch_path("fitted_diode_mon");
  const auto lib = fitted_shockley_library(dir);
  auto with_fit = [&](ir::model m) {
    m.options["diode"] = "device";
    m.devices = {{"diode", "shockley_fit", lib.string()}};
    return m;
  };
  const auto m = with_fit(ir::init_mon(3, 5, 3, 2, 191, "ideal"));
  verify_options o;
  o.samples = 6;
  const auto r = verify_mon(m, o);
  EXPECT_TRUE(r.passed) << to_text(r);
  // outputs, 2 hidden, loss, 10 + 2 gradient tensors, inputs.
  EXPECT_EQ(r.judged(), 17u) << to_text(r);
  std::printf("%s", to_text(r).c_str());
  // Some diodes are forward biased past 0.1 V (where the ideal clamp would
  // hold 0 V): the fitted law, not the clamp, sets those nodes.
  const auto net = models::mon_network::from_model(m);
  const auto f = models::mon_forward(net, random_inputs(3, 6, 192), {}, false);
  EXPECT_LT(f.stages[0].v.minCoeff(), -0.1);

  const auto small = with_fit(ir::init_mon(3, 4, 2, 1, 193, "ideal"));
  const MatrixXd x = random_inputs(3, 3, 194);
  const auto labels = random_labels(3, 2, 195);
  evaluator_options fd_options;
  fd_options.fd_step = 1e-5;
  const auto a = make_evaluator(small, engine_kind::spice)->gradient(x, labels);
  const auto b = make_evaluator(small, engine_kind::finite_differences, fd_options)->gradient(x, labels);
  const auto d = compare_gradients(a, b);
  std::printf("[measured] fitted-diode MON, spice vs finite differences through spice: worst relative deviation %.3g (%s)\n",
              d.worst, d.where.c_str());
  EXPECT_LE(d.worst, 1e-4) << d.where;
  std::filesystem::remove_all(dir);
}

// The activation figure's curves (one node of conductance g, the diode from
// ground, an injected current s): the Shockley law's node voltage satisfies
// the node's KCL with the diode current evaluated here, and ngspice follows
// it to 1 uV; the fitted library device's software curve and ngspice agree
// to 1e-9 V; pwl_diode's is the ideal clamp max(s/g, 0) within its forward
// drop s/g_on.
TEST(MonCosim, ActivationCurvesFollowEachDiodeLaw) {
  mon_activation_options o;
  o.conductance = 0.5;
  o.lo = -1.0;
  o.hi = 1.0;
  o.points = 41;
  auto m = ir::init_mon(1, 1, 1, 1, 1, "shockley");
  const auto a = mon_activation_curves(m, o);
  ASSERT_EQ(a.current.size(), 41u);
  const auto& d = devices::builtin_devices().get("shockley_diode");
  for (std::size_t i = 0; i < a.current.size(); ++i) {
    const double s = a.current[i], v = a.software[i];
    const double diode = d.current(-v * m.scale.volt) / m.scale.ampere;  // into the node
    EXPECT_NEAR(o.conductance * v - s - diode, 0.0, 1e-12 * (std::abs(o.conductance * v) + std::abs(s) + std::abs(diode)))
        << s;
  }
  EXPECT_LE(a.deviation, 1e-6);
  EXPECT_LT(a.software.front(), -0.3);  // forward biased: the soft knee of the diode ReLU
  // Reverse biased: the ideal line, less the saturation current.
  const double is = d.shockley()->is / m.scale.ampere;
  EXPECT_NEAR(a.software.back(), (1.0 - is) / o.conductance, 1e-9);

  const auto dir = test::scratch_path("activation");
  m.options["diode"] = "device";
  m.devices = {{"diode", "shockley_fit", fitted_shockley_library(dir).string()}};
  EXPECT_LE(mon_activation_curves(m, o).deviation, 1e-9);
  std::filesystem::remove_all(dir);

  m.options["diode"] = "ideal";
  m.devices = {{"diode", "pwl_diode", ""}};
  const auto p = mon_activation_curves(m, o);
  // Within the forward drop s/g_on and the reverse leak g_off·v/g.
  const auto pwl = *devices::builtin_devices().get("pwl_diode").piecewise_linear();
  const double g_on = pwl.g_on * m.scale.ohm, g_off = pwl.g_off * m.scale.ohm;
  for (std::size_t i = 0; i < p.current.size(); ++i) {
    EXPECT_EQ(p.software[i], p.ideal[i]);
    EXPECT_NEAR(p.spice[i], p.ideal[i], std::abs(p.current[i]) / g_on + 1.01 * g_off * p.ideal[i] / o.conductance + 1e-12)
        << p.current[i];
  }
}

// A diode from a SPICE library that `fit-device` did not write: spicenn
// cannot read its law, so there is no reference to judge the circuit
// against, and verify must say so instead of passing on zero checks.
TEST(MonCosim, VerifyDoesNotPassWhenNothingCanBeChecked) {
  const auto dir = test::scratch_path("verify_nothing");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "vendor_diode.lib") << "* a vendor's diode model\n"
                                              ".subckt vendor_diode a c\n"
                                              "d1 a c dvendor\n"
                                              ".model dvendor d(is=1e-12 n=1.5 rs=10)\n"
                                              ".ends vendor_diode\n";
  auto m = ir::init_mon(2, 5, 2, 1, 181, "ideal");
  m.devices = {{"diode", "vendor_diode", (dir / "vendor_diode.lib").string()}};
  verify_options o;
  o.samples = 3;
  const auto r = verify_mon(m, o);
  EXPECT_EQ(r.judged(), 0u) << to_text(r);
  EXPECT_FALSE(r.passed) << to_text(r);
  EXPECT_NE(to_text(r).find("NOT VERIFIED"), std::string::npos) << to_text(r);
  std::filesystem::remove_all(dir);
}

TEST(MonCosim, VerifyFailsWhenTheCircuitDiffersFromTheSoftwareModel) {
  const auto m = ir::init_mon(3, 5, 3, 2, 171, "shockley");
  verify_options o;
  o.samples = 6;
  // A 1 % error in one grounding resistor of stage 1.
  auto broken = m;
  broken.parameter("stage1.g_ground").values[2] *= 1.01;
  const auto r = verify_mon(m, broken, o);
  EXPECT_FALSE(r.passed) << to_text(r);
  bool hidden1 = false, stage0_ok = false;
  for (const auto& c : r.checks) {
    if (c.quantity == "hidden stage 1") hidden1 = !c.passed;
    if (c.quantity == "hidden stage 0") stage0_ok = c.passed;
  }
  EXPECT_TRUE(hidden1) << to_text(r);
  EXPECT_TRUE(stage0_ok) << to_text(r);
  // A readout weight off by 1 %: outputs fail, the hidden state does not.
  auto readout = m;
  readout.parameter("readout.weight").values[4] *= 1.01;
  const auto r2 = verify_mon(m, readout, o);
  EXPECT_FALSE(r2.passed) << to_text(r2);
  for (const auto& c : r2.checks) {
    if (c.quantity == "outputs") {
      EXPECT_FALSE(c.passed) << to_text(r2);
    }
    if (c.quantity.rfind("hidden", 0) == 0) {
      EXPECT_TRUE(c.passed) << to_text(r2);
    }
  }
}

}  // namespace
}  // namespace spicenn::cosim
