// The KirchhoffNet spice evaluator: the compiled circuit (one B source per
// edge, θ inline or on alterable dc sources) in embedded ngspice, each slice a circuit
// of its own in its own engine, run as consecutive transients that carry the
// state (a Newton iteration then evaluates one slice's sources, not every
// slice's behind a gate: half the cost for two slices).
//
// forward: per sample, the input capacitors' initial conditions are set in
// place (`alter c<i> ic = x·volt`) and the first slice's `tran … uic` runs;
// every later slice starts from the node voltages where the previous one
// ended (`alter c<i> ic = …` for every node). The outputs are the output
// nodes at T, the hidden state the node voltages at every slice end.
//
// gradient (physics-aware training): the forward in SPICE; then, slice by
// slice from the last, the software model's discrete adjoint integrated
// from the SPICE state at the slice start (re-anchored at every boundary),
// seeded with ∂L/∂outputs of the SPICE outputs.
//
// θ is written into the expressions as numbers (the cheapest deck: no θ
// nodes), and a set_model with new θ recompiles and the engines re-parse.
// With evaluator_options::kirchhoffnet_alter_theta the first new θ instead
// recompiles with θ on alterable dc sources, and from then on an optimizer
// step alters the sources that changed (`alter ith… dc = θ`): no parse, but
// one more node per θ in every Newton iteration, which on large models
// costs more than the parse saves. A different structure (edges,
// capacitances, durations) recompiles.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>

#include "compiler/kirchhoffnet_compiler.hpp"
#include "core/error.hpp"
#include "cosim/kirchhoffnet_evaluators.hpp"
#include "cosim/spice_engines.hpp"
#include "models/kirchhoffnet.hpp"
#include "models/loss.hpp"

namespace spicenn::cosim {

namespace {

// Value of the sampled waveform y(t) at time `at` (linear interpolation).
double sample_at(const std::vector<double>& t, const std::vector<double>& y, double at) {
  if (t.empty()) throw internal_error("kirchhoffnet spice: empty transient");
  if (at >= t.back()) return y.back();
  if (at <= t.front()) return y.front();
  auto it = std::upper_bound(t.begin(), t.end(), at);
  const std::size_t i = static_cast<std::size_t>(it - t.begin());
  const double w = (at - t[i - 1]) / (t[i] - t[i - 1]);
  return y[i - 1] + w * (y[i] - y[i - 1]);
}

compiler::kirchhoffnet_compile_options evaluator_compile_options(const ir::model& m, spice_transient accuracy);

// The largest time step of a transient of the model whose slices add up to T.
double largest_step(spice_transient accuracy, double T) { return accuracy == spice_transient::precise ? T / 1000 : T / 20; }

// Everything but θ: a change here needs a new netlist.
bool same_structure(const ir::model& a, const ir::model& b) {
  if (a.sizes != b.sizes || a.options != b.options || !(a.scale == b.scale)) return false;
  for (const auto& t : a.parameters) {
    if (t.trainable) continue;
    const auto* u = b.find_parameter(t.name);
    if (!u || u->values != t.values) return false;
  }
  return true;
}

class kirchhoffnet_spice_evaluator final : public evaluator {
 public:
  kirchhoffnet_spice_evaluator(const ir::model& m, const evaluator_options& options)
      : options_(options), pool_(engine_options_of(options)) {
    tol_.rtol = options.ode_rtol;
    tol_.atol = options.ode_atol;
    tol_.threads = options.threads;
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::spice; }

