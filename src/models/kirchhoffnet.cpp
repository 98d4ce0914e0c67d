#include "models/kirchhoffnet.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <functional>

#include <boost/numeric/odeint.hpp>
#include <fmt/format.h>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "ir/schema.hpp"
#include "models/loss.hpp"

namespace spicenn::models {
namespace odeint = boost::numeric::odeint;

namespace {

using state = std::vector<double>;

// Edge laws with inlined kernels; anything else goes through the registry's
// function pointers (correct, not vectorized).
enum class law_kind { shift_relu1, shift_tanh1, shift_tanh2, conductance, generic };

law_kind kind_of(const ir::edge_function& f) {
  if (f.name == "shift_relu1") return law_kind::shift_relu1;
  if (f.name == "shift_tanh1") return law_kind::shift_tanh1;
  if (f.name == "shift_tanh2") return law_kind::shift_tanh2;
  if (f.name == "conductance") return law_kind::conductance;
  return law_kind::generic;
}

// Sum of the edge currents into every node, for one group of B samples:
// dv[node·B + b] (block 0 = ground is left at zero), then divided by C.
template <class Current>
void edge_currents(const kn_slice& s, std::size_t T, const double* v, double* dv, std::size_t B, Current current) {
  const std::size_t edges = s.source.size();
  for (std::size_t e = 0; e < edges; ++e) {
    const double* __restrict vs = v + s.source[e] * B;
    const double* __restrict vd = v + s.destination[e] * B;
    double* __restrict ds = dv + s.source[e] * B;
    double* __restrict dd = dv + s.destination[e] * B;
    const double* th = s.theta.data() + e * T;
#pragma GCC ivdep
    for (std::size_t b = 0; b < B; ++b) {
      const double i = current(vs[b], vd[b], th);
      ds[b] -= i;
      dd[b] += i;
    }
  }
}

// out += J^T a and g_theta += (∂F/∂θ)^T a at state v, where a is already
// divided by C (block 0 zero). Partials(vs, vd, th, w, &d_out_s, &d_out_d,
// g) adds w·∂f/∂v_s, w·∂f/∂v_d to the outputs and w·∂f/∂θ to g.
template <class Vjp>
void edge_vjp(const kn_slice& s, std::size_t T, const double* v, const double* a, double* out, double* g_theta,
              std::size_t B, Vjp vjp) {
  const std::size_t edges = s.source.size();
  for (std::size_t e = 0; e < edges; ++e) {
    const std::size_t src = s.source[e] * B, dst = s.destination[e] * B;
    vjp(v + src, v + dst, a + src, a + dst, out + src, out + dst, s.theta.data() + e * T, g_theta + e * T, B);
  }
}

struct rhs_counter {
  std::size_t evaluations = 0;
};

// The ODE right-hand side for one slice and one group.
class slice_system {
 public:
  slice_system(const kn_network& net, const kn_slice& s, std::size_t B, rhs_counter& counter)
      : net_(net), slice_(s), B_(B), kind_(kind_of(*net.law)), counter_(counter) {}

  void operator()(const state& v, state& dv, double /*t*/) const {
    ++counter_.evaluations;
    std::fill(dv.begin(), dv.end(), 0.0);
    const std::size_t T = net_.theta_count;
    double* out = dv.data();
    const double* in = v.data();
    switch (kind_) {
      case law_kind::shift_relu1:
        edge_currents(slice_, T, in, out, B_, [](double vs, double vd, const double* th) {
          const double u = vs - vd - th[0];
          return th[1] * (u > 0 ? u : 0.0);
        });
        break;
      case law_kind::shift_tanh1:
        edge_currents(slice_, T, in, out, B_,
                      [](double vs, double vd, const double* th) { return std::tanh(th[1] * (vs - vd) + th[0]); });
        break;
      case law_kind::shift_tanh2:
        edge_currents(slice_, T, in, out, B_, [](double vs, double vd, const double* th) {
          return std::tanh(th[0] * vs + th[1] * vd + th[2]);
        });
        break;
      case law_kind::conductance:
        edge_currents(slice_, T, in, out, B_, [](double vs, double vd, const double* th) { return th[0] * (vs - vd); });
        break;
      case law_kind::generic: {
        auto* f = net_.law->current;
        edge_currents(slice_, T, in, out, B_, [f](double vs, double vd, const double* th) { return f(vs, vd, th); });
        break;
      }
    }
    std::fill(out, out + B_, 0.0);  // ground
    for (std::size_t n = 1; n <= net_.nodes; ++n) {
      const double c = net_.inverse_capacitance[n - 1];
      double* block = out + n * B_;
      for (std::size_t b = 0; b < B_; ++b) block[b] *= c;
    }
  }

