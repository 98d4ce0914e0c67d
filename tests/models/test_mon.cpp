// MON software model: equilibrium against independent computations
// (brute-force LCP, ReLU fixed point, a plain Newton), gradients against
// central finite differences, batching, validation errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "devices/builtin.hpp"
#include "devices/device.hpp"
#include "devices/fit.hpp"
#include "models/loss.hpp"
#include "ir/prune.hpp"
#include "models/mon.hpp"
#include "models/mon_kernels.hpp"
#include "models/mon_equilibrium.hpp"
#include "mon_test_util.hpp"

namespace spicenn::models {
namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;
using test::make_model;
using test::mon_spec;
using test::random_inputs;

const devices::shockley_parameters kSoft = test::soft_diode();

const devices::shockley_parameters* diode_for(const ir::model& m) {
  return m.options.at("diode") == "shockley" ? &kSoft : nullptr;
}

// A natural cubic regression spline fitted to the soft diode's curve: a
// device whose law is only its I-V curve (option diode = device).
std::shared_ptr<const devices::device> fitted_soft_diode() {
  static const std::shared_ptr<const devices::device> d = [] {
    devices::iv_data iv;
    for (int k = 0; k <= 130; ++k) {
      const double v = -0.5 + 0.01 * k;
      iv.voltage.push_back(v);
      iv.current.push_back(kSoft.is * std::expm1(v / (kSoft.n * kSoft.vt)));
      iv.line.push_back(static_cast<std::size_t>(k + 1));
    }
    iv.source = "soft diode";
    return std::make_shared<devices::fitted_device>(
        devices::fit_device(iv, "fitted_soft", {.method = devices::fit_method::spline}));
  }();
  return d;
}

mon_network build(const ir::model& m) {
  if (m.options.at("diode") == "device") return mon_network::from_model(m, fitted_soft_diode());
  return mon_network::from_model(m, diode_for(m));
}

mon_options single_thread() {
  mon_options o;
  o.threads = 1;
  return o;
}

// Independent KKT check of an ideal-diode equilibrium.
void expect_kkt(const MatrixXd& G, const VectorXd& s, const VectorXd& v, double tol) {
  const VectorXd w = G * v - s;
  const double vs = std::max(1.0, v.cwiseAbs().maxCoeff());
  const double ws = std::max(1.0, (G.cwiseAbs() * v.cwiseAbs() + s.cwiseAbs()).maxCoeff());
  for (Index j = 0; j < v.size(); ++j) {
    EXPECT_GE(v[j], -tol * vs) << "node " << j;
    EXPECT_GE(w[j], -tol * ws) << "node " << j;
    EXPECT_LE(std::min(std::abs(v[j]) / vs, std::abs(w[j]) / ws), tol) << "complementarity at node " << j;
  }
}

// ------------------------------------------------------------------ ideal equilibrium

TEST(MonEquilibrium, IdealMatchesBruteForceAndKkt) {
  int clamped = 0, free_nodes = 0;
  for (std::uint64_t seed = 1; seed <= 25; ++seed) {
    mon_spec sp;
    sp.hidden = 7;
    sp.coupling = seed % 3 == 0 ? 4.0 : 1.0;  // strong coupling: the unconstrained start is often wrong
    const auto m = make_model(sp, seed);
    const auto net = build(m);
    const MatrixXd x = random_inputs(sp.inputs, 6, 100 + seed);
    for (auto ws : {mon_warm_start::unconstrained, mon_warm_start::peaceman_rachford}) {
      auto opt = single_thread();
      opt.warm_start = ws;
      const auto f = mon_forward(net, x, opt, false);
      for (Index b = 0; b < x.cols(); ++b) {
        MatrixXd G;
        VectorXd s;
        test::reference_system(m, 0, x.col(b), G, s);
        ASSERT_LE((G - net.stages[0].G).cwiseAbs().maxCoeff(), 1e-14 * G.cwiseAbs().maxCoeff());
        const VectorXd v = f.stages[0].v.col(b);
        const VectorXd ref = test::brute_force_lcp(G, s);
        EXPECT_LE((v - ref).cwiseAbs().maxCoeff(), 1e-12 * std::max(1.0, ref.cwiseAbs().maxCoeff()))
            << "seed " << seed << " sample " << b;
        expect_kkt(G, s, v, 1e-12);
        EXPECT_LE(f.stages[0].reports[b].residual, 1e-12);
        EXPECT_GE(f.stages[0].reports[b].iterations, 1);
        for (Index j = 0; j < v.size(); ++j) (v[j] > 0 ? free_nodes : clamped)++;
      }
    }
  }
  // The cases must exercise both diode states.
  EXPECT_GT(clamped, 200);
  EXPECT_GT(free_nodes, 200);
}

TEST(MonEquilibrium, IdealIsTheReluFixedPointForAnyStep) {
  mon_spec sp;
  sp.hidden = 30;
  sp.inputs = 10;
  const auto m = make_model(sp, 11);
  const auto net = build(m);
  const MatrixXd x = random_inputs(sp.inputs, 20, 12);
  const auto f = mon_forward(net, x, single_thread(), false);
  const MatrixXd& G = net.stages[0].G;
  const double lmax = Eigen::SelfAdjointEigenSolver<MatrixXd>(G).eigenvalues().maxCoeff();
  for (Index b = 0; b < x.cols(); ++b) {
    MatrixXd Gr;
    VectorXd s;
    test::reference_system(m, 0, x.col(b), Gr, s);
    const VectorXd v = f.stages[0].v.col(b);
    for (double a : {0.01, 0.5, 1.0, 1.9, 10.0, 1000.0}) {
      const double alpha = a / lmax;
      // v = ReLU((I − αG) v + α s)
      const VectorXd z = v - alpha * (Gr * v) + alpha * s;
      const VectorXd relu = z.cwiseMax(0.0);
      const double scale = std::max(1.0, z.cwiseAbs().maxCoeff());
      EXPECT_LE((relu - v).cwiseAbs().maxCoeff(), 1e-12 * scale) << "alpha " << alpha << " sample " << b;
    }
  }
}

TEST(MonEquilibrium, SingleSampleSolverPathsAgree) {
  mon_spec sp;
  sp.hidden = 12;
  sp.coupling = 3.0;
  int fallbacks = 0;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    const auto m = make_model(sp, seed);
    const auto net = build(m);
    const auto& st = net.stages[0];
    const MatrixXd x = random_inputs(sp.inputs, 5, 50 + seed);
    const MatrixXd S = st.sources(x);
    for (Index b = 0; b < x.cols(); ++b) {
      const VectorXd s = S.col(b);
      const VectorXd ref = test::brute_force_lcp(st.G, s);
      const double tol = 1e-12 * std::max(1.0, ref.cwiseAbs().maxCoeff());
      std::vector<std::uint8_t> all(12, 1), none(12, 0), alternate(12);
      for (int j = 0; j < 12; ++j) alternate[j] = j % 2;
      mon_ideal_solver plain(st.G);                        // free side only
      mon_ideal_solver with_inverse(st.G, &st.G_inverse);  // chooses the smaller side
      mon_solver_settings impatient;
      impatient.active_set_restart = 1;  // forces the monotone restart
      mon_ideal_solver restart(st.G, &st.G_inverse, impatient);
      VectorXd v(12);
      for (auto* solver : {&plain, &with_inverse, &restart}) {
        for (auto guess : {std::span<const std::uint8_t>{}, std::span<const std::uint8_t>(all),
                           std::span<const std::uint8_t>(none), std::span<const std::uint8_t>(alternate)}) {
          const auto rep = solver->solve(s, v, guess);
          EXPECT_TRUE(rep.converged);
          EXPECT_LE(rep.residual, 1e-12);
          EXPECT_LE((v - ref).cwiseAbs().maxCoeff(), tol);
          EXPECT_LE(rep.iterations, 12 + 2);
          if (solver == &restart && rep.fallback) ++fallbacks;
        }
        const auto rep = solver->solve(s, v, {}, mon_ideal_solver::start::monotone);
        EXPECT_TRUE(rep.converged);
        EXPECT_LE((v - ref).cwiseAbs().maxCoeff(), tol);
        EXPECT_EQ(mon_ideal_residual(st.G, s, v) <= 1e-12, true);
      }
    }
  }
  EXPECT_GT(fallbacks, 10);  // the restart path was exercised
}