  void set_model(const ir::model& m) override {
    const bool new_structure = !model_ || !same_structure(*model_, m);
    bool new_theta = false;
    if (!new_structure && !alterable_)
      for (std::int64_t k = 0; k < m.size("slices") && !new_theta; ++k)
        new_theta = m.parameter(fmt::format("slice{}.theta", k)).values != compiled_theta_[static_cast<std::size_t>(k)];
    if (new_structure || new_theta) {
      alterable_ = new_theta && options_.kirchhoffnet_alter_theta;
      circuits_.clear();
      compiled_theta_.clear();
      auto co = evaluator_compile_options(m, options_.transient);
      co.theta = alterable_ ? compiler::theta_storage::current_into_resistor : compiler::theta_storage::inline_values;
      for (std::int64_t k = 0; k < m.size("slices"); ++k) {
        compiled_theta_.push_back(m.parameter(fmt::format("slice{}.theta", k)).values);
        if (!(m.parameter(fmt::format("slice{}.duration", k)).values[0] > 0)) continue;
        co.only_slice = static_cast<int>(k);
        circuits_.push_back({static_cast<std::size_t>(k), compiler::compile_kirchhoffnet(m, co)});
      }
      slice_end_.clear();
      double T = 0;
      for (std::int64_t k = 0; k < m.size("slices"); ++k)
        slice_end_.push_back((T += m.parameter(fmt::format("slice{}.duration", k)).values[0]) * m.scale.second);
      volt_ = m.scale.volt;
      ++generation_;
    }
    model_ = m;
    net_ = models::kn_network::from_model(m);
    theta_.clear();
    for (const auto& s : net_.slices) theta_.push_back(s.theta);
  }

  evaluation forward(const Eigen::MatrixXd& x) override { return simulate(x); }