  // out += J(v)^T a; g_theta += (∂F/∂θ)(v)^T a. `scaled` is scratch.
  void vjp(const state& v, const state& a, state& out, std::vector<double>& g_theta, state& scaled) const {
    std::fill(scaled.begin(), scaled.begin() + B_, 0.0);
    for (std::size_t n = 1; n <= net_.nodes; ++n) {
      const double c = net_.inverse_capacitance[n - 1];
      for (std::size_t b = 0; b < B_; ++b) scaled[n * B_ + b] = a[n * B_ + b] * c;
    }
    const std::size_t T = net_.theta_count;
    switch (kind_) {
      case law_kind::shift_relu1:
        edge_vjp(slice_, T, v.data(), scaled.data(), out.data(), g_theta.data(), B_,
                 [](const double* vs, const double* vd, const double* as, const double* ad, double* __restrict os,
                    double* __restrict od, const double* th, double* g, std::size_t B) {
                   const double shift = th[0], gain = th[1];
                   double g0 = 0, g1 = 0;
#pragma GCC ivdep
                   for (std::size_t b = 0; b < B; ++b) {
                     const double u = vs[b] - vd[b] - shift;
                     const double w = u > 0 ? ad[b] - as[b] : 0.0;  // the edge is off: no sensitivity
                     os[b] += w * gain;
                     od[b] -= w * gain;
                     g0 -= w * gain;
                     g1 += w * u;
                   }
                   g[0] += g0;
                   g[1] += g1;
                 });
        break;
      case law_kind::conductance:
        edge_vjp(slice_, T, v.data(), scaled.data(), out.data(), g_theta.data(), B_,
                 [](const double* vs, const double* vd, const double* as, const double* ad, double* __restrict os,
                    double* __restrict od, const double* th, double* g, std::size_t B) {
                   double g0 = 0;
#pragma GCC ivdep
                   for (std::size_t b = 0; b < B; ++b) {
                     const double w = ad[b] - as[b];
                     os[b] += w * th[0];
                     od[b] -= w * th[0];
                     g0 += w * (vs[b] - vd[b]);
                   }
                   g[0] += g0;
                 });
        break;
      default: {
        // Through the registry's partials (tanh laws and registered functions).
        auto* partials = net_.law->partials;
        edge_vjp(slice_, T, v.data(), scaled.data(), out.data(), g_theta.data(), B_,
                 [partials, T](const double* vs, const double* vd, const double* as, const double* ad, double* os,
                               double* od, const double* th, double* g, std::size_t B) {
                   double d_theta[ir::max_edge_theta];
                   for (std::size_t b = 0; b < B; ++b) {
                     const double w = ad[b] - as[b];
                     double d_vs = 0, d_vd = 0;
                     partials(vs[b], vd[b], th, &d_vs, &d_vd, d_theta);
                     os[b] += w * d_vs;
                     od[b] += w * d_vd;
                     for (std::size_t k = 0; k < T; ++k) g[k] += w * d_theta[k];
                   }
                 });
        break;
      }
    }
  }

