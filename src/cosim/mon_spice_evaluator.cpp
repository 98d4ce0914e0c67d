// The MON spice evaluator: forward values and gradients read from ngspice.
//
// Forward (per chunk of samples and engine): the compiled netlist, batched by
// spice::evaluate_batch (inputs as pwl(v(spicenn_idx)) B-sources, one DC
// sweep over the sample index), probes = every hidden node of every stage and
// every output; node voltages ÷ scale.volt.
//
// Gradient (hardware linearization, models.md §2), on the same loaded chunk
// deck, per sample k and stage s = S-1 .. 0:
//   alter vspicenn_idx = k                       (once per sample)
//   alter @ij<s>_<j>[acmag] = γ·r_j·ampere       (every hidden node j of stage s;
//                                                 the other stages' sources at 0)
//   ac lin 1 1 1                                  (ngspice's own operating point of
//                                                 sample k, then the small-signal solve)
//   λ_j = Re v(h<s>_<j>) / (γ·volt)
// with r = Cᵀ ∂L/∂y for the last stage. The transfer to the previous stage,
// r' = H_sᵀ λ_s, is read from the circuit as well: the AC branch currents of
// the VCVS buffers that drive stage s, (i(eb<s>_<k>) − i(ebn<s>_<k>))/(γ·ampere);
// for stage 0 the same currents of the input sources give ∂L/∂x. γ scales the
// injection to a largest magnitude of one unit (the solve is linear).
// Then ∂L/∂θ per stage from models::mon_element_gradients(x_s, v_s, λ_s) with
// v from the DC sweep, and the readout gradients from ∂L/∂y and v.
//
// Nudged gradient (the default for a piecewise-linear diode): the same λ
// without an `ac` per sample. Per stage s = S-1 .. 0, one more batched DC
// sweep of the chunk whose deck also sweeps the stage's adjoint current
// sources, injecting β_k·r_k·ampere into the stage's nodes for sample k;
// then λ_k = (v'_k − v_k)/(β_k·volt) and the transfer to the previous stage
// is the change of the same branch currents, ÷ (β_k·ampere). For a
// piecewise-linear diode this is exact while no diode of the stage changes
// state (the circuit is then linear between v and v'); β_k is chosen so
// that |Δv| ≤ mon_nudge·volt (|λ| ≤ G⁻¹|r|) and, down to 1e-3 of that, below
// half of every blocking node's voltage; a sample where some node still
// changes sign is redone with the small-signal path above. For a smooth
// Shockley diode (I ∝ exp(V/(N·vt))) the nudge is central, two sweeps at
// ±β (consecutive points of one sweep, so the second starts a 2Δv away):
// λ = (v(β) − v(−β))/(2β), off by ~(Δv/(N·vt))²/6 relative (used when
// |Δv| ≤ 1e-3·N·vt) plus Newton's stopping tolerance over Δv (~1e-6).
//
// Plausibility: every node voltage of the sweep must lie within a bound
// derived from the model (see voltage_bound_for), and every λ within the
// bound |λ| ≤ G⁻¹|r| that holds for any diode conductances (K = G + diag(g_d)
// is an M-matrix ≥ G, so 0 ≤ K⁻¹ ≤ G⁻¹ elementwise).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <span>

#include "compiler/mon_compiler.hpp"
#include "core/error.hpp"
#include "core/numbers.hpp"
#include "core/parallel.hpp"
#include "cosim/mon_evaluators.hpp"
#include "cosim/spice_engines.hpp"
#include "devices/device.hpp"
#include "ir/schema.hpp"
#include "models/loss.hpp"
#include "models/mon.hpp"
#include "models/tensor_eigen.hpp"
#include "spice/batch.hpp"
#include "spice/engine.hpp"