  loss_gradient gradient(const Eigen::MatrixXd& x, std::span<const int> labels) override {
    if (static_cast<Eigen::Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    if (options_.circuit_adjoint) return circuit_adjoint_gradient(x, labels);
    loss_gradient out;
    out.forward = simulate(x);
    Eigen::MatrixXd dy;
    out.loss = models::softmax_cross_entropy(out.forward.outputs, labels, &dy);
    const auto N = static_cast<Eigen::Index>(net_.nodes);
    Eigen::MatrixXd lambda = Eigen::MatrixXd::Zero(N, x.cols());
    for (std::size_t o = 0; o < net_.outputs(); ++o)
      lambda.row(static_cast<Eigen::Index>(net_.output_nodes[o] - 1)) += dy.row(static_cast<Eigen::Index>(o));
    for (std::size_t k = net_.slices.size(); k-- > 0;) {
      Eigen::MatrixXd start;
      if (k == 0) {
        start = Eigen::MatrixXd::Zero(N, x.cols());
        start.topRows(static_cast<Eigen::Index>(net_.inputs)) = x;
      } else {
        start = out.forward.hidden[k - 1];  // the SPICE state where slice k begins
      }
      auto adj = models::kn_slice_backward(net_, k, start, lambda, tol_);
      out.parameters[fmt::format("slice{}.theta", k)] = std::move(adj.theta);
      lambda = std::move(adj.lambda_start);
    }
    if (options_.input_gradient) out.inputs = lambda.topRows(static_cast<Eigen::Index>(net_.inputs));
    return out;
  }

 private:
  struct engine_state {
    std::size_t generation = 0;
    std::vector<double> theta;  // what the loaded circuit holds of its slice's θ
  };

  // One slice's circuit; slices of duration 0 have none.
  struct slice_circuit {
    std::size_t slice;
    compiler::compiled_kirchhoffnet compiled;
  };

  // The engine that holds circuit c for the worker whose pool engine is
  // `eng`: the pool's own for the first circuit, one more per later circuit.
  spice::engine& circuit_engine(spice::engine& eng, std::size_t c) {
    if (c == 0) return eng;
    std::lock_guard guard(states_lock_);
    auto& e = slice_engines_[{&eng, c}];
    if (!e) e = std::make_unique<spice::engine>(engine_options_of(options_));
    return *e;
  }

  // Loads or updates every circuit engine of the worker `eng` to the current model.
  void prepare(spice::engine& eng, spice_stats& stats) {
    for (std::size_t c = 0; c < circuits_.size(); ++c) {
      auto& e = circuit_engine(eng, c);
      auto& st = state_of(e);
      const auto& circuit = circuits_[c];
      const auto k = circuit.slice;
      if (st.generation != generation_) {
        e.load(circuit.compiled.text);
        ++stats.loads;
        st.generation = generation_;
        st.theta = compiled_theta_[k];  // what the netlist holds; later set_model calls may have changed theta_
      }
      if (!alterable_) continue;  // set_model recompiled for these θ
      for (std::size_t i = 0; i < theta_[k].size(); ++i)
        if (st.theta[i] != theta_[k][i]) {
          // θ (dimensionless) is the voltage of its 1 Ω node: the current θ A.
          e.alter(circuit.compiled.theta_sources[k][i], theta_[k][i]);
          st.theta[i] = theta_[k][i];
          ++stats.alters;
        }
    }
  }

  // One sample's transient on prepared engines: the time points (from 0 to
  // T, the slices' transients joined end to start) and every node's
  // voltages there (volts).
  struct transient {
    std::vector<double> t;
    std::vector<std::vector<double>> v;  // [node][point]
  };
  transient run_sample(spice::engine& eng, const Eigen::MatrixXd& x, Eigen::Index b, spice_stats& st) {
    transient tr;
    tr.v.resize(net_.nodes);
    const double max_step = largest_step(options_.transient, slice_end_.back());  // T in seconds
    double offset = 0;  // seconds: where this circuit's transient starts
    for (std::size_t c = 0; c < circuits_.size(); ++c) {
      auto& e = circuit_engine(eng, c);
      const auto& compiled = circuits_[c].compiled;
      if (c == 0) {
        for (std::size_t i = 0; i < net_.inputs; ++i)
          e.alter(compiled.capacitors[i], "ic", x(static_cast<Eigen::Index>(i), b) * volt_);
        st.alters += net_.inputs;
      } else {
        for (std::size_t n = 0; n < net_.nodes; ++n) e.alter(compiled.capacitors[n], "ic", tr.v[n].back());
        st.alters += net_.nodes;
      }
      const double stop = compiled.stop_time;
      try {
        e.tran(std::min(stop / 200, max_step), stop, {.max_step = std::min(max_step, stop), .uic = true});
      } catch (const spice::spice_error& err) {
        throw simulation_error(fmt::format("KirchhoffNet transient of slice {}, sample {}: {}", circuits_[c].slice, b,
                                           err.what()));
      }
      ++st.sweeps;
      // The first point of a later slice is the previous slice's last.
      const std::size_t skip = c == 0 ? 0 : 1;
      const auto t = e.real_vector("time");
      for (std::size_t p = skip; p < t.size(); ++p) tr.t.push_back(offset + t[p]);
      for (std::size_t n = 0; n < net_.nodes; ++n) {
        const auto v = e.real_vector(fmt::format("v({})", compiled.nodes[n]));
        tr.v[n].insert(tr.v[n].end(), v.begin() + static_cast<std::ptrdiff_t>(skip), v.end());
      }
      offset += stop;
    }
    return tr;
  }

  // Forward in ngspice, then per sample the adjoint circuit's backward
  // transient in a second engine: λ(0) and ∂L/∂θ read from the circuit.
  loss_gradient circuit_adjoint_gradient(const Eigen::MatrixXd& x, std::span<const int> labels) {
    check_inputs(x);
    const Eigen::Index B = x.cols();
    const auto N = static_cast<Eigen::Index>(net_.nodes);
    loss_gradient out;
    out.forward.outputs.resize(static_cast<Eigen::Index>(net_.outputs()), B);
    out.forward.hidden.assign(net_.slices.size(), Eigen::MatrixXd(N, B));
    out.inputs.resize(static_cast<Eigen::Index>(net_.inputs), B);
    const ir::physical_scale unit{1.0, 1.0, 1.0, 1.0, 1.0};
    const auto adjoint_options = compiler::kirchhoffnet_precise_simulator_options(unit);
    std::vector<std::vector<double>> zero = theta_;
    for (auto& g : zero) std::fill(g.begin(), g.end(), 0.0);
    // Per-range sums, added in range order afterwards: the result does not
    // depend on which thread finishes first.
    std::mutex sum_lock;
    std::map<long, std::pair<double, std::vector<std::vector<double>>>> sums;
    pool_.run(B, options_.threads, 1, stats_, [&](spice::engine& eng, long b0, long b1, spice_stats& st) {
      auto& adjoint = adjoint_engine(eng);
      std::vector<std::vector<double>> mine = zero;
      double my_loss = 0.0;
      prepare(eng, st);  // the adjoint decks go to their own engine; these keep the circuits
      for (long b = b0; b < b1; ++b) {
        const auto tr = run_sample(eng, x, b, st);
        record(tr, b, out.forward);
        const Eigen::MatrixXd y = out.forward.outputs.col(b);
        Eigen::MatrixXd dy;
        const int label = labels[static_cast<std::size_t>(b)];
        my_loss += models::softmax_cross_entropy(y, std::span<const int>(&label, 1), &dy);
        std::vector<double> lambda(net_.nodes, 0.0);
        for (std::size_t o = 0; o < net_.outputs(); ++o)
          lambda[net_.output_nodes[o] - 1] += dy(static_cast<Eigen::Index>(o), 0) / static_cast<double>(B);
        const auto deck = compiler::compile_kirchhoffnet_adjoint(*model_, tr.t, tr.v, lambda, adjoint_options);
        try {
          adjoint.load(deck.text);
          ++st.loads;
          adjoint.tran(deck.stop / 1000, deck.stop, {.max_step = deck.stop / 1000, .uic = true});
          ++st.ac_runs;
        } catch (const spice::spice_error& e) {
          throw simulation_error(fmt::format("KirchhoffNet circuit adjoint, sample {}: {}", b, e.what()));
        }
        const auto& cap = model_->parameter("capacitance").values;
        for (std::size_t i = 0; i < net_.inputs; ++i)
          out.inputs(static_cast<Eigen::Index>(i), b) = cap[i] * adjoint.real_vector(fmt::format("v({})", deck.adjoint_nodes[i])).back();
        for (std::size_t k = 0; k < deck.theta_integrals.size(); ++k)
          for (std::size_t j = 0; j < deck.theta_integrals[k].size(); ++j)
            mine[k][j] += adjoint.real_vector(fmt::format("v({})", deck.theta_integrals[k][j])).back();
      }
      std::lock_guard guard(sum_lock);
      sums[b0] = {my_loss, std::move(mine)};
      return 0.0;
    });
    double loss_sum = 0.0;
    std::vector<std::vector<double>> g_theta = zero;
    for (const auto& [b0, part] : sums) {
      loss_sum += part.first;
      for (std::size_t k = 0; k < g_theta.size(); ++k)
        for (std::size_t j = 0; j < g_theta[k].size(); ++j) g_theta[k][j] += part.second[k][j];
    }
    out.loss = loss_sum / static_cast<double>(B);
    for (std::size_t k = 0; k < g_theta.size(); ++k) out.parameters[fmt::format("slice{}.theta", k)] = g_theta[k];
    if (!options_.input_gradient) out.inputs.resize(0, 0);
    return out;
  }

  spice::engine& adjoint_engine(const spice::engine& eng) {
    std::lock_guard guard(states_lock_);
    auto& e = adjoint_engines_[&eng];
    if (!e) e = std::make_unique<spice::engine>(engine_options_of(options_));
    return *e;
  }

  void check_inputs(const Eigen::MatrixXd& x) const {
    if (static_cast<std::size_t>(x.rows()) != net_.inputs)
      throw error(fmt::format("KirchhoffNet spice: input has {} rows but the model has {} inputs", x.rows(), net_.inputs));
  }

  evaluation simulate(const Eigen::MatrixXd& x) {
    check_inputs(x);
    const Eigen::Index B = x.cols();
    const auto N = static_cast<Eigen::Index>(net_.nodes);
    evaluation out;
    out.outputs.resize(static_cast<Eigen::Index>(net_.outputs()), B);
    out.hidden.assign(net_.slices.size(), Eigen::MatrixXd(N, B));
    pool_.run(B, options_.threads, 1, stats_, [&](spice::engine& eng, long b0, long b1, spice_stats& st) {
      prepare(eng, st);
      for (long b = b0; b < b1; ++b) record(run_sample(eng, x, b, st), b, out);
      return 0.0;
    });
    return out;
  }

  // Sample b's outputs (the output nodes at T) and slice-end states into `out`.
  void record(const transient& tr, Eigen::Index b, evaluation& out) const {
    for (std::size_t o = 0; o < net_.outputs(); ++o)
      out.outputs(static_cast<Eigen::Index>(o), b) = tr.v[net_.output_nodes[o] - 1].back() / volt_;
    for (std::size_t k = 0; k < net_.slices.size(); ++k)
      for (std::size_t n = 0; n < net_.nodes; ++n)
        out.hidden[k](static_cast<Eigen::Index>(n), b) = sample_at(tr.t, tr.v[n], slice_end_[k]) / volt_;
  }

  engine_state& state_of(const spice::engine& eng) {
    std::lock_guard guard(states_lock_);
    return states_[&eng];  // node-based: references stay valid
  }

  evaluator_options options_;
  models::kn_tolerances tol_;
  std::optional<ir::model> model_;
  models::kn_network net_;
  std::vector<std::vector<double>> theta_;           // the model's θ now
  std::vector<std::vector<double>> compiled_theta_;  // [slice] the θ written into the circuits
  std::vector<slice_circuit> circuits_;              // the slices of positive duration, in order
  std::vector<double> slice_end_;                    // [slice] seconds
  double volt_ = 1.0;
  bool alterable_ = false;  // θ on dc sources (after the first change) or inline numbers
  std::size_t generation_ = 0;
  spice_engine_pool pool_;
  std::mutex states_lock_;
  std::map<const spice::engine*, engine_state> states_;
  std::map<const spice::engine*, std::unique_ptr<spice::engine>> adjoint_engines_;
  std::map<std::pair<const spice::engine*, std::size_t>, std::unique_ptr<spice::engine>> slice_engines_;
  spice_stats stats_;
};

compiler::kirchhoffnet_compile_options evaluator_compile_options(const ir::model& m, spice_transient accuracy) {
  compiler::kirchhoffnet_compile_options co;  // the callers choose co.theta
  co.transient_cards = false;
  // (The gated deck of kirchhoffnet_trajectory:) the slice-end states are
  // read at the boundaries, in the middle of the gate ramps, where the ramp
  // leaves an error of ~δ/4·|Δf| (after the ramp only ~δ²): a ramp of 1e-6
  // of the slice makes it negligible.
  co.gate_transition = 1e-6;
  if (accuracy == spice_transient::precise) co.simulator_options = compiler::kirchhoffnet_precise_simulator_options(m.scale);
  return co;
}

}  // namespace

kirchhoffnet_trajectories kirchhoffnet_trajectory(const ir::model& m, const Eigen::VectorXd& x, std::size_t points,
                                                  const evaluator_options& options) {
  if (points < 2) throw error("kirchhoffnet_trajectory: need at least 2 points");
  const auto net = models::kn_network::from_model(m);
  double T = 0;
  for (const auto& s : net.slices) T += s.duration;
  kirchhoffnet_trajectories out;
  for (std::size_t p = 0; p < points; ++p) out.times.push_back(T * static_cast<double>(p) / static_cast<double>(points - 1));
  const auto sw = models::kn_trajectory(net, x, out.times,
                                        {.rtol = options.ode_rtol, .atol = options.ode_atol, .threads = 1});
  const auto N = static_cast<Eigen::Index>(net.nodes);
  out.software.resize(N, static_cast<Eigen::Index>(points));
  for (std::size_t p = 0; p < points; ++p) out.software.col(static_cast<Eigen::Index>(p)) = sw[p].col(0);

  auto co = evaluator_compile_options(m, options.transient);
  co.theta = compiler::theta_storage::inline_values;  // one run: nothing to alter
  co.inputs.assign(x.data(), x.data() + x.size());
  const auto compiled = compiler::compile_kirchhoffnet(m, co);
  spice::engine eng;
  eng.load(compiled.text);
  const double max_step = largest_step(options.transient, compiled.stop_time);
  eng.tran(std::min(compiled.stop_time / 1000, max_step), compiled.stop_time, {.max_step = max_step, .uic = true});
  const auto t = eng.real_vector("time");
  out.spice.resize(N, static_cast<Eigen::Index>(points));
  for (Eigen::Index n = 0; n < N; ++n) {
    const auto v = eng.real_vector(fmt::format("v({})", compiled.nodes[static_cast<std::size_t>(n)]));
    for (std::size_t p = 0; p < points; ++p)
      out.spice(n, static_cast<Eigen::Index>(p)) = sample_at(t, v, out.times[p] * m.scale.second) / compiled.volt;
  }
  return out;
}

std::unique_ptr<evaluator> make_kirchhoffnet_spice_evaluator(const ir::model& m, const evaluator_options& options) {
  return std::make_unique<kirchhoffnet_spice_evaluator>(m, options);
}

}  // namespace spicenn::cosim