 private:
  const kn_network& net_;
  const kn_slice& slice_;
  std::size_t B_;
  law_kind kind_;
  rhs_counter& counter_;
};

// torchdiffeq's error norm: RMS over the state (ground block excluded) of
// err / (atol + rtol·|v|).
class rms_error_checker {
 public:
  using value_type = double;
  using algebra_type = odeint::range_algebra;
  rms_error_checker(double atol = 1e-3, double rtol = 1e-3, std::size_t skip = 0)
      : atol_(atol), rtol_(rtol), skip_(skip) {}
  template <class State, class Deriv, class Err, class Time>
  double error(algebra_type&, const State& x_old, const Deriv&, Err& x_err, Time) const {
    double sum = 0;
    const std::size_t n = x_err.size();
    for (std::size_t i = skip_; i < n; ++i) {
      const double r = x_err[i] / (atol_ + rtol_ * std::abs(x_old[i]));
      sum += r * r;
    }
    return n > skip_ ? std::sqrt(sum / static_cast<double>(n - skip_)) : 0.0;
  }

 private:
  double atol_, rtol_;
  std::size_t skip_;
};

using dopri5 = odeint::runge_kutta_dopri5<state>;
using controlled = odeint::controlled_runge_kutta<dopri5, rms_error_checker>;

// Dormand-Prince 5(4) tableau (the 5th-order solution odeint advances with).
constexpr double A[6][5] = {{0, 0, 0, 0, 0},
                            {1.0 / 5, 0, 0, 0, 0},
                            {3.0 / 40, 9.0 / 40, 0, 0, 0},
                            {44.0 / 45, -56.0 / 15, 32.0 / 9, 0, 0},
                            {19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729, 0},
                            {9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656}};
constexpr double Bw[6] = {35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84};

struct slice_record {
  std::vector<double> times;  // accepted step boundaries, times[0] = 0
  std::vector<state> states;  // the state at each
};

struct group_run {
  std::size_t first = 0, width = 0;  // columns of the batch
  std::vector<slice_record> slices;  // when kept for the backward pass
  state final_state;
  std::vector<state> slice_end;  // per slice
  kn_stats stats;
};

state initial_state(const kn_network& net, const Eigen::MatrixXd& x, std::size_t first, std::size_t B) {
  state v((net.nodes + 1) * B, 0.0);
  for (std::size_t i = 0; i < net.inputs; ++i)
    for (std::size_t b = 0; b < B; ++b) v[(i + 1) * B + b] = x(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(first + b));
  return v;
}

// Integrates one slice in place; records accepted steps if `record`.
void integrate_slice(const kn_network& net, std::size_t k, state& v, std::size_t B, const kn_tolerances& tol,
                     slice_record* record, kn_stats& stats, const std::function<void(double, const state&)>& observe = {}) {
  const kn_slice& s = net.slices[k];
  rhs_counter counter;
  slice_system system(net, s, B, counter);
  controlled stepper(rms_error_checker(tol.atol, tol.rtol, B));
  const double T = s.duration;
  double t = 0.0, dt = std::min(tol.first_step, T);
  if (record) {
    record->times = {0.0};
    record->states = {v};
  }
  std::size_t accepted = 0, rejected = 0;
  while (T > 0 && t < T) {
    const bool last = t + dt >= T;
    if (last) dt = T - t;
    const double t_before = t;
    auto result = stepper.try_step(std::ref(system), v, t, dt);
    if (result == odeint::success) {
      ++accepted;
      if (last) t = T;
      if (record) {
        record->times.push_back(t);
        record->states.push_back(v);
      }
      if (observe) observe(t, v);
    } else {
      ++rejected;
      t = t_before;
    }
    if (accepted + rejected > tol.max_steps)
      throw error(fmt::format("KirchhoffNet slice {}: no solution within {} steps at rtol {} / atol {} (reached t = "
                              "{} of {}, last step {}); loosen the tolerances or check theta for a stiff circuit",
                              k, tol.max_steps, tol.rtol, tol.atol, t, T, dt));
    if (!(dt > 0) || !std::isfinite(dt))
      throw error(fmt::format("KirchhoffNet slice {}: the step size became {} at t = {} (the state is not finite?)",
                              k, dt, t));
  }
  stats.accepted_steps += accepted;
  stats.rejected_steps += rejected;
  stats.rhs_evaluations += counter.evaluations;
}

// The discrete adjoint of one slice: lambda (∂L/∂v at the slice end) becomes
// ∂L/∂v at the slice start; ∂L/∂θ accumulates into g_theta.
void backward_slice(const kn_network& net, std::size_t k, const slice_record& record, state& lambda, std::size_t B,
                    std::vector<double>& g_theta, kn_stats& stats) {
  const kn_slice& s = net.slices[k];
  rhs_counter counter;
  slice_system system(net, s, B, counter);
  const std::size_t n = lambda.size();
  std::vector<state> y(6, state(n)), kst(6, state(n));
  std::vector<state> g(6, state(n));
  state mu(n), scaled(n);
  for (std::size_t step = record.times.size() - 1; step-- > 0;) {
    const double h = record.times[step + 1] - record.times[step];
    const state& x = record.states[step];
    // Recompute the stages.
    for (std::size_t i = 0; i < 6; ++i) {
      state& yi = y[i];
      for (std::size_t p = 0; p < n; ++p) {
        double acc = x[p];
        for (std::size_t j = 0; j < i; ++j) acc += h * A[i][j] * kst[j][p];
        yi[p] = acc;
      }
      system(yi, kst[i], 0.0);
    }
    // Reverse through x1 = x + h Σ b_i k_i.
    for (std::size_t i = 0; i < 6; ++i)
      for (std::size_t p = 0; p < n; ++p) g[i][p] = h * Bw[i] * lambda[p];
    for (std::size_t i = 6; i-- > 0;) {
      std::fill(mu.begin(), mu.end(), 0.0);
      system.vjp(y[i], g[i], mu, g_theta, scaled);
      for (std::size_t p = 0; p < n; ++p) lambda[p] += mu[p];
      for (std::size_t j = 0; j < i; ++j)
        for (std::size_t p = 0; p < n; ++p) g[j][p] += h * A[i][j] * mu[p];
    }
    std::fill(lambda.begin(), lambda.begin() + B, 0.0);  // ground is not a state
  }
  stats.rhs_evaluations += counter.evaluations;
}

std::vector<group_run> forward_groups(const kn_network& net, const Eigen::MatrixXd& x, const kn_tolerances& tol,
                                      bool keep) {
  if (static_cast<std::size_t>(x.rows()) != net.inputs)
    throw error(fmt::format("KirchhoffNet: input has {} rows but the model has {} inputs", x.rows(), net.inputs));
  const std::size_t batch = static_cast<std::size_t>(x.cols());
  const std::size_t G = std::max<std::size_t>(1, tol.group);
  std::vector<group_run> runs((batch + G - 1) / G);
  for (std::size_t r = 0; r < runs.size(); ++r) {
    runs[r].first = r * G;
    runs[r].width = std::min(G, batch - r * G);
  }
  std::atomic<std::size_t> next{0};
  const int workers = std::max(1, std::min<int>(resolve_threads(tol.threads), static_cast<int>(runs.size())));
  parallel_workers(workers, [&](int) {
    for (std::size_t r; (r = next++) < runs.size();) {
      group_run& run = runs[r];
      state v = initial_state(net, x, run.first, run.width);
      if (keep) run.slices.resize(net.slices.size());
      for (std::size_t k = 0; k < net.slices.size(); ++k) {
        integrate_slice(net, k, v, run.width, tol, keep ? &run.slices[k] : nullptr, run.stats);
        run.slice_end.push_back(v);
      }
      run.final_state = std::move(v);
      run.stats.groups = 1;
    }
  });
  return runs;
}

kn_forward_result collect(const kn_network& net, const std::vector<group_run>& runs, std::size_t batch) {
  kn_forward_result out;
  out.outputs.resize(static_cast<Eigen::Index>(net.outputs()), static_cast<Eigen::Index>(batch));
  out.slice_states.assign(net.slices.size(), Eigen::MatrixXd(static_cast<Eigen::Index>(net.nodes),
                                                              static_cast<Eigen::Index>(batch)));
  for (const auto& run : runs) {
    const std::size_t B = run.width;
    for (std::size_t b = 0; b < B; ++b) {
      const auto col = static_cast<Eigen::Index>(run.first + b);
      for (std::size_t o = 0; o < net.outputs(); ++o)
        out.outputs(static_cast<Eigen::Index>(o), col) = run.final_state[net.output_nodes[o] * B + b];
      for (std::size_t k = 0; k < net.slices.size(); ++k)
        for (std::size_t n = 1; n <= net.nodes; ++n)
          out.slice_states[k](static_cast<Eigen::Index>(n - 1), col) = run.slice_end[k][n * B + b];
    }
    out.stats.accepted_steps += run.stats.accepted_steps;
    out.stats.rejected_steps += run.stats.rejected_steps;
    out.stats.rhs_evaluations += run.stats.rhs_evaluations;
    out.stats.groups += run.stats.groups;
  }
  return out;
}

}  // namespace

kn_network kn_network::from_model(const ir::model& m) {
  if (m.kind != ir::family::kirchhoffnet)
    throw error(fmt::format("expected a kirchhoffnet model, got family {}", ir::to_string(m.kind)));
  ir::validate(m);
  kn_network net;
  net.inputs = static_cast<std::size_t>(m.sizes.at("inputs"));
  net.nodes = static_cast<std::size_t>(m.sizes.at("nodes"));
  net.theta_count = static_cast<std::size_t>(m.sizes.at("theta"));
  net.law = &ir::find_edge_function(m.options.at("edge_function"));
  for (double c : m.parameter("capacitance").values) net.inverse_capacitance.push_back(1.0 / c);
  net.output_nodes = ir::kirchhoff_output_nodes(m);
  for (std::int64_t k = 0; k < m.sizes.at("slices"); ++k) {
    kn_slice s;
    const auto& e = m.parameter(fmt::format("slice{}.edges", k)).values;
    for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
      s.source.push_back(static_cast<std::uint32_t>(e[i]));
      s.destination.push_back(static_cast<std::uint32_t>(e[i + 1]));
    }
    s.theta = m.parameter(fmt::format("slice{}.theta", k)).values;
    s.duration = m.parameter(fmt::format("slice{}.duration", k)).values.at(0);
    net.slices.push_back(std::move(s));
  }
  return net;
}