TEST(MonEquilibrium, LargeRandomNetworksConverge) {
  struct variant {
    double bias_lo, bias_hi, coupling;
  };
  for (auto [lo, hi, coupling] :
       {variant{-1.0, 0.2, 1.0}, variant{-0.5, 0.5, 5.0}, variant{-0.2, 1.0, 2.0}, variant{-2.0, 0.1, 10.0}}) {
    mon_spec sp;
    sp.inputs = 50;
    sp.hidden = 100;
    sp.outputs = 10;
    sp.bias_lo = lo;
    sp.bias_hi = hi;
    sp.coupling = coupling;
    sp.density = 0.3;
    const auto m = make_model(sp, 77);
    const auto net = build(m);
    const MatrixXd x = random_inputs(sp.inputs, 40, 78);
    for (auto ws : {mon_warm_start::unconstrained, mon_warm_start::peaceman_rachford}) {
      auto opt = single_thread();
      opt.warm_start = ws;
      const auto f = mon_forward(net, x, opt, true);
      EXPECT_TRUE(f.converged());
      EXPECT_LE(f.max_residual(), 1e-12);
      EXPECT_GE(f.mean_iterations(), 1.0);
      EXPECT_LE(f.max_iterations(), 100 + 12 + 2);
      // Same answer as the free-side-only solver started from scratch.
      const auto& st = net.stages[0];
      const MatrixXd S = st.sources(x);
      mon_ideal_solver plain(st.G);
      VectorXd v(100);
      double free_count = 0;
      for (Index b = 0; b < x.cols(); ++b) {
        plain.solve(S.col(b), v);
        EXPECT_LE((v - f.stages[0].v.col(b)).cwiseAbs().maxCoeff(), 1e-11 * std::max(1.0, v.cwiseAbs().maxCoeff()));
        free_count += static_cast<double>((v.array() > 0).count());
      }
      RecordProperty("free_fraction", std::to_string(free_count / 4000.0));
      std::printf(
          "bias [%g, %g] coupling %g warm start %s: free fraction %.2f, iterations mean %.2f max %d, "
          "residual %.2e, fallbacks %d\n",
          lo, hi, coupling, ws == mon_warm_start::unconstrained ? "unconstrained" : "PR", free_count / 4000.0,
          f.mean_iterations(), f.max_iterations(), f.max_residual(), f.fallbacks());
    }
  }
}

TEST(MonEquilibrium, IllConditionedNetworksStillReachTheTolerance) {
  // Weak paths to ground and to the inputs, strong coupling: cond(G) ~ 1e6,
  // so steps through G⁻¹ lose digits and the free-side polish must restore them.
  mon_spec sp;
  sp.inputs = 5;
  sp.hidden = 60;
  sp.coupling = 30.0;
  sp.density = 0.2;
  sp.ground = 1e-6;
  sp.density = 0.05;  // sparse coupling: clusters with their own voltages
  auto m = make_model(sp, 91);
  for (auto* name : {"stage0.h_pos", "stage0.h_neg"})
    for (auto& h : test::tensor_of(m, name).values) h *= 1e-4;
  auto& gg = test::tensor_of(m, "stage0.g_ground").values;
  for (std::size_t j = 0; j < gg.size(); j += 3) gg[j] = 1.0;  // some nodes well grounded
  const auto net = build(m);
  const Eigen::VectorXd ev = Eigen::SelfAdjointEigenSolver<MatrixXd>(net.stages[0].G).eigenvalues();
  const double cond = ev.maxCoeff() / ev.minCoeff();
  EXPECT_GT(cond, 1e5);
  const MatrixXd x = random_inputs(sp.inputs, 30, 92);
  const auto f = mon_forward(net, x, single_thread(), true);
  EXPECT_LE(f.max_residual(), 1e-12);
  const MatrixXd S = net.stages[0].sources(x);
  mon_ideal_solver plain(net.stages[0].G);
  VectorXd v(sp.hidden);
  for (Index b = 0; b < x.cols(); ++b) {
    const auto rep = plain.solve(S.col(b), v);
    EXPECT_LE(rep.residual, 1e-12);
    EXPECT_LE(mon_ideal_residual(net.stages[0].G, S.col(b), f.stages[0].v.col(b)), 1e-12);
    EXPECT_LE((v - f.stages[0].v.col(b)).cwiseAbs().maxCoeff(), 1e-8 * std::max(1.0, v.cwiseAbs().maxCoeff()));
  }
  const double free_fraction = (f.stages[0].v.array() > 0).cast<double>().mean();
  EXPECT_GT(free_fraction, 0.2);
  EXPECT_LT(free_fraction, 0.8);
  std::printf("cond(G) = %.2e: free fraction %.2f, iterations mean %.2f max %d, residual %.2e\n", cond, free_fraction,
              f.mean_iterations(), f.max_iterations(), f.max_residual());
}

TEST(MonEquilibrium, PolishRestoresFullAccuracy) {
  mon_spec sp;
  sp.hidden = 30;
  const auto net = build(make_model(sp, 93));
  const auto& st = net.stages[0];
  const MatrixXd S = st.sources(random_inputs(sp.inputs, 5, 94));
  mon_ideal_solver solver(st.G, &st.G_inverse);
  rng r(95);
  for (Index b = 0; b < S.cols(); ++b) {
    VectorXd ref(sp.hidden), v(sp.hidden);
    solver.solve(S.col(b), ref);
    v = ref;
    for (Index j = 0; j < v.size(); ++j)
      if (v[j] > 0) v[j] *= 1.0 + 1e-7 * r.uniform(-1.0, 1.0);  // a few digits lost, same free set
    EXPECT_GT(mon_ideal_residual(st.G, S.col(b), v), 1e-10);
    const auto rep = solver.polish(S.col(b), v);
    EXPECT_TRUE(rep.converged);
    EXPECT_LE(rep.residual, 1e-12);
    EXPECT_LE((v - ref).cwiseAbs().maxCoeff(), 1e-13 * std::max(1.0, ref.cwiseAbs().maxCoeff()));
  }
}

TEST(MonEquilibrium, IterationsAreCountedPerSample) {
  // Strong coupling: clamping a node raises its neighbours, so {G⁻¹s > 0}
  // misses nodes and more than one step is needed somewhere.
  mon_spec sp;
  sp.hidden = 40;
  sp.inputs = 10;
  sp.coupling = 20.0;
  sp.density = 0.5;
  sp.ground = 0.01;
  sp.bias_lo = -1.0;
  sp.bias_hi = 0.3;
  const auto net = build(make_model(sp, 5));
  const MatrixXd x = random_inputs(sp.inputs, 30, 6);
  auto opt = single_thread();
  opt.warm_start = mon_warm_start::unconstrained;
  const auto f = mon_forward(net, x, opt, false);
  EXPECT_GT(f.max_iterations(), 1);
  int total = 0;
  for (const auto& r : f.stages[0].reports) {
    EXPECT_GE(r.iterations, 1);
    total += r.iterations;
  }
  EXPECT_DOUBLE_EQ(f.mean_iterations(), total / 30.0);
  EXPECT_LE(f.max_residual(), 1e-12);
}

// ------------------------------------------------------------------ Shockley equilibrium

// Plain Newton on KCL with SPICE-style junction voltage limiting (steps of at
// most 2·vt), dense LU, from v = 0: independent of the library's solver.
VectorXd plain_newton(const MatrixXd& G, const VectorXd& s, double is, double vt) {
  VectorXd v = VectorXd::Zero(s.size());
  for (int it = 0; it < 2000; ++it) {
    VectorXd f(s.size());
    MatrixXd J = G;
    for (Index j = 0; j < v.size(); ++j) {
      const double e = std::exp(-v[j] / vt);
      f[j] = (G.row(j) * v)(0) - s[j] - is * (e - 1.0);
      J(j, j) += is / vt * e;
    }
    VectorXd step = -J.fullPivLu().solve(f);
    for (Index j = 0; j < v.size(); ++j) step[j] = std::clamp(step[j], -2.0 * vt, 2.0 * vt);
    v += step;
    if (step.cwiseAbs().maxCoeff() < 1e-15 * std::max(1.0, v.cwiseAbs().maxCoeff())) break;
  }
  return v;
}