namespace spicenn::cosim {

using models::row_major;
using models::to_row_major;
using models::vector_of;

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// What the plausibility checks need from the parameters: per stage G⁻¹ and
// |H| row sums, |bias|; the readout.
struct stage_bounds {
  MatrixXd G_inverse;   // >= 0
  VectorXd h_abs_rows;  // Σ_k |h_pos| + |h_neg|  per node (h_row_sum: both are >= 0)
  VectorXd bias_abs;
};

stage_bounds bounds_of(const models::mon_stage& st) {
  stage_bounds b;
  b.G_inverse = st.G_inverse.cwiseMax(0.0);
  b.h_abs_rows = st.h_row_sum;
  b.bias_abs = st.bias.cwiseAbs();
  return b;
}

// The netlist the evaluator batches: tight tolerances, adjoint sources, no .op.
compiler::compiled_mon compile_for_cosimulation(const ir::model& m, bool literal_input_pairs = false) {
  compiler::mon_compile_options co;
  co.literal_input_pairs = literal_input_pairs;
  co.operating_point_card = false;
  co.adjoint_sources = true;
  co.simulator_options = compiler::mon_precise_simulator_options();
  co.source_name = "spicenn co-simulation";
  return compiler::compile_mon(m, co);
}

// How gradient() reads λ: by ac, or by nudged sweeps (header comment).
enum class nudge {
  none,       // small-signal: an `ac` per sample and stage
  one_sided,  // piecewise-linear diode: λ = (v(β) − v)/β, exact while no diode changes state
  central,    // smooth Shockley diode: λ = (v(β) − v(−β))/2β, error ~(Δv/(N·vt))² relative
};

// A central nudge is used for a Shockley diode only where the largest |Δv|
// stays this small against N·vt (relative error below ~1e-7).
constexpr double smooth_nudge_fraction = 1e-3;

class mon_spice_evaluator_impl final : public mon_spice_evaluator {
 public:
  mon_spice_evaluator_impl(const ir::model& m, const evaluator_options& options)
      : options_(options), engines_(engine_options_of(options)) {
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::spice; }
  const std::string& netlist() const override { return net_.text; }
  const mon_spice_stats& last_stats() const override { return stats_; }
  double voltage_bound() const override { return last_bound_; }
  bool nudged_gradient() const override { return nudge_ != nudge::none; }

  void set_model(const ir::model& m) override {
    if (m.kind != ir::family::mon) throw error(fmt::format("mon spice evaluator: model family is '{}'", ir::to_string(m.kind)));
    ir::validate(m);  // sizes, shapes, signs, symmetry, devices
    nudge_ = nudge_for(m);
    net_ = compile_for_cosimulation(m);
    bounds_.clear();
    // G singular (a node without a path to ground or an input) throws here, naming the node.
    for (const auto& stage : models::mon_stages_from_model(m)) bounds_.push_back(bounds_of(stage));
    const Index n = m.size("hidden"), outs = m.size("outputs");
    C_ = row_major(m.parameter("readout.weight").values, outs, n);
    e_ = vector_of(m.parameter("readout.bias").values);
    volt_ = m.scale.volt;
    ampere_ = m.scale.ampere;
    inputs_ = m.size("inputs");
    trainable_ = trainable_tensors(m);
    // Diode reverse current (normalized) for the bound: a generous 1 uA.
    leak_ = 1e-6 / ampere_;
    input_branch_.clear();
    for (const auto& src : net_.input_sources) input_branch_.push_back(spice::batch_source_name(src));
  }

  evaluation forward(const MatrixXd& x) override {
    check_inputs(x);
    evaluation out;
    MatrixXd unused;
    run(x, nullptr, out, nullptr, unused);
    return out;
  }