kn_forward_result kn_forward(const kn_network& net, const Eigen::MatrixXd& x, const kn_tolerances& tol) {
  return collect(net, forward_groups(net, x, tol, false), static_cast<std::size_t>(x.cols()));
}

std::vector<Eigen::MatrixXd> kn_trajectory(const kn_network& net, const Eigen::MatrixXd& x,
                                           std::span<const double> times, const kn_tolerances& tol) {
  const std::size_t batch = static_cast<std::size_t>(x.cols());
  std::vector<Eigen::MatrixXd> out(times.size(),
                                   Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(net.nodes), static_cast<Eigen::Index>(batch)));
  // Dense output: Dormand-Prince's own 4th-order interpolant between the
  // accepted steps of the same controlled integration.
  for (std::size_t first = 0; first < batch; first += std::max<std::size_t>(1, tol.group)) {
    const std::size_t B = std::min(std::max<std::size_t>(1, tol.group), batch - first);
    state v = initial_state(net, x, first, B);
    double t0 = 0.0;
    std::size_t next = 0;
    auto put = [&](std::size_t index, const state& s) {
      for (std::size_t n = 1; n <= net.nodes; ++n)
        for (std::size_t b = 0; b < B; ++b)
          out[index](static_cast<Eigen::Index>(n - 1), static_cast<Eigen::Index>(first + b)) = s[n * B + b];
    };
    while (next < times.size() && times[next] <= 0) put(next++, v);
    for (std::size_t k = 0; k < net.slices.size(); ++k) {
      const double T = net.slices[k].duration;
      rhs_counter counter;
      slice_system system(net, net.slices[k], B, counter);
      // Integrate with the controlled stepper and interpolate each step
      // with the Hermite cubic of its end states and slopes: accurate to the
      // step's error, enough for plots.
      kn_stats stats;
      state previous = v, slope_prev(v.size()), slope_now(v.size());
      double t_prev = 0.0;
      system(previous, slope_prev, 0.0);
      integrate_slice(net, k, v, B, tol, nullptr, stats, [&](double t, const state& now) {
        system(now, slope_now, 0.0);
        const double h = t - t_prev;
        while (next < times.size() && times[next] <= t0 + t + 1e-15) {
          const double s = (times[next] - t0 - t_prev) / h;
          state w(now.size());
          const double h00 = 2 * s * s * s - 3 * s * s + 1, h10 = s * s * s - 2 * s * s + s;
          const double h01 = -2 * s * s * s + 3 * s * s, h11 = s * s * s - s * s;
          for (std::size_t p = 0; p < w.size(); ++p)
            w[p] = h00 * previous[p] + h10 * h * slope_prev[p] + h01 * now[p] + h11 * h * slope_now[p];
          put(next++, w);
        }
        previous = now;
        slope_prev = slope_now;
        t_prev = t;
      });
      t0 += T;
    }
    while (next < times.size()) put(next++, v);
  }
  return out;
}