TEST(MonShockley, SatisfiesKclAndMatchesPlainNewton) {
  const double is = kSoft.is / 1e-4, vt = kSoft.n * kSoft.vt;  // normalized (volt 1, ampere 1e-4)
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    mon_spec sp;
    sp.hidden = 8;
    sp.diode = "shockley";
    sp.coupling = seed % 2 ? 1.0 : 4.0;
    const auto m = make_model(sp, seed);
    const auto net = build(m);
    EXPECT_DOUBLE_EQ(net.law.is, is);
    EXPECT_DOUBLE_EQ(net.law.vt, vt);
    const MatrixXd x = random_inputs(sp.inputs, 6, 200 + seed);
    const auto f = mon_forward(net, x, single_thread(), false);
    int negative = 0;
    for (Index b = 0; b < x.cols(); ++b) {
      MatrixXd G;
      VectorXd s;
      test::reference_system(m, 0, x.col(b), G, s);
      const VectorXd v = f.stages[0].v.col(b);
      // KCL, evaluated here from the diode equation.
      for (Index j = 0; j < v.size(); ++j) {
        const double i = is * (std::exp(-v[j] / vt) - 1.0);
        const double kcl = (G.row(j) * v)(0) - s[j] - i;
        const double scale = (G.row(j).cwiseAbs() * v.cwiseAbs())(0) + std::abs(s[j]) + std::abs(i);
        EXPECT_LE(std::abs(kcl), 1e-12 * scale) << "seed " << seed << " sample " << b << " node " << j;
        negative += v[j] < 0;
      }
      EXPECT_LE(f.stages[0].reports[b].residual, 1e-12);
      EXPECT_GE(f.stages[0].reports[b].iterations, 1);
      const VectorXd ref = plain_newton(G, s, is, vt);
      EXPECT_LE((v - ref).cwiseAbs().maxCoeff(), 1e-11 * std::max(1.0, ref.cwiseAbs().maxCoeff()));
    }
    EXPECT_GT(negative, 0);  // some diodes conduct
  }
}

TEST(MonShockley, LargeNetworksConvergeWithStiffDiodes) {
  // The builtin shockley_diode (is = 2.52 nA, n = 1.752) and a near-ideal one.
  for (auto params :
       {devices::shockley_parameters{2.52e-9, 1.752, 0.025852}, devices::shockley_parameters{1e-15, 0.001, 0.025852}}) {
    mon_spec sp;
    sp.inputs = 30;
    sp.hidden = 100;
    sp.diode = "shockley";
    sp.density = 0.3;
    sp.coupling = 3.0;
    const auto m = make_model(sp, 9);
    const auto net = mon_network::from_model(m, &params);
    const MatrixXd x = random_inputs(sp.inputs, 10, 10);
    const auto f = mon_forward(net, x, single_thread(), false);
    EXPECT_TRUE(f.converged());
    EXPECT_LE(f.max_residual(), 1e-12);
    for (Index b = 0; b < x.cols(); ++b)
      EXPECT_LE(mon_law_residual(net.stages[0].G, net.stages[0].sources(x.col(b)), net.law, f.stages[0].v.col(b)), 1e-12);
    std::printf("Shockley is=%g n=%g: Newton+active-set iterations mean %.2f max %d\n", params.is, params.n, f.mean_iterations(),
                f.max_iterations());
  }
}

TEST(MonShockley, ApproachesIdealDiodesAsTheyBecomeIdeal) {
  mon_spec sp;
  sp.hidden = 10;
  auto m = make_model(sp, 3);
  const MatrixXd x = random_inputs(sp.inputs, 5, 4);
  const auto ideal = mon_forward(build(m), x, single_thread(), false);
  m.options["diode"] = "shockley";
  double previous = 1e300;
  for (double n : {0.1, 0.01, 0.001}) {
    const devices::shockley_parameters p{1e-15, n, 0.025852};
    const auto f = mon_forward(mon_network::from_model(m, &p), x, single_thread(), false);
    const double diff = (f.stages[0].v - ideal.stages[0].v).cwiseAbs().maxCoeff();
    EXPECT_LT(diff, previous);
    previous = diff;
  }
  EXPECT_LT(previous, 1e-3);
}

// ------------------------------------------------------------------ gradients

// Loss of the whole batch (sum over samples) and the free-node pattern.
double batch_loss(const ir::model& m, const MatrixXd& x, const std::vector<int>& labels,
                  std::vector<std::uint8_t>* pattern = nullptr) {
  const auto f = mon_forward(build(m), x, single_thread(), false);
  if (pattern) {
    pattern->clear();
    for (const auto& st : f.stages)
      for (Index i = 0; i < st.v.size(); ++i) pattern->push_back(st.v.data()[i] > 0.0);
  }
  return softmax_cross_entropy(f.y, labels, nullptr, reduction::sum);
}

// Samples (columns of candidates) whose every node is clearly on one side of
// its diode (ideal): min_j max(v_j/‖v‖, w_j/r_j) > margin in every stage.
MatrixXd clear_samples(const mon_network& net, const MatrixXd& candidates, Index want, double margin) {
  const auto f = mon_forward(net, candidates, single_thread(), false);
  std::vector<Index> keep;
  for (Index b = 0; b < candidates.cols() && static_cast<Index>(keep.size()) < want; ++b) {
    double worst = 1.0;
    for (std::size_t s = 0; s < net.stages.size(); ++s) {
      const auto& st = net.stages[s];
      const VectorXd xs = s == 0 ? VectorXd(candidates.col(b)) : VectorXd(f.stages[s - 1].v.col(b));
      const VectorXd src = st.sources(xs);
      const VectorXd v = f.stages[s].v.col(b);
      const VectorXd w = st.G * v - src;
      const VectorXd r = st.G.cwiseAbs() * v.cwiseAbs() + src.cwiseAbs();
      const double vmax = v.cwiseAbs().maxCoeff();
      for (Index j = 0; j < v.size(); ++j) worst = std::min(worst, std::max(v[j] / vmax, w[j] / r[j]));
    }
    if (worst > margin) keep.push_back(b);
  }
  EXPECT_EQ(static_cast<Index>(keep.size()), want) << "not enough clear samples";
  MatrixXd out(candidates.rows(), static_cast<Index>(keep.size()));
  for (std::size_t i = 0; i < keep.size(); ++i) out.col(static_cast<Index>(i)) = candidates.col(keep[i]);
  return out;
}

void check_gradients(const ir::model& base, const MatrixXd& x, const std::vector<int>& labels) {
  const bool ideal = base.options.at("diode") == "ideal";
  const auto net = build(base);
  const auto f = mon_forward(net, x, single_thread(), true);
  MatrixXd dy;
  softmax_cross_entropy(f.y, labels, &dy, reduction::sum);
  const auto g = mon_backward(net, f, dy, single_thread(), true);
  std::vector<std::uint8_t> pattern0, pattern;
  batch_loss(base, x, labels, &pattern0);

  ASSERT_EQ(g.parameters.size(), base.parameters.size());
  int checked = 0, skipped = 0;
  auto compare = [&](double fd, double an, const std::string& what) {
    EXPECT_NEAR(fd, an, 1e-7 + 1e-6 * std::abs(an)) << what;
    ++checked;
  };
  for (const auto& t : base.parameters) {
    ASSERT_TRUE(g.parameters.count(t.name)) << t.name;
    const auto& an = g.parameters.at(t.name);
    ASSERT_EQ(an.size(), t.values.size()) << t.name;
    const bool between = t.name.find("g_between") != std::string::npos;
    const std::size_t n = between ? t.shape[0] : 0;
    for (std::size_t i = 0; i < t.values.size(); ++i) {
      std::size_t mirror = i;
      if (between) {
        const std::size_t a = i / n, b = i % n;
        if (a == b) {
          EXPECT_EQ(an[i], 0.0) << t.name << " diagonal";
          continue;
        }
        mirror = b * n + a;
        EXPECT_EQ(an[i], an[mirror]) << t.name << " symmetric";
        if (a > b) continue;
      }
      const double h = 1e-6 * std::max(1.0, std::abs(t.values[i]));
      auto plus = base, minus = base;
      for (auto* mm : {&plus, &minus}) {
        auto& tv = test::tensor_of(*mm, t.name).values;
        const double d = mm == &plus ? h : -h;
        tv[i] += d;
        if (mirror != i) tv[mirror] += d;
      }
      const double lp = batch_loss(plus, x, labels, &pattern);
      bool same = pattern == pattern0;
      const double lm = batch_loss(minus, x, labels, &pattern);
      same = same && pattern == pattern0;
      if (ideal && !same) {
        ++skipped;
        continue;
      }
      compare((lp - lm) / (2 * h), an[i], t.name + "[" + std::to_string(i) + "]");
    }
  }
  ASSERT_EQ(g.inputs.rows(), x.rows());
  ASSERT_EQ(g.inputs.cols(), x.cols());
  for (Index i = 0; i < x.size(); ++i) {
    const double h = 1e-6;
    MatrixXd xp = x, xm = x;
    xp.data()[i] += h;
    xm.data()[i] -= h;
    const double lp = batch_loss(base, xp, labels, &pattern);
    bool same = pattern == pattern0;
    const double lm = batch_loss(base, xm, labels, &pattern);
    same = same && pattern == pattern0;
    if (ideal && !same) {
      ++skipped;
      continue;
    }
    compare((lp - lm) / (2 * h), g.inputs.data()[i], "input[" + std::to_string(i) + "]");
  }
  EXPECT_GT(checked, 50);
  EXPECT_EQ(skipped, 0);  // the samples were chosen away from diode switches
}