  loss_gradient gradient(const MatrixXd& x, std::span<const int> labels) override {
    check_inputs(x);
    if (static_cast<Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    loss_gradient out;
    const auto stages = bounds_.size();
    std::vector<MatrixXd> lambda(stages);
    MatrixXd dy;
    out.loss = run(x, &labels, out.forward, &lambda, out.inputs, &dy);
    const auto& v = out.forward.hidden;
    std::map<std::string, std::vector<double>> all;
    for (std::size_t s = 0; s < stages; ++s) {
      const MatrixXd& xs = s == 0 ? x : v[s - 1];
      models::mon_store_gradient(static_cast<int>(s), models::mon_element_gradients(xs, v[s], lambda[s]), all);
    }
    MatrixXd dC = dy * v.back().transpose();
    all["readout.weight"] = to_row_major(dC);
    VectorXd de = dy.rowwise().sum();
    all["readout.bias"] = std::vector<double>(de.data(), de.data() + de.size());
    for (const auto& name : trainable_) {
      auto it = all.find(name);
      if (it == all.end()) throw internal_error(fmt::format("mon spice gradient: no gradient for '{}'", name));
      out.parameters[name] = std::move(it->second);
    }
    return out;
  }

 private:
  void check_inputs(const MatrixXd& x) const {
    if (x.rows() != inputs_)
      throw error(fmt::format("mon spice evaluator: input has {} rows but the model has {} inputs", x.rows(), inputs_));
    if (!x.allFinite()) throw error("mon spice evaluator: inputs contain non-finite values");
  }

  // Largest plausible |node voltage| (volts) for inputs bounded by x_max:
  // per stage ‖G⁻¹(|H|·1·x_max + |bias| + leak)‖∞ (the equilibrium satisfies
  // |v| ≤ G⁻¹|s| up to the diode's reverse current), chained through the
  // stages; the readout's ‖|C|‖∞·v_max + max|e|; then a factor 10 and 1 V of
  // headroom. ngspice's absurd "converged" results (1e11 V) are far beyond.
  double voltage_bound_for(double x_max) const {
    double in = x_max, top = x_max;
    for (const auto& b : bounds_) {
      VectorXd src = b.h_abs_rows * in + b.bias_abs;
      src.array() += leak_;
      in = (b.G_inverse * src).maxCoeff();
      top = std::max(top, in);
    }
    const double y = C_.cwiseAbs().rowwise().sum().maxCoeff() * in + (e_.size() ? e_.cwiseAbs().maxCoeff() : 0.0);
    top = std::max(top, y);
    return volt_ * (10.0 * top + 1.0);
  }


  // Runs forward (and the adjoint if lambda) over all samples; returns the
  // mean loss (gradient) or 0.
  double run(const MatrixXd& x, const std::span<const int>* labels, evaluation& fwd, std::vector<MatrixXd>* lambda, MatrixXd& dx,
             MatrixXd* dy_out = nullptr) {
    const Index B = x.cols();
    const auto stages = bounds_.size();
    const Index n = C_.cols(), outs = C_.rows();
    fwd.outputs.resize(outs, B);
    fwd.hidden.assign(stages, MatrixXd(n, B));
    MatrixXd dy(outs, B);
    if (lambda) {
      lambda->assign(stages, MatrixXd::Zero(n, B));
      dx.setZero(inputs_, B);
    }
    last_bound_ = voltage_bound_for(B ? x.cwiseAbs().maxCoeff() : 0.0);
    const double loss = engines_.run(B, options_.threads, lambda ? 1 : 16, stats_,
                                     [&](spice::engine& eng, long b0, long b1, spice_stats& stats) {
                                       return run_range(eng, x, labels, b0, b1, fwd, dy, lambda, dx, stats);
                                     });
    if (B == 0) return 0.0;
    if (dy_out) *dy_out = std::move(dy);
    return labels ? loss / static_cast<double>(B) : 0.0;
  }

  // One engine's share [b0, b1): returns the sum of its samples' losses.
  double run_range(spice::engine& eng, const MatrixXd& x, const std::span<const int>* labels, Index b0, Index b1, evaluation& fwd,
                   MatrixXd& dy, std::vector<MatrixXd>* lambda, MatrixXd& dx, spice_stats& stats) {
    double loss_sum = 0.0;
    const auto stages = bounds_.size();
    const Index n = C_.cols(), outs = C_.rows();
    std::vector<std::string> probes;
    for (const auto& stage : net_.hidden_nodes)
      for (const auto& node : stage) probes.push_back(fmt::format("v({})", node));
    for (const auto& node : net_.output_nodes) probes.push_back(fmt::format("v({})", node));
    // The nudged gradient differences the transfer currents against the forward's.
    std::vector<Index> transfer_column(stages);
    if (lambda && nudge_ == nudge::one_sided)
      for (std::size_t s = 0; s < stages; ++s) {
        transfer_column[s] = static_cast<Index>(probes.size());
        for (const auto& probe : transfer_probes(s)) probes.push_back(probe);
      }
    const Index B = x.cols();
    sweep_in_chunks(eng, "mon spice forward", net_.text, net_.input_sources, x, volt_, b0, b1, options_.spice_chunk, probes,
                    last_bound_, stats, [&](Index c0, Index m, const MatrixXd& values) {
      Index col = 0;
      for (std::size_t s = 0; s < stages; ++s)
        for (Index j = 0; j < n; ++j, ++col) fwd.hidden[s].row(j).segment(c0, m) = values.col(col).transpose() / volt_;
      for (Index o = 0; o < outs; ++o, ++col) fwd.outputs.row(o).segment(c0, m) = values.col(col).transpose() / volt_;
      if (!labels) return;

      MatrixXd dyc;
      loss_sum +=
          models::softmax_cross_entropy(fwd.outputs.middleCols(c0, m), labels->subspan(c0, m), &dyc, models::reduction::sum);
      dyc /= static_cast<double>(B);
      dy.middleCols(c0, m) = dyc;
      if (!lambda) return;
      if (nudge_ != nudge::none) {
        nudged_adjoint_chunk(eng, x, c0, m, dyc, values, transfer_column, *lambda, dx, stats);
        return;
      }
      std::vector<Index> all(static_cast<std::size_t>(m));
      for (Index r = 0; r < m; ++r) all[static_cast<std::size_t>(r)] = r;
      adjoint_chunk(eng, c0, all, dyc, *lambda, dx, stats);
    });
    return loss_sum;
  }

  // The nudge for this model's diode and options_.mon_gradient; throws when
  // a nudge is asked for but would not be exact.
  nudge nudge_for(const ir::model& m) const {
    if (options_.mon_gradient == spice_gradient::small_signal) return nudge::none;
    const auto& diode = m.device("diode");
    const devices::device* device = diode.library.empty() ? devices::builtin_devices().find(diode.name) : nullptr;
    nudge kind = nudge::none;
    std::string why = fmt::format("its diode '{}' is a library device", diode.name);
    if (device && device->piecewise_linear()) {
      kind = nudge::one_sided;
    } else if (auto law = device ? device->shockley() : std::nullopt) {
      const double dv = options_.mon_nudge * m.scale.volt, limit = smooth_nudge_fraction * law->n * law->vt;
      if (dv <= limit) kind = nudge::central;
      why = fmt::format("its Shockley diode '{}' bends within N·vt = {} V, and a nudge of {} V is more than {} of that",
                        diode.name, format_double(law->n * law->vt), format_double(dv), smooth_nudge_fraction);
    }
    if (kind == nudge::none && options_.mon_gradient == spice_gradient::nudged)
      throw error(fmt::format("mon spice evaluator: the nudged gradient is exact only for a piecewise-linear diode "
                              "(pwl_diode) or a Shockley diode that is straight over the nudge; {}; use the "
                              "small-signal gradient (ac)",
                              why));
    return kind;
  }

  // The sources whose branch currents carry the adjoint from stage s to
  // stage s-1 (for s = 0: to the inputs), positive and inverted copies.
  const std::vector<std::string>& transfer_positive(std::size_t s) const { return s == 0 ? input_branch_ : net_.buffer_sources[s]; }
  const std::vector<std::string>& transfer_negative(std::size_t s) const {
    return s == 0 ? net_.inverted_input_sources : net_.inverted_buffer_sources[s];
  }
  std::vector<std::string> transfer_probes(std::size_t s) const {
    std::vector<std::string> probes;
    for (const auto& src : transfer_positive(s)) probes.push_back(src + "#branch");
    for (const auto& src : transfer_negative(s)) probes.push_back(src + "#branch");
    return probes;
  }

  // The nudged adjoint of one chunk (header comment). `forward` holds the
  // forward sweep's probes: the hidden nodes stage by stage from column 0,
  // and for a one-sided nudge the transfer currents of stage s from
  // transfer_column[s].
  void nudged_adjoint_chunk(spice::engine& eng, const MatrixXd& x, Index c0, Index m, const MatrixXd& dyc,
                            const MatrixXd& forward, const std::vector<Index>& transfer_column,
                            std::vector<MatrixXd>& lambda, MatrixXd& dx, spice_stats& stats) {
    const auto stages = bounds_.size();
    const Index n = C_.cols();
    MatrixXd rhs = C_.transpose() * dyc;  // ∂L/∂v of the last stage, per sample
    std::vector<char> redo(static_cast<std::size_t>(m), 0);
    spice::batch_options bo;
    bo.chunk_size = static_cast<std::size_t>(m);
    bo.voltage_bound = last_bound_ + options_.mon_nudge * volt_;
    const MatrixXd inputs = x.middleCols(c0, m).transpose() * volt_;
    for (std::size_t s = stages; s-- > 0;) {
      VectorXd beta = VectorXd::Zero(m);
      MatrixXd swept(m, inputs.cols() + n);
      swept.leftCols(inputs.cols()) = inputs;
      swept.rightCols(n).setZero();
      for (Index r = 0; r < m; ++r) {
        if (redo[static_cast<std::size_t>(r)]) continue;
        const double top = (bounds_[s].G_inverse * rhs.col(r).cwiseAbs()).maxCoeff();
        if (!std::isfinite(top)) throw simulation_error("mon spice gradient: non-finite ∂L/∂v");
        if (!(top > 0.0)) continue;  // no loss signal: λ = 0 here and below
        beta[r] = options_.mon_nudge / top;
        if (nudge_ == nudge::one_sided) {
          // A blocking diode stays blocking while |Δv_j| < v_j: keep the bound
          // β·(G⁻¹|r|)_j below half of every positive node voltage, down to a
          // thousandth of the nudge (below that, rounding would show; such a
          // sample may still change state and is then redone by ac).
          const VectorXd reach = bounds_[s].G_inverse * rhs.col(r).cwiseAbs();
          double shrink = 1.0;
          for (Index j = 0; j < n; ++j) {
            const double v = forward(r, static_cast<Index>(s) * n + j) / volt_;
            if (v > 0.0 && beta[r] * reach[j] > 0.5 * v) shrink = std::min(shrink, 0.5 * v / (beta[r] * reach[j]));
          }
          beta[r] *= std::max(shrink, 1e-3);
        }
        swept.row(r).tail(n) = rhs.col(r).transpose() * (beta[r] * ampere_);
      }
      if (!(beta.maxCoeff() > 0.0)) break;
      std::vector<std::string> sources = net_.input_sources;
      sources.insert(sources.end(), net_.adjoint_sources[s].begin(), net_.adjoint_sources[s].end());
      std::vector<std::string> probes;
      for (const auto& node : net_.hidden_nodes[s]) probes.push_back(fmt::format("v({})", node));
      for (const auto& probe : transfer_probes(s)) probes.push_back(probe);
      auto sweep = [&](const MatrixXd& samples, std::string_view which) {
        try {
          MatrixXd values = spice::evaluate_batch(eng, net_.text, sources, samples, probes, bo);
          ++stats.loads;
          ++stats.sweeps;
          return values;
        } catch (const spice::spice_error& e) {
          throw simulation_error(fmt::format("mon spice gradient, samples {}..{}, stage {} {} sweep: {}", c0, c0 + m - 1, s,
                                             which, e.what()));
        }
      };
      // The nudged solution and the reference it is differenced against: the
      // forward sweep (one-sided), or the opposite nudge (central) as the
      // next point of the same sweep, which then starts a Δv away from it.
      MatrixXd nudged, base;
      double span = 1.0;  // Δ of the injection scale between the two solutions, in units of β
      if (nudge_ == nudge::central) {
        MatrixXd pairs(2 * m, swept.cols());
        for (Index r = 0; r < m; ++r) {
          pairs.row(2 * r) = swept.row(r);
          pairs.row(2 * r + 1) = swept.row(r);
          pairs.row(2 * r + 1).tail(n) *= -1.0;
        }
        bo.chunk_size = static_cast<std::size_t>(2 * m);
        const MatrixXd both = sweep(pairs, "nudged");
        nudged.resize(m, both.cols());
        base.resize(m, both.cols());
        for (Index r = 0; r < m; ++r) {
          nudged.row(r) = both.row(2 * r);
          base.row(r) = both.row(2 * r + 1);
        }
        span = 2.0;
      } else {
        nudged = sweep(swept, "nudged");
        base.resize(m, static_cast<Index>(probes.size()));
        base.leftCols(n) = forward.middleCols(static_cast<Index>(s) * n, n);
        base.rightCols(static_cast<Index>(probes.size()) - n) =
            forward.middleCols(transfer_column[s], static_cast<Index>(probes.size()) - n);
      }
      const Index transfers = static_cast<Index>(transfer_positive(s).size());
      for (Index r = 0; r < m; ++r) {
        if (redo[static_cast<std::size_t>(r)]) continue;
        const Index b = c0 + r;
        if (!(beta[r] > 0.0)) {
          if (s > 0) rhs.col(r).setZero();
          continue;
        }
        const double scale = span * beta[r];
        const VectorXd limit = bounds_[s].G_inverse * rhs.col(r).cwiseAbs();
        const double slack = 1e-9 * limit.maxCoeff() + 1e-300;
        for (Index j = 0; j < n; ++j) {
          const double before = base(r, j), after = nudged(r, j);
          if (nudge_ == nudge::one_sided && (before > 0.0) != (after > 0.0)) {
            redo[static_cast<std::size_t>(r)] = 1;  // the diode at node j changed state: not linear in between
            break;
          }
          const double l = (after - before) / (scale * volt_);
          if (!std::isfinite(l) || std::abs(l) > limit[j] * (1.0 + 1e-6) + slack)
            throw simulation_error(fmt::format(
                "mon spice gradient, sample {}: implausible nudged solution at node '{}' (stage {}): λ = {} but any "
                "diode conductances give |λ| <= {}; ngspice's solution of the nudged sweep is probably wrong",
                b, net_.hidden_nodes[s][static_cast<std::size_t>(j)], s, format_double(l), format_double(limit[j])));
          lambda[s](j, b) = l;
        }
        if (redo[static_cast<std::size_t>(r)]) continue;
        VectorXd next(transfers);
        for (Index k = 0; k < transfers; ++k) {
          const Index pos = n + k, neg = n + transfers + k;
          next[k] = ((nudged(r, pos) - base(r, pos)) - (nudged(r, neg) - base(r, neg))) / (scale * ampere_);
        }
        if (s == 0)
          dx.col(b) = next;
        else
          rhs.col(r) = next;
      }
    }
    std::vector<Index> fallback;
    for (Index r = 0; r < m; ++r)
      if (redo[static_cast<std::size_t>(r)]) fallback.push_back(r);
    if (fallback.empty()) return;
    // Redo those samples by the small-signal path on the forward deck.
    for (Index r : fallback) {
      for (auto& l : lambda) l.col(c0 + r).setZero();
      dx.col(c0 + r).setZero();
    }
    eng.load(spice::sweep_netlist(net_.text, net_.input_sources, inputs));
    ++stats.loads;
    stats.nudged_fallbacks += fallback.size();
    adjoint_chunk(eng, c0, fallback, dyc, lambda, dx, stats);
  }

  // Per listed sample (chunk-relative) of the loaded chunk deck: the
  // stage-by-stage AC solves.
  void adjoint_chunk(spice::engine& eng, Index c0, std::span<const Index> samples, const MatrixXd& dyc,
                     std::vector<MatrixXd>& lambda, MatrixXd& dx, spice_stats& stats) {
    const auto stages = bounds_.size();
    const Index n = C_.cols();
    std::vector<std::vector<double>> injected(stages, std::vector<double>(static_cast<std::size_t>(n), 0.0));
    auto set_injection = [&](std::size_t s, Index j, double amps) {
      double& cur = injected[s][static_cast<std::size_t>(j)];
      if (cur == amps) return;
      eng.alter(net_.adjoint_sources[s][static_cast<std::size_t>(j)], "acmag", amps);
      cur = amps;
      ++stats.alters;
    };
    auto real_of = [&](const std::string& vec) {
      auto values = eng.complex_vector(vec);
      if (values.size() != 1)
        throw simulation_error(fmt::format("mon spice gradient: ac vector '{}' has {} points, expected 1", vec, values.size()));
      return values[0].real();
    };
    for (Index r : samples) {
      const Index b = c0 + r;
      VectorXd rhs = C_.transpose() * dyc.col(r);  // ∂L/∂v of the last stage
      eng.alter(std::string(spice::sample_index_source), static_cast<double>(r));
      ++stats.alters;
      for (std::size_t s = stages; s-- > 0;) {
        const double top = rhs.cwiseAbs().maxCoeff();
        if (!(top > 0.0)) break;  // no loss signal: λ = 0 here and below
        if (!std::isfinite(top)) throw simulation_error("mon spice gradient: non-finite ∂L/∂v");
        const double gamma = 1.0 / top;
        for (std::size_t t = 0; t < stages; ++t)
          for (Index j = 0; j < n; ++j) set_injection(t, j, t == s ? rhs[j] * gamma * ampere_ : 0.0);
        try {
          eng.ac(spice::ac_sweep::lin, 1, 1.0, 1.0);
        } catch (const spice::spice_error& e) {
          throw simulation_error(fmt::format("mon spice gradient, sample {}, stage {} small-signal solve: {}", b, s, e.what()));
        }
        ++stats.ac_runs;
        // λ of stage s (normalized) and its plausibility: |λ| ≤ G⁻¹|r|.
        const VectorXd limit = bounds_[s].G_inverse * rhs.cwiseAbs();
        const double slack = 1e-9 * limit.maxCoeff() + 1e-300;
        for (Index j = 0; j < n; ++j) {
          const auto& node = net_.hidden_nodes[s][static_cast<std::size_t>(j)];
          const double l = real_of(fmt::format("v({})", node)) / (gamma * volt_);
          if (!std::isfinite(l) || std::abs(l) > limit[j] * (1.0 + 1e-6) + slack)
            throw simulation_error(
                fmt::format("mon spice gradient, sample {}: implausible small-signal solution at node '{}' (stage {}): "
                            "λ = {} but any diode conductances give |λ| <= {}; ngspice's operating point for the AC "
                            "analysis is probably wrong",
                            b, node, s, format_double(l), format_double(limit[j])));
          lambda[s](j, b) = l;
        }
        // Transfer to the previous stage (or the inputs) from the AC branch
        // currents of the sources driving stage s.
        const auto& pos = transfer_positive(s);
        const auto& neg = transfer_negative(s);
        VectorXd next(static_cast<Index>(pos.size()));
        for (std::size_t k = 0; k < pos.size(); ++k)
          next[static_cast<Index>(k)] = (real_of(pos[k] + "#branch") - real_of(neg[k] + "#branch")) / (gamma * ampere_);
        if (s == 0)
          dx.col(b) = next;
        else
          rhs = next;
      }
    }
    // Leave the deck's injections at zero (the deck is replaced per chunk anyway).
    for (std::size_t t = 0; t < stages; ++t)
      for (Index j = 0; j < n; ++j) set_injection(t, j, 0.0);
  }

  evaluator_options options_;
  compiler::compiled_mon net_;
  std::vector<stage_bounds> bounds_;
  MatrixXd C_;
  VectorXd e_;
  double volt_ = 1.0, ampere_ = 1e-4, leak_ = 0.0;
  Index inputs_ = 0;
  std::vector<std::string> trainable_;
  std::vector<std::string> input_branch_;
  spice_engine_pool engines_;
  spice_stats stats_;
  double last_bound_ = 0.0;
  nudge nudge_ = nudge::none;
};

}  // namespace

std::string mon_sweep_deck(const ir::model& m, const MatrixXd& x, bool literal_input_pairs) {
  if (m.kind != ir::family::mon) throw error(fmt::format("mon sweep deck: model family is '{}'", ir::to_string(m.kind)));
  ir::validate(m);
  if (x.rows() != m.size("inputs") || x.cols() < 1)
    throw error(fmt::format("mon sweep deck: inputs are {}x{}, the model has {} inputs", x.rows(), x.cols(), m.size("inputs")));
  const auto net = compile_for_cosimulation(m, literal_input_pairs);
  std::string deck = spice::sweep_netlist(net.text, net.input_sources, x.transpose() * m.scale.volt);
  std::string cards = fmt::format(".dc {} 0 {} 1\n.print dc", spice::sample_index_source, std::max<Index>(x.cols() - 1, 1));
  for (const auto& node : net.output_nodes) cards += fmt::format(" v({})", node);
  cards += "\n";
  const auto end = deck.rfind("\n.end");
  if (end == std::string::npos) return deck + cards + ".end\n";
  return deck.insert(end + 1, cards);
}

std::unique_ptr<mon_spice_evaluator> make_mon_spice_evaluator(const ir::model& m, const evaluator_options& options) {
  return std::make_unique<mon_spice_evaluator_impl>(m, options);
}

}  // namespace spicenn::cosim