kn_gradient kn_backward(const kn_network& net, const Eigen::MatrixXd& x, const kn_output_seed& seed,
                        const kn_tolerances& tol) {
  const std::size_t batch = static_cast<std::size_t>(x.cols());
  auto runs = forward_groups(net, x, tol, true);
  kn_gradient out;
  out.forward = collect(net, runs, batch);
  Eigen::MatrixXd dy = seed(out.forward.outputs);
  SPICENN_ASSERT(dy.rows() == out.forward.outputs.rows() && dy.cols() == out.forward.outputs.cols(),
                 "seed has the shape of the outputs");
  out.inputs = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(net.inputs), static_cast<Eigen::Index>(batch));
  // Per-group θ sums, added in group order so that the result does not
  // depend on the thread count.
  std::vector<std::vector<std::vector<double>>> g_theta(runs.size());
  std::vector<std::size_t> backward_evaluations(runs.size(), 0);
  std::atomic<std::size_t> next{0};
  const int workers = std::max(1, std::min<int>(resolve_threads(tol.threads), static_cast<int>(runs.size())));
  parallel_workers(workers, [&](int) {
    for (std::size_t r; (r = next++) < runs.size();) {
      group_run& run = runs[r];
      const std::size_t B = run.width;
      state lambda((net.nodes + 1) * B, 0.0);
      for (std::size_t o = 0; o < net.outputs(); ++o)
        for (std::size_t b = 0; b < B; ++b)
          lambda[net.output_nodes[o] * B + b] += dy(static_cast<Eigen::Index>(o), static_cast<Eigen::Index>(run.first + b));
      auto& g = g_theta[r];
      g.resize(net.slices.size());
      kn_stats stats;
      for (std::size_t k = net.slices.size(); k-- > 0;) {
        g[k].assign(net.slices[k].theta.size(), 0.0);
        backward_slice(net, k, run.slices[k], lambda, B, g[k], stats);
        run.slices[k] = {};  // free the trajectory
      }
      for (std::size_t i = 0; i < net.inputs; ++i)
        for (std::size_t b = 0; b < B; ++b)
          out.inputs(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(run.first + b)) = lambda[(i + 1) * B + b];
      backward_evaluations[r] = stats.rhs_evaluations;
    }
  });
  for (auto n : backward_evaluations) out.backward_rhs_evaluations += n;
  out.theta.resize(net.slices.size());
  for (std::size_t k = 0; k < net.slices.size(); ++k) {
    out.theta[k].assign(net.slices[k].theta.size(), 0.0);
    for (const auto& g : g_theta)
      for (std::size_t i = 0; i < g[k].size(); ++i) out.theta[k][i] += g[k][i];
  }
  return out;
}