std::vector<int> labels_for(Index batch, int classes) {
  std::vector<int> y(static_cast<std::size_t>(batch));
  for (Index b = 0; b < batch; ++b) y[b] = static_cast<int>(b % classes);
  return y;
}

mon_spec gradient_spec(const std::string& diode, int stages) {
  mon_spec sp;
  sp.inputs = 3;
  sp.hidden = 5;
  sp.outputs = 3;
  sp.stages = stages;
  sp.diode = diode;
  sp.floor = 0.02;  // every conductance present and away from 0 (finite differences stay >= 0)
  sp.density = 1.0;
  sp.coupling = 2.0;
  sp.bias_lo = -0.3;
  sp.bias_hi = 0.4;
  return sp;
}

TEST(MonGradients, IdealSingleStageMatchesFiniteDifferences) {
  const auto m = make_model(gradient_spec("ideal", 1), 21);
  const MatrixXd x = clear_samples(build(m), random_inputs(3, 200, 22), 3, 1e-3);
  // Both diode states occur in the chosen samples.
  const auto f = mon_forward(build(m), x, single_thread(), false);
  EXPECT_GT((f.stages[0].v.array() > 0).count(), 0);
  EXPECT_GT((f.stages[0].v.array() == 0).count(), 0);
  check_gradients(m, x, labels_for(x.cols(), 3));
}

TEST(MonGradients, IdealTwoStageMatchesFiniteDifferences) {
  auto sp = gradient_spec("ideal", 2);
  sp.bias_lo = -0.6;  // stage 1 sees v >= 0 only: push some of its nodes below 0
  sp.bias_hi = 0.2;
  const auto m = make_model(sp, 23);
  const MatrixXd x = clear_samples(build(m), random_inputs(3, 400, 24), 3, 1e-3);
  const auto f = mon_forward(build(m), x, single_thread(), false);
  EXPECT_GT((f.stages[1].v.array() > 0).count(), 0);
  EXPECT_GT((f.stages[1].v.array() == 0).count(), 0);
  check_gradients(m, x, labels_for(x.cols(), 3));
}

// Shockley samples must include conducting diodes (v < 0, large g_d) and
// diodes near the knee (g_d comparable to the node's other conductances), or
// the diode's small-signal conductance would not matter to the gradient.
void expect_diodes_matter(const ir::model& m, const MatrixXd& x) {
  const auto net = build(m);
  const auto f = mon_forward(net, x, single_thread(), false);
  for (std::size_t s = 0; s < f.stages.size(); ++s) {
    int conducting = 0, knee = 0;
    for (Index i = 0; i < f.stages[s].v.size(); ++i) {
      const double v = f.stages[s].v.data()[i];
      const double gd = net.law.conductance(v), gjj = net.stages[s].G(i % net.hidden(), i % net.hidden());
      conducting += v < -0.1;
      knee += gd > 0.05 * gjj && gd < 20.0 * gjj;
    }
    EXPECT_GT(conducting, 0) << "stage " << s;
    EXPECT_GT(knee, 0) << "stage " << s;
  }
}

// Soft-diode networks (is = 1e-2, vt = 0.1 normalized: a wide knee) whose
// diodes conduct and sit near their knees, with the Shockley law or the
// spline fitted to its curve (law "device"): the gradient against central
// finite differences of the loss.
void check_soft_diode_gradients(const std::string& law, int stages, std::uint64_t seed) {
  auto sp = gradient_spec("shockley", stages);
  sp.bias_lo = stages == 1 ? -0.6 : -0.9;
  sp.bias_hi = 0.2;
  auto m = make_model(sp, seed);
  m.options["diode"] = law;
  m.scale.ampere = 1e-8;
  m.scale.volt = 0.5;
  const MatrixXd x = random_inputs(3, 6, seed + 1);
  expect_diodes_matter(m, x);
  check_gradients(m, x, labels_for(6, 3));
}

TEST(MonGradients, ShockleySingleStageMatchesFiniteDifferences) { check_soft_diode_gradients("shockley", 1, 25); }
TEST(MonGradients, ShockleyTwoStageMatchesFiniteDifferences) { check_soft_diode_gradients("shockley", 2, 27); }
TEST(MonGradients, FittedDeviceSingleStageMatchesFiniteDifferences) { check_soft_diode_gradients("device", 1, 25); }
TEST(MonGradients, FittedDeviceTwoStageMatchesFiniteDifferences) { check_soft_diode_gradients("device", 2, 27); }

// ------------------------------------------------------------------ device laws

// φ(b) − φ(a) = −∫_a^b i(u) du, against a composite Simpson rule on 20,000
// pieces (independent of the law's Gauss-Legendre pieces and breakpoints),
// over intervals that cross 0, the window's ends and the spline's knots.
TEST(MonDeviceLaw, EnergyChangeIsTheIntegralOfTheCurrent) {
  const auto law = mon_diode_law::of_device(fitted_soft_diode(), 0.5, 1e-8);
  for (auto [a, b] : {std::pair{0.3, -0.9}, std::pair{-1.7, -1.2}, std::pair{1.5, 0.1}, std::pair{-0.01, 0.02},
                      std::pair{-2.0, 2.0}, std::pair{-0.4, -0.4}}) {
    const int pieces = 20000;
    const double h = (b - a) / pieces;
    double simpson = 0.0;
    for (int k = 0; k < pieces; ++k) {
      const double u = a + k * h;
      simpson += h / 6.0 * (law.current(u) + 4.0 * law.current(u + 0.5 * h) + law.current(u + h));
    }
    const double got = law.energy_change(a, b);
    EXPECT_NEAR(got, -simpson, 1e-9 * std::max(1.0, std::abs(simpson))) << a << " -> " << b;
  }
}

// The builtin-style Shockley device through the generic device path (its
// current() only) against the closed-form law: the same equilibrium and the
// same gradients.
TEST(MonDeviceLaw, AShockleyDeviceThroughItsCurveMatchesTheClosedForm) {
  auto sp = gradient_spec("shockley", 2);
  sp.bias_lo = -0.9;
  sp.bias_hi = 0.2;
  auto m = make_model(sp, 41);
  m.scale.ampere = 1e-8;
  m.scale.volt = 0.5;
  const auto closed = build(m);
  auto generic = closed;
  generic.diode = mon_diode_kind::device;
  generic.law = mon_diode_law::of_device(std::make_shared<devices::shockley_device>("soft", "soft diode", kSoft), 0.5, 1e-8);
  const MatrixXd x = random_inputs(3, 8, 42);
  const auto labels = labels_for(8, 3);
  const auto fa = mon_forward(closed, x, single_thread(), true), fb = mon_forward(generic, x, single_thread(), true);
  ASSERT_TRUE(fb.converged());
  for (std::size_t s = 0; s < fa.stages.size(); ++s)
    EXPECT_LE((fa.stages[s].v - fb.stages[s].v).cwiseAbs().maxCoeff(), 1e-11 * fa.stages[s].v.cwiseAbs().maxCoeff());
  MatrixXd dy;
  softmax_cross_entropy(fa.y, labels, &dy, reduction::sum);
  const auto ga = mon_backward(closed, fa, dy, single_thread()), gb = mon_backward(generic, fb, dy, single_thread());
  for (const auto& [name, values] : ga.parameters) {
    const auto& other = gb.parameters.at(name);
    double worst = 0.0, scale = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      worst = std::max(worst, std::abs(values[i] - other[i]));
      scale = std::max(scale, std::abs(values[i]));
    }
    EXPECT_LE(worst, 1e-9 * scale) << name;
  }
}

// The fitted law's equilibrium satisfies KCL with the device's current
// evaluated here, in SI units, from its own curve.
TEST(MonDeviceLaw, FittedDeviceEquilibriumSatisfiesKcl) {
  auto sp = gradient_spec("shockley", 1);
  sp.hidden = 30;
  sp.inputs = 8;
  sp.bias_lo = -0.9;
  sp.bias_hi = 0.3;
  auto m = make_model(sp, 43);
  m.options["diode"] = "device";
  m.scale.ampere = 1e-8;
  m.scale.volt = 0.5;
  const auto net = build(m);
  const MatrixXd x = random_inputs(8, 12, 44);
  const auto f = mon_forward(net, x, single_thread(), false);
  ASSERT_TRUE(f.converged());
  const auto& dev = *fitted_soft_diode();
  int conducting = 0;
  for (Index b = 0; b < x.cols(); ++b) {
    MatrixXd G;
    VectorXd s;
    test::reference_system(m, 0, x.col(b), G, s);
    const VectorXd v = f.stages[0].v.col(b);
    for (Index j = 0; j < v.size(); ++j) {
      const double i = dev.current(-v[j] * 0.5) / 1e-8;  // anode at ground
      const double kcl = (G.row(j) * v)(0) - s[j] - i;
      const double scale = (G.row(j).cwiseAbs() * v.cwiseAbs())(0) + std::abs(s[j]) + std::abs(i);
      EXPECT_LE(std::abs(kcl), 1e-12 * scale) << "sample " << b << " node " << j;
      conducting += i > 0.05;  // 5e-10 A: a conducting diode
    }
  }
  EXPECT_GT(conducting, 0);
}

// A device whose curve falls (an NDR tunnel diode) cannot be a MON diode.
TEST(MonDeviceLaw, ANonMonotoneDeviceIsRefusedWithTheVoltageWhereItFalls) {
  auto m = make_model(gradient_spec("shockley", 1), 45);
  m.options["diode"] = "device";
  const auto& z15 = devices::builtin_devices().get("z15");
  const std::shared_ptr<const devices::device> ndr(std::shared_ptr<const devices::device>(), &z15);
  try {
    (void)mon_network::from_model(m, ndr);
    FAIL() << "an NDR device was accepted";
  } catch (const validation_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'z15' is not monotone"), std::string::npos) << what;
    EXPECT_NE(what.find("turns negative at"), std::string::npos) << what;
  }
  // Option diode = device is refused without the device itself.
  EXPECT_THROW((void)mon_network::from_model(m, static_cast<const devices::shockley_parameters*>(nullptr)), validation_error);
}

TEST(MonGradients, BatchIsTheSumOfSamples) {
  for (const std::string diode : {"ideal", "shockley"}) {
    auto sp = gradient_spec(diode, 2);
    sp.hidden = 8;
    const auto m = make_model(sp, 31);
    const auto net = build(m);
    const MatrixXd x = random_inputs(3, 7, 32);
    const auto labels = labels_for(7, 3);
    mon_options opt;
    opt.threads = 2;
    const auto f = mon_forward(net, x, opt, true);
    MatrixXd dy;
    softmax_cross_entropy(f.y, labels, &dy, reduction::sum);
    const auto g = mon_backward(net, f, dy, opt, true);
    std::map<std::string, std::vector<double>> sum;
    for (Index b = 0; b < x.cols(); ++b) {
      const MatrixXd xb = x.col(b);
      const auto fb = mon_forward(net, xb, single_thread(), true);
      EXPECT_LE((fb.y - f.y.col(b)).cwiseAbs().maxCoeff(), 1e-13);
      MatrixXd dyb;
      softmax_cross_entropy(fb.y, std::vector<int>{labels[b]}, &dyb, reduction::sum);
      const auto gb = mon_backward(net, fb, dyb, single_thread(), true);
      for (const auto& [name, values] : gb.parameters) {
        auto& acc = sum[name];
        acc.resize(values.size(), 0.0);
        for (std::size_t i = 0; i < values.size(); ++i) acc[i] += values[i];
      }
      EXPECT_LE((gb.inputs - g.inputs.col(b)).cwiseAbs().maxCoeff(), 1e-12);
      for (std::size_t s = 0; s < net.stages.size(); ++s)
        EXPECT_LE((gb.lambda[s] - g.lambda[s].col(b)).cwiseAbs().maxCoeff(), 1e-12);
    }
    ASSERT_EQ(sum.size(), g.parameters.size());
    for (const auto& [name, values] : g.parameters)
      for (std::size_t i = 0; i < values.size(); ++i)
        EXPECT_NEAR(values[i], sum[name][i], 1e-12 * (1.0 + std::abs(values[i]))) << diode << " " << name << "[" << i << "]";
  }
}

TEST(MonGradients, ElementFormulasMatchDirectLoops) {
  const Index n = 6, in = 4, B = 5;
  const MatrixXd dense = random_inputs(in, B, 41), v = random_inputs(n, B, 42, 0.0, 1.0), lambda = random_inputs(n, B, 43);
  MatrixXd sparse = MatrixXd::Zero(in, B);  // mostly zero, like MNIST: the column-by-column path
  sparse(1, 0) = 0.7;
  sparse(3, 2) = -0.4;
  sparse(0, 4) = 1.0;
  const MatrixXd* inputs[] = {&dense, &sparse};
  for (const MatrixXd* xp : inputs) {
    const MatrixXd& x = *xp;
    const auto g = mon_element_gradients(x, v, lambda);
    for (Index a = 0; a < n; ++a) {
      double gg = 0, bias = 0;
      for (Index b = 0; b < B; ++b) {
        gg += -lambda(a, b) * v(a, b);
        bias += lambda(a, b);
      }
      EXPECT_NEAR(g.g_ground[a], gg, 1e-13);
      EXPECT_NEAR(g.bias[a], bias, 1e-13);
      for (Index c = 0; c < n; ++c) {
        double gb = 0;
        for (Index b = 0; b < B; ++b) gb += -(v(a, b) - v(c, b)) * (lambda(a, b) - lambda(c, b));
        EXPECT_NEAR(g.g_between(a, c), a == c ? 0.0 : gb, 1e-13);
      }
      for (Index k = 0; k < in; ++k) {
        double hp = 0, hn = 0;
        for (Index b = 0; b < B; ++b) {
          hp += -lambda(a, b) * (v(a, b) - x(k, b));
          hn += -lambda(a, b) * (v(a, b) + x(k, b));
        }
        EXPECT_NEAR(g.h_pos(a, k), hp, 1e-13);
        EXPECT_NEAR(g.h_neg(a, k), hn, 1e-13);
      }
    }
  }
  const auto g = mon_element_gradients(dense, v, lambda);
  std::map<std::string, std::vector<double>> out;
  mon_store_gradient(1, g, out);
  ASSERT_EQ(out.at("stage1.h_pos").size(), static_cast<std::size_t>(n * in));
  EXPECT_EQ(out.at("stage1.h_pos")[1 * in + 2], g.h_pos(1, 2));  // row-major like the ir tensor
  EXPECT_EQ(out.at("stage1.g_between")[2 * n + 4], g.g_between(2, 4));
}

TEST(MonGradients, AdjointIsTheSmallSignalSolve) {
  // λ from both linearization sides equals a dense solve of G_FF λ_F = g_F.
  for (auto [lo, hi] : {std::pair{-1.0, 0.2}, std::pair{-0.1, 1.0}}) {  // mostly clamped / mostly free
    mon_spec sp;
    sp.hidden = 20;
    sp.inputs = 8;
    sp.bias_lo = lo;
    sp.bias_hi = hi;
    const auto net = build(make_model(sp, 51));
    const MatrixXd x = random_inputs(sp.inputs, 10, 52);
    auto opt = single_thread();
    opt.inverse_side = true;  // let steps use (G⁻¹)_CC
    const auto f = mon_forward(net, x, opt, true);
    const MatrixXd dy = random_inputs(sp.outputs, 10, 53);
    const auto g = mon_backward(net, f, dy, single_thread(), false);
    int clamped_side = 0;
    for (Index b = 0; b < x.cols(); ++b) {
      clamped_side += f.stages[0].linearizations[b].kind == mon_linearization::side::clamped;
      const VectorXd v = f.stages[0].v.col(b);
      const VectorXd rhs = net.readout_weight.transpose() * dy.col(b);
      std::vector<Index> F;
      for (Index j = 0; j < v.size(); ++j)
        if (v[j] > 0) F.push_back(j);
      MatrixXd GF(F.size(), F.size());
      VectorXd gF(F.size());
      for (std::size_t p = 0; p < F.size(); ++p) {
        gF[p] = rhs[F[p]];
        for (std::size_t q = 0; q < F.size(); ++q) GF(p, q) = net.stages[0].G(F[p], F[q]);
      }
      const VectorXd lF = GF.fullPivLu().solve(gF);
      VectorXd ref = VectorXd::Zero(v.size());
      for (std::size_t p = 0; p < F.size(); ++p) ref[F[p]] = lF[p];
      EXPECT_LE((g.lambda[0].col(b) - ref).cwiseAbs().maxCoeff(), 1e-12 * std::max(1.0, ref.cwiseAbs().maxCoeff()));
    }
    if (hi > 0.5) {
      EXPECT_GT(clamped_side, 0);  // mostly free: the (G⁻¹)_CC side was used
    } else {
      EXPECT_LT(clamped_side, x.cols());
    }
  }
}