kn_slice_adjoint kn_slice_backward(const kn_network& net, std::size_t k, const Eigen::MatrixXd& start,
                                   const Eigen::MatrixXd& lambda_end, const kn_tolerances& tol) {
  SPICENN_ASSERT(k < net.slices.size(), "slice index in range");
  const auto N = static_cast<Eigen::Index>(net.nodes);
  if (start.rows() != N || lambda_end.rows() != N || start.cols() != lambda_end.cols())
    throw error(fmt::format("kn_slice_backward: start is {}×{} and lambda_end {}×{}; both must be nodes ({}) × batch",
                            start.rows(), start.cols(), lambda_end.rows(), lambda_end.cols(), N));
  const std::size_t batch = static_cast<std::size_t>(start.cols());
  const std::size_t G = std::max<std::size_t>(1, tol.group);
  const std::size_t groups = (batch + G - 1) / G;
  kn_slice_adjoint out;
  out.lambda_start.resize(N, start.cols());
  out.end_state.resize(N, start.cols());
  std::vector<std::vector<double>> g_theta(groups);
  std::atomic<std::size_t> next{0};
  const int workers = std::max(1, std::min<int>(resolve_threads(tol.threads), static_cast<int>(groups)));
  auto to_state = [&](const Eigen::MatrixXd& m, std::size_t first, std::size_t B) {
    state v((net.nodes + 1) * B, 0.0);
    for (std::size_t n = 1; n <= net.nodes; ++n)
      for (std::size_t b = 0; b < B; ++b)
        v[n * B + b] = m(static_cast<Eigen::Index>(n - 1), static_cast<Eigen::Index>(first + b));
    return v;
  };
  auto from_state = [&](const state& v, Eigen::MatrixXd& m, std::size_t first, std::size_t B) {
    for (std::size_t n = 1; n <= net.nodes; ++n)
      for (std::size_t b = 0; b < B; ++b)
        m(static_cast<Eigen::Index>(n - 1), static_cast<Eigen::Index>(first + b)) = v[n * B + b];
  };
  parallel_workers(workers, [&](int) {
    for (std::size_t r; (r = next++) < groups;) {
      const std::size_t first = r * G, B = std::min(G, batch - first);
      state v = to_state(start, first, B);
      slice_record record;
      kn_stats stats;
      integrate_slice(net, k, v, B, tol, &record, stats);
      from_state(v, out.end_state, first, B);
      state lambda = to_state(lambda_end, first, B);
      g_theta[r].assign(net.slices[k].theta.size(), 0.0);
      backward_slice(net, k, record, lambda, B, g_theta[r], stats);
      from_state(lambda, out.lambda_start, first, B);
    }
  });
  out.theta.assign(net.slices[k].theta.size(), 0.0);
  for (const auto& g : g_theta)
    for (std::size_t i = 0; i < g.size(); ++i) out.theta[i] += g[i];
  return out;
}

kn_loss_result kn_loss_gradient(const kn_network& net, const Eigen::MatrixXd& x, std::span<const int> labels,
                                const kn_tolerances& tol) {
  kn_loss_result result;
  result.gradient = kn_backward(
      net, x,
      [&](const Eigen::MatrixXd& logits) {
        Eigen::MatrixXd dy;
        result.loss = softmax_cross_entropy(logits, labels, &dy);
        return dy;
      },
      tol);
  return result;
}

}  // namespace spicenn::models