// ------------------------------------------------------------------ batching and threads

TEST(MonForward, ThreadsAndWarmStartsGiveTheSameEquilibrium) {
  mon_spec sp;
  sp.inputs = 20;
  sp.hidden = 40;
  sp.stages = 2;
  sp.coupling = 3.0;
  const auto net = build(make_model(sp, 61));
  const MatrixXd x = random_inputs(sp.inputs, 67, 62);
  const auto ref = mon_forward(net, x, single_thread(), false);
  for (int threads : {2, 3}) {
    for (auto ws : {mon_warm_start::unconstrained, mon_warm_start::peaceman_rachford}) {
      mon_options opt;
      opt.threads = threads;
      opt.warm_start = ws;
      const auto f = mon_forward(net, x, opt, false);
      for (int s = 0; s < 2; ++s) EXPECT_LE((f.stages[s].v - ref.stages[s].v).cwiseAbs().maxCoeff(), 1e-12);
      EXPECT_LE((f.y - ref.y).cwiseAbs().maxCoeff(), 1e-12);
    }
  }
}

TEST(MonForward, SparseAndDenseInputsGiveTheSameSources) {
  mon_spec sp;
  sp.inputs = 40;
  sp.hidden = 10;
  const auto m = make_model(sp, 71);
  const auto net = build(m);
  MatrixXd x = random_inputs(sp.inputs, 6, 72);
  rng r(73);
  for (Index i = 0; i < x.size(); ++i)
    if (r.uniform() < 0.85) x.data()[i] = 0.0;  // below the sparse threshold
  const MatrixXd S = net.stages[0].sources(x);
  for (Index b = 0; b < x.cols(); ++b) {
    MatrixXd G;
    VectorXd s;
    test::reference_system(m, 0, x.col(b), G, s);
    EXPECT_LE((S.col(b) - s).cwiseAbs().maxCoeff(), 1e-14) << "sample " << b;
  }
}

TEST(MonForward, RejectsWrongInputSizeAndBackwardWithoutTape) {
  mon_spec sp;
  const auto net = build(make_model(sp, 1));
  EXPECT_THROW(mon_forward(net, MatrixXd::Zero(sp.inputs + 1, 2)), error);
  const auto f = mon_forward(net, MatrixXd::Zero(sp.inputs, 2), {}, false);
  EXPECT_THROW(mon_backward(net, f, MatrixXd::Zero(sp.outputs, 2)), error);
}

// ------------------------------------------------------------------ validation

void expect_validation(const ir::model& m, const std::string& path_part, const std::string& what_part) {
  try {
    build(m);
    ADD_FAILURE() << "no error; expected one about " << path_part;
  } catch (const validation_error& e) {
    EXPECT_NE(e.element_path().find(path_part), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(what_part), std::string::npos) << e.what();
  }
}

TEST(MonNetwork, ValidationErrorsNameWhatIsWrong) {
  mon_spec sp;
  sp.stages = 2;
  const auto good = make_model(sp, 1);
  EXPECT_NO_THROW(build(good));
  {
    auto m = good;
    m.parameters.erase(m.parameters.begin() + 6);  // stage1.g_ground
    expect_validation(m, "stage1.g_ground", "missing");
  }
  {
    auto m = good;
    test::tensor_of(m, "stage0.h_pos").shape = {6, 5};
    expect_validation(m, "stage0.h_pos", "shape [6, 5]");
  }
  {
    auto m = good;
    test::tensor_of(m, "stage0.h_neg").values[3] = -0.1;
    expect_validation(m, "stage0.h_neg", ">= 0");
  }
  {
    auto m = good;
    test::tensor_of(m, "stage1.bias").values[0] = std::nan("");
    expect_validation(m, "stage1.bias", "finite");
  }
  {
    auto m = good;
    test::tensor_of(m, "stage0.g_between").values[1] += 0.5;  // (0,1) no longer equals (1,0)
    expect_validation(m, "stage0.g_between", "symmetric");
  }
  {
    auto m = good;
    test::tensor_of(m, "stage0.g_between").values[0] = 0.2;  // (0,0)
    expect_validation(m, "stage0.g_between", "diagonal");
  }
  {
    auto m = good;
    m.sizes.erase("stages");
    expect_validation(m, "stages", "needs size");
  }
  {
    auto m = good;
    m.options["diode"] = "zener";
    expect_validation(m, "diode", "'ideal', 'shockley' or 'device'");
  }
  {
    auto m = good;
    m.options["diode"] = "shockley";
    EXPECT_THROW(mon_network::from_model(m, static_cast<const devices::shockley_parameters*>(nullptr)), validation_error);
  }
  {
    // Node 2 of stage 0 connected to nothing: G is singular.
    auto m = good;
    const std::size_t n = 6, in = 4;
    test::tensor_of(m, "stage0.g_ground").values[2] = 0.0;
    for (std::size_t k = 0; k < in; ++k) {
      test::tensor_of(m, "stage0.h_pos").values[2 * in + k] = 0.0;
      test::tensor_of(m, "stage0.h_neg").values[2 * in + k] = 0.0;
    }
    auto& gb = test::tensor_of(m, "stage0.g_between").values;
    for (std::size_t k = 0; k < n; ++k) gb[2 * n + k] = gb[k * n + 2] = 0.0;
    expect_validation(m, "stage0.g_ground", "hidden node 2 has no conductance path");
  }
  {
    auto m = good;
    m.kind = ir::family::kan;
    expect_validation(m, "/model", "MON");
  }
}

TEST(MonNetwork, DiodeFromTheDeviceRegistry) {
  mon_spec sp;
  sp.diode = "shockley";
  auto m = make_model(sp, 2);
  m.scale.volt = 2.0;
  m.scale.ampere = 1e-3;
  const auto net = mon_network::from_model(m);  // builtin registry, device "shockley_diode"
  const auto p = devices::builtin_devices().get("shockley_diode").shockley();
  ASSERT_TRUE(p.has_value());
  EXPECT_DOUBLE_EQ(net.law.is, p->is / 1e-3);
  EXPECT_DOUBLE_EQ(net.law.vt, p->n * p->vt / 2.0);
  EXPECT_EQ(net.diode, mon_diode_kind::shockley);
  m.devices[0].name = "no_such_diode";
  EXPECT_THROW(mon_network::from_model(m), validation_error);
  m.devices[0].name = "z15";  // an NDR basis device: no Shockley parameters
  EXPECT_THROW(mon_network::from_model(m), validation_error);
  m.options["diode"] = "ideal";
  EXPECT_EQ(mon_network::from_model(m).diode, mon_diode_kind::ideal);  // ideal needs no parameters
}


// ------------------------------------------------------------------ pruning

// prune_mon first merges every input pair (h_pos, h_neg) -> ((d)+, (-d)+),
// g_ground += 2 min: the network computes the same function (checked
// through the equilibrium, to the solver's tolerance); then it zeroes every
// realised conductance below the threshold, and only those.
TEST(MonPrune, MergingIsExactAndPruningRemovesOnlyWeakConductances) {
  for (int stages : {1, 2}) {
    mon_spec sp;
    sp.inputs = 5, sp.hidden = 7, sp.outputs = 3, sp.stages = stages, sp.density = 0.9;
    const auto m = test::make_model(sp, 300 + stages);
    const MatrixXd x = random_inputs(5, 20, 301);
    const auto before = mon_forward(build(m), x, single_thread(), false);

    auto merged = m;
    const auto r0 = ir::prune_mon(merged, 0.0);
    EXPECT_EQ(r0.removed, 0u);
    EXPECT_GT(r0.pairs_merged, 0u);
    for (int s = 0; s < stages; ++s) {
      const auto p = "stage" + std::to_string(s) + ".";
      const auto& hp0 = m.parameter(p + "h_pos").values;
      const auto& hn0 = m.parameter(p + "h_neg").values;
      const auto& hp = merged.parameter(p + "h_pos").values;
      const auto& hn = merged.parameter(p + "h_neg").values;
      for (std::size_t i = 0; i < hp.size(); ++i) {
        EXPECT_EQ(hp[i] * hn[i], 0.0);
        EXPECT_NEAR(hp[i] - hn[i], hp0[i] - hn0[i], 1e-15);
      }
    }
    const auto after = mon_forward(build(merged), x, single_thread(), false);
    EXPECT_LE((after.y - before.y).cwiseAbs().maxCoeff(), 1e-11);

    // threshold between the realised values: everything below goes, nothing else
    auto pruned = merged;
    const double units = 0.05;
    const auto r = ir::prune_mon(pruned, units * (m.scale.ampere / m.scale.volt));
    EXPECT_EQ(r.pairs_merged, 0u);  // already merged
    std::size_t removed = 0, kept = 0;
    auto check = [&](const std::vector<double>& old_values, const std::vector<double>& new_values) {
      for (std::size_t i = 0; i < old_values.size(); ++i) {
        if (old_values[i] == 0.0) continue;
        if (std::abs(old_values[i]) < units) {
          EXPECT_EQ(new_values[i], 0.0);
          ++removed;
        } else {
          EXPECT_EQ(new_values[i], old_values[i]);
          ++kept;
        }
      }
    };
    for (int s = 0; s < stages; ++s) {
      const auto p = "stage" + std::to_string(s) + ".";
      for (const char* t : {"h_pos", "h_neg"}) check(merged.parameter(p + t).values, pruned.parameter(p + t).values);
      const auto& gb = pruned.parameter(p + "g_between").values;
      const auto n = static_cast<std::size_t>(sp.hidden);
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < n; ++k) EXPECT_EQ(gb[j * n + k], gb[k * n + j]);
      EXPECT_EQ(pruned.parameter(p + "g_ground").values, merged.parameter(p + "g_ground").values);
    }
    check(merged.parameter("readout.weight").values, pruned.parameter("readout.weight").values);
    EXPECT_GT(removed, 0u);
    EXPECT_GT(kept, 0u);
    // g_between counts once per resistor, so compare totals loosely: at least the tensors checked above
    EXPECT_GE(r.removed, removed);
  }
  auto kan = ir::model{};
  kan.kind = ir::family::kan;
  EXPECT_THROW(ir::prune_mon(kan, 1e-6), error);
}


// ------------------------------------------------------------------ kernels and solver paths

TEST(MonKernels, NonzerosSumColumnsAndCholeskyMatchEigen) {
  rng r(301);
  for (int n : {1, 3, 7, 8, 15, 16, 17, 33, 50, 100, 128, 129, 200}) {
    // nonzeros + sum_columns = a dense product with a sparse vector
    VectorXd x = VectorXd::Zero(n + 5);
    for (Index k = 0; k < x.size(); ++k)
      if (r.uniform() < 0.3) x[k] = r.uniform(-1.0, 1.0);
    std::vector<int> k(static_cast<std::size_t>(x.size() + 16));
    std::vector<double> val(static_cast<std::size_t>(x.size() + 16));
    const int m = spicenn::models::kernels::nonzeros(x.data(), static_cast<int>(x.size()), k.data(), val.data());
    EXPECT_EQ(m, (x.array() != 0.0).count());
    for (int p = 0; p < m; ++p) EXPECT_EQ(val[p], x[k[p]]);
    MatrixXd A(n, x.size());
    for (Index i = 0; i < A.size(); ++i) A.data()[i] = r.uniform(-1.0, 1.0);
    VectorXd out = VectorXd::Constant(n, 0.5);
    spicenn::models::kernels::sum_columns(A.data(), n, n, k.data(), val.data(), m, out.data());
    const VectorXd ref = (A * x).array() + 0.5;
    EXPECT_LE((out - ref).cwiseAbs().maxCoeff(), 1e-13 * n);
    // float, with a leading dimension larger than the rows; nothing written past them
    Eigen::MatrixXf Af = MatrixXd::Constant(n + 3, x.size(), 2.0).cast<float>();
    Af.topRows(n) = A.cast<float>();
    std::vector<float> valf(val.begin(), val.end());
    Eigen::VectorXf outf = Eigen::VectorXf::Constant(n + 20, 0.5f);
    outf.tail(20).setConstant(9.0f);
    spicenn::models::kernels::sum_columns(Af.data(), n + 3, n, k.data(), valf.data(), m, outf.data());
    EXPECT_LE((outf.head(n).cast<double>() - ref).cwiseAbs().maxCoeff(), 1e-5 * n);
    EXPECT_TRUE((outf.tail(20).array() == 9.0f).all());
    // cholesky_lower = Eigen's LLT, inside a larger buffer
    MatrixXd B(n, n);
    for (Index i = 0; i < B.size(); ++i) B.data()[i] = r.uniform(-1.0, 1.0);
    const MatrixXd spd = B * B.transpose() + n * MatrixXd::Identity(n, n);
    MatrixXd buf = MatrixXd::Constant(n + 3, n + 2, 7.0);
    buf.topLeftCorner(n, n) = spd;
    std::vector<double> work(2 * static_cast<std::size_t>(n));
    ASSERT_TRUE(spicenn::models::kernels::cholesky_lower(buf.data(), buf.outerStride(), n, work.data()));
    const MatrixXd L = buf.topLeftCorner(n, n).triangularView<Eigen::Lower>();
    const MatrixXd Lref = spd.llt().matrixL();
    EXPECT_LE((L - Lref).cwiseAbs().maxCoeff(), 1e-12 * std::sqrt(static_cast<double>(n)));
    EXPECT_EQ(buf(n, 0), 7.0);  // rows below the block untouched
    MatrixXd indefinite = -MatrixXd::Identity(n, n);
    EXPECT_FALSE(spicenn::models::kernels::cholesky_lower(indefinite.data(), n, n, work.data()));
  }
}

TEST(MonKernels, FloatGatherAndJacobiStepMatchScalarCode) {
  namespace kn = spicenn::models::kernels;
  rng r(302);
  for (int n : {1, 5, 8, 15, 16, 17, 31, 100, 130}) {
    // nonzeros into float: the same positions, each value rounded to float
    VectorXd x = VectorXd::Zero(n + 3);
    for (Index k = 0; k < x.size(); ++k)
      if (r.uniform() < 0.4) x[k] = r.uniform(-1.0, 1.0);
    std::vector<int> k(static_cast<std::size_t>(x.size() + 16));
    std::vector<float> valf(static_cast<std::size_t>(x.size() + 16));
    const int m = kn::nonzeros(x.data(), static_cast<int>(x.size()), k.data(), valf.data());
    ASSERT_EQ(m, (x.array() != 0.0).count());
    for (int p = 0; p < m; ++p) EXPECT_EQ(valf[p], static_cast<float>(x[k[p]]));

    // jacobi_column_step against its definition, one entry at a time (a
    // nonnegative iterate, some entries at zero, p near D v so that both
    // outcomes occur)
    for (const float tol : {1e-1f, 1e-6f}) {
      Eigen::VectorXf v(n), p(n), sv(n), d(n), dinv(n), next(n);
      for (Index i = 0; i < n; ++i) {
        d[i] = static_cast<float>(r.uniform(1.0, 3.0));
        dinv[i] = 1.0f / d[i];
        v[i] = r.uniform() < 0.3 ? 0.0f : static_cast<float>(r.uniform(0.0, 2.0));
        p[i] = v[i] * d[i] * static_cast<float>(1.0 + r.uniform(-0.05, 0.05));
        sv[i] = static_cast<float>(r.uniform(-1.0, 1.0));
      }
      const float vmax = v.maxCoeff();
      const auto step = kn::jacobi_column_step(n, v.data(), p.data(), sv.data(), d.data(), dinv.data(), tol, vmax, next.data());
      float worst = -std::numeric_limits<float>::infinity(), nmax = 0.0f;
      for (Index i = 0; i < n; ++i) {
        const float dv = v[i] * d[i], w = dv - p[i], rr = dv + (p[i] - sv[i]) + std::abs(sv[i]);
        worst = std::max(worst, std::max(-w - tol * rr, std::min(std::abs(w) - tol * rr, v[i] - tol * vmax)));
        const float nx = std::max(p[i] * dinv[i], 0.0f);
        EXPECT_EQ(next[i], nx) << i;
        nmax = std::max(nmax, nx);
      }
      EXPECT_EQ(step.done, worst <= 0.0f) << "n " << n << " tol " << tol << " worst " << worst;
      EXPECT_EQ(step.next_max, nmax);
    }
  }
}

TEST(MonEquilibrium, FreeSideAndInverseSideForwardAgree) {
  // The default (free side, residual from G_{:,F} v_F) and the (G⁻¹)_CC side
  // give the same v; every reported residual equals mon_ideal_residual;
  // sparse and dense inputs give the same sources.
  mon_spec sp;
  sp.inputs = 40;
  sp.hidden = 60;
  sp.bias_lo = -1.0;
  sp.bias_hi = 0.5;
  const auto net = build(make_model(sp, 401));
  MatrixXd x = random_inputs(sp.inputs, 30, 402);
  rng r(403);
  for (Index b = 0; b < x.cols(); b += 2)  // every other column mostly zero
    for (Index k = 0; k < x.rows(); ++k)
      if (r.uniform() < 0.85) x(k, b) = 0.0;
  const MatrixXd S = net.stages[0].sources(x);
  const MatrixXd Sref = (net.stages[0].H * x).colwise() + net.stages[0].bias;
  EXPECT_LE((S - Sref).cwiseAbs().maxCoeff(), 1e-13);
  auto opt = single_thread();
  const auto f = mon_forward(net, x, opt, true);
  opt.inverse_side = true;
  const auto g = mon_forward(net, x, opt, true);
  EXPECT_TRUE(f.converged());
  EXPECT_TRUE(g.converged());
  for (Index b = 0; b < x.cols(); ++b) {
    const VectorXd v = f.stages[0].v.col(b);
    EXPECT_LE((v - g.stages[0].v.col(b)).cwiseAbs().maxCoeff(), 1e-11 * std::max(1.0, v.cwiseAbs().maxCoeff()));
    const double res = mon_ideal_residual(net.stages[0].G, S.col(b), v);
    EXPECT_LE(res, 1e-12);
    EXPECT_NEAR(f.stages[0].reports[b].residual, res, 1e-14);
    EXPECT_EQ(f.stages[0].linearizations[b].kind, mon_linearization::side::free);
  }
}

// ------------------------------------------------------------------ float32 inference

TEST(MonFloat32, JacobiContractionIsTheLargestOffDiagonalShare) {
  // Two nodes, g_between 1, g_ground (1, 3), one input with h_pos (0, 1):
  // G = [[2, −1], [−1, 5]], shares 1/2 and 1/5.
  ir::model m = make_model(mon_spec{.inputs = 1, .hidden = 2, .outputs = 1}, 1);
  for (auto& t : m.parameters) {
    if (t.name == "stage0.g_between") t.values = {0, 1, 1, 0};
    if (t.name == "stage0.g_ground") t.values = {1, 3};
    if (t.name == "stage0.h_pos") t.values = {0, 1};
    if (t.name == "stage0.h_neg") t.values = {0, 0};
  }
  const auto net = build(m);
  EXPECT_DOUBLE_EQ(net.stages[0].jacobi_contraction, 0.5);
}

// Float32 inference against the exact float64 solve of the same network: the
// float64 residual of the float32 solution (an independent evaluation, in
// double) and the distance to the exact v.
void expect_float32_matches_float64(const mon_network& net, const MatrixXd& x, int threads) {
  mon_options exact = single_thread();
  mon_options fast = exact;
  fast.threads = threads;
  fast.precision = mon_precision::float32;
  const auto ref = mon_forward(net, x, exact, false);
  const auto f = mon_forward(net, x, fast, false);
  EXPECT_TRUE(f.converged());
  EXPECT_LE(f.max_residual(), fast.float32_tolerance);
  for (std::size_t s = 0; s < net.stages.size(); ++s) {
    const auto& st = net.stages[s];
    const MatrixXd S = st.sources(s == 0 ? x : f.stages[s - 1].v);
    int in_float32 = 0;
    for (Index b = 0; b < x.cols(); ++b) {
      const VectorXd v = f.stages[s].v.col(b);
      const double res = mon_ideal_residual(st.G, S.col(b), v);
      EXPECT_LE(res, 2.0 * fast.float32_tolerance) << "stage " << s << " sample " << b;
      // The residual the iteration computed is that of the problem rounded to
      // float32; the float64 problem's differs by the rounding of the sources.
      EXPECT_LE(res, f.stages[s].reports[b].residual + 1e-5) << "stage " << s << " sample " << b;
      in_float32 += f.stages[s].reports[b].residual > 1e-10;  // float32 rounding leaves ~1e-7; float64 1e-12
      const VectorXd v64 = ref.stages[s].v.col(b);
      // error <= ‖G⁻¹‖∞ · (residual · current scale): a loose a-priori bound
      const double scale = std::max(1.0, v64.cwiseAbs().maxCoeff());
      EXPECT_LE((v - v64).cwiseAbs().maxCoeff(), 1e-3 * scale) << "stage " << s << " sample " << b;
    }
    EXPECT_GT(in_float32, x.cols() / 2) << "stage " << s << ": the float32 iteration did not run";
  }
  EXPECT_LE((f.y - ref.y).cwiseAbs().maxCoeff(), 1e-3 * std::max(1.0, ref.y.cwiseAbs().maxCoeff()));
}

TEST(MonFloat32, InferenceMatchesTheExactEquilibrium) {
  for (auto [lo, hi, coupling, stages] : {std::tuple{-1.0, 0.2, 1.0, 1}, std::tuple{-0.5, 0.5, 2.0, 1},
                                          std::tuple{-0.3, 0.6, 1.0, 2}}) {
    mon_spec sp;
    sp.inputs = 50;
    sp.hidden = 70;  // not a multiple of the vector width
    sp.stages = stages;
    sp.bias_lo = lo;
    sp.bias_hi = hi;
    sp.coupling = coupling;
    const auto net = build(make_model(sp, 501));
    ASSERT_LE(net.stages[0].jacobi_contraction, 0.7) << "the float32 path is meant to run";
    MatrixXd x = random_inputs(sp.inputs, 300, 502);  // more than one block of 128 columns
    rng r(503);
    for (Index b = 0; b < x.cols(); b += 2)  // every other column mostly zero (the sparse sources)
      for (Index k = 0; k < x.rows(); ++k)
        if (r.uniform() < 0.85) x(k, b) = 0.0;
    for (int threads : {1, 2}) expect_float32_matches_float64(net, x, threads);
  }
}

TEST(MonFloat32, SamplesTheIterationDoesNotFinishAreSolvedInFloat64) {
  mon_spec sp;
  sp.inputs = 30;
  sp.hidden = 40;
  sp.bias_lo = -1.0;
  const auto net = build(make_model(sp, 511));
  ASSERT_LE(net.stages[0].jacobi_contraction, 0.7) << "the float32 path is meant to run";
  const MatrixXd x = random_inputs(sp.inputs, 50, 512);
  mon_options opt = single_thread();
  opt.precision = mon_precision::float32;
  opt.float32_max_iterations = 0;  // only the start max(0, G⁻¹S) is tried
  const auto f = mon_forward(net, x, opt, false);
  const MatrixXd S = net.stages[0].sources(x);
  int exact = 0;
  for (Index b = 0; b < x.cols(); ++b) {
    const auto& rep = f.stages[0].reports[b];
    EXPECT_TRUE(rep.converged);
    const double res = mon_ideal_residual(net.stages[0].G, S.col(b), f.stages[0].v.col(b));
    if (rep.residual <= 1e-12) {
      ++exact;
      EXPECT_LE(res, 1e-12) << "sample " << b;
    } else {
      EXPECT_LE(res, 2.0 * opt.float32_tolerance) << "sample " << b;
    }
  }
  EXPECT_GT(exact, 0) << "some samples need more than the start";
}

TEST(MonFloat32, StronglyCoupledNetworksAndTrainingStayInFloat64) {
  mon_spec sp;
  sp.inputs = 10;
  sp.hidden = 30;
  sp.coupling = 40.0;  // the conductances between nodes dominate: Jacobi would crawl
  sp.ground = 0.01;
  const auto net = build(make_model(sp, 521));
  ASSERT_GT(net.stages[0].jacobi_contraction, 0.7);
  const MatrixXd x = random_inputs(sp.inputs, 20, 522);
  mon_options opt = single_thread();
  opt.precision = mon_precision::float32;
  EXPECT_LE(mon_forward(net, x, opt, false).max_residual(), 1e-12);
  const auto weak = build(make_model(mon_spec{.inputs = 10, .hidden = 30, .coupling = 0.3}, 523));
  ASSERT_LE(weak.stages[0].jacobi_contraction, 0.7);
  const auto t = mon_forward(weak, x, opt, /*keep_for_backward=*/true);
  EXPECT_LE(t.max_residual(), 1e-12);
  EXPECT_EQ(t.stages[0].linearizations.size(), 20u);
}

}  // namespace
}  // namespace spicenn::models
