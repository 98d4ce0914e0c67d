// The KAN spice evaluator: forward values and gradients read from ngspice.
//
// The circuit is the compiled folded model (compiler::compile_kan; batch
// normalization of an unfolded model folds exactly in evaluation mode).
//
// Forward (per chunk of samples and engine): one batched DC sweep
// (spice::evaluate_batch) probing, per layer, every sense source current
// (Φ = i(vs<l>_<i>_<d>) / I_ref,d), every device voltage v(a<l>_<i>_<d>),
// every virtual-ground current (the value before the clamp:
// i(vsum<l>_<o>) / ampere) and every output node (÷ volt).
//
// Gradient: the device small-signal conductances at those operating points,
// from the linearization deck (compiler::compile_kan_linearization: every
// device of the circuit alone, held at its swept voltage, one operating
// point per sample through spice::sweep_netlist, a 1 V ac stimulus in
// series), per sample k:
//   alter vspicenn_idx = k
//   ac lin 1 1 1     (ngspice's operating point of the devices at sample k's
//                     voltages, then the small-signal solve)
//   g_j = dI/dV = −Re i(vg<j>),   ∂Φ/∂x = a_d·volt·g/I_ref,d
// One `ac` of the whole circuit would give the same conductances, but its
// fresh sparse reordering of the crossbar costs ~8 sweep points (docs/
// cosimulation.md). Then the software model's backward pass
// (models::kan_backward) runs on the circuit's Φ, slopes and pre-clamp
// values: the crossbar is linear with known conductances, so nothing else
// is needed from the simulator.
//
// Plausibility: |Φ| ≤ 1 (no device carries more than I_ref) and every node
// voltage within a bound derived from the weights (voltage_bound_for).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "compiler/kan_compiler.hpp"
#include "core/error.hpp"
#include "core/numbers.hpp"
#include "core/parallel.hpp"
#include "cosim/kan_evaluators.hpp"
#include "models/kan.hpp"
#include "models/loss.hpp"
#include "spice/batch.hpp"
#include "spice/engine.hpp"

namespace spicenn::cosim {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

compiler::compiled_kan compile_for_cosimulation(const ir::model& m) {
  compiler::kan_compile_options co;
  co.operating_point_card = false;
  co.simulator_options = compiler::precise_simulator_options();
  co.source_name = "spicenn co-simulation";
  return compiler::compile_kan(m, co);
}

class kan_spice_evaluator_impl final : public kan_spice_evaluator {
 public:
  kan_spice_evaluator_impl(const ir::model& m, const evaluator_options& options)
      : options_(options), engines_(engine_options_of(options)) {
    set_model(m);
  }

  engine_kind kind() const override { return engine_kind::spice; }
  const std::string& netlist() const override { return net_.text; }
  const kan_spice_stats& last_stats() const override { return stats_; }
  const std::vector<MatrixXd>& last_basis_values() const override { return phi_; }
  const std::vector<MatrixXd>& last_basis_slopes() const override { return slope_; }

  void set_model(const ir::model& m) override {
    if (m.kind != ir::family::kan) throw error(fmt::format("kan spice evaluator: model family is '{}'", ir::to_string(m.kind)));
    unfolded_ = m;
    const ir::model folded = models::kan_fold_batch_norm(m);  // validates
    network_ = models::kan_network::from_model(folded);
    net_ = compile_for_cosimulation(folded);
    linearization_.reset();  // compiled by the first gradient() of this model
    folded_ = folded;
    trainable_ = trainable_tensors(m);
    probes_.clear();
    basis_of_device_.clear();
    const auto L = network_.layers.size();
    for (std::size_t l = 0; l < L; ++l) {
      for (const auto& s : net_.sense_sources[l]) probes_.push_back(fmt::format("i({})", s));
      for (const auto& node : net_.device_nodes[l]) probes_.push_back(fmt::format("v({})", node));
      for (std::size_t r = 0; r < net_.device_nodes[l].size(); ++r)
        basis_of_device_.push_back(r / static_cast<std::size_t>(network_.layers[l].inputs));
      if (l + 1 < L)
        for (const auto& s : net_.sum_sources[l]) probes_.push_back(fmt::format("i({})", s));
      for (const auto& node : net_.output_nodes[l]) probes_.push_back(fmt::format("v({})", node));
    }
  }

  evaluation forward(const MatrixXd& x) override {
    check_inputs(x);
    evaluation out;
    run(x, nullptr, out, nullptr);
    return out;
  }

  loss_gradient gradient(const MatrixXd& x, std::span<const int> labels) override {
    check_inputs(x);
    if (static_cast<Index>(labels.size()) != x.cols())
      throw error(fmt::format("gradient: {} labels for {} samples", labels.size(), x.cols()));
    if (!linearization_)
      linearization_ = compiler::compile_kan_linearization(folded_, basis_of_device_, compiler::precise_simulator_options());
    loss_gradient out;
    MatrixXd dy;
    out.loss = run(x, &labels, out.forward, &dy);
    // The backward pass on the circuit's values.
    models::kan_forward_result fwd;
    fwd.mode = models::kan_mode::eval;
    for (std::size_t l = 0; l < network_.layers.size(); ++l) {
      models::kan_layer_state st;
      st.phi = phi_[l];
      st.slope = slope_[l];
      if (l < pre_clamp_.size()) st.pre_clamp = pre_clamp_[l];
      fwd.layers.push_back(std::move(st));
    }
    auto g = models::kan_backward(network_, fwd, dy, {.threads = options_.threads});
    const auto params = models::kan_unfold_gradient(unfolded_, g.parameters);
    for (const auto& name : trainable_) {
      auto it = params.find(name);
      if (it == params.end()) throw internal_error(fmt::format("kan spice gradient: no gradient for '{}'", name));
      out.parameters[name] = it->second;
    }
    out.inputs = std::move(g.inputs);
    return out;
  }

 private:
  void check_inputs(const MatrixXd& x) const {
    if (x.rows() != network_.inputs())
      throw error(fmt::format("kan spice evaluator: input has {} rows but the model has {} inputs", x.rows(), network_.inputs()));
    if (!x.allFinite()) throw error("kan spice evaluator: inputs contain non-finite values");
  }

  // Largest plausible |node voltage| (volts): the drives (|a|·x_max + |b|
  // per layer), the basis voltages (|u| ≤ volt), and the outputs
  // (Σ|W| + |β| per row); a factor 10 and 1 V of headroom. ngspice's absurd
  // "converged" results (1e11 V) are far beyond.
  double voltage_bound_for(double x_max) const {
    double in = x_max, top = x_max;
    for (std::size_t l = 0; l < network_.layers.size(); ++l) {
      const auto& layer = network_.layers[l];
      top = std::max(top, (layer.gain.cwiseAbs() * in + layer.offset.cwiseAbs()).maxCoeff() + 1.0);
      const double y = (layer.weight.cwiseAbs().rowwise().sum() + layer.bias.cwiseAbs()).maxCoeff();
      top = std::max(top, y);
      in = l + 1 < network_.layers.size() ? std::max(std::abs(network_.clamp_lo), std::abs(network_.clamp_hi)) : y;
    }
    return network_.volt * (10.0 * top + 1.0);
  }

  double run(const MatrixXd& x, const std::span<const int>* labels, evaluation& fwd, MatrixXd* dy) {
    const Index B = x.cols();
    const auto L = network_.layers.size();
    const auto D = static_cast<Index>(network_.bases.size());
    fwd.outputs.resize(network_.outputs(), B);
    fwd.hidden.clear();
    phi_.clear();
    slope_.clear();
    pre_clamp_.clear();
    device_volts_.clear();
    for (std::size_t l = 0; l < L; ++l) {
      const auto& layer = network_.layers[l];
      phi_.emplace_back(D * layer.inputs, B);
      device_volts_.emplace_back(D * layer.inputs, B);
      if (dy) slope_.emplace_back(D * layer.inputs, B);
      if (l + 1 < L) {
        fwd.hidden.emplace_back(layer.outputs, B);
        pre_clamp_.emplace_back(layer.outputs, B);
      }
    }
    if (dy) dy->resize(network_.outputs(), B);
    bound_ = voltage_bound_for(B ? x.cwiseAbs().maxCoeff() : 0.0);
    const double loss =
        engines_.run(B, options_.threads, dy ? 1 : 16, stats_, [&](spice::engine& eng, long b0, long b1, spice_stats& stats) {
          return run_range(eng, x, labels, b0, b1, fwd, dy, stats);
        });
    return labels && B ? loss / static_cast<double>(B) : 0.0;
  }

  // One engine's share [b0, b1): returns the sum of its samples' losses.
  double run_range(spice::engine& eng, const MatrixXd& x, const std::span<const int>* labels, Index b0, Index b1, evaluation& fwd,
                   MatrixXd* dy, spice_stats& stats) {
    double loss_sum = 0.0;
    const auto L = network_.layers.size();
    const Index B = x.cols();
    sweep_in_chunks(eng, "kan spice forward", net_.text, net_.input_sources, x, network_.volt, b0, b1, options_.spice_chunk,
                    probes_, bound_, stats, [&](Index c0, Index m, const MatrixXd& values) {
                      Index col = 0;
                      for (std::size_t l = 0; l < L; ++l) {
                        const auto& layer = network_.layers[l];
                        for (Index r = 0; r < phi_[l].rows(); ++r, ++col) {
                          const double i_ref = net_.reference_currents[static_cast<std::size_t>(r / layer.inputs)];
                          phi_[l].row(r).segment(c0, m) = values.col(col).transpose() / i_ref;
                        }
                        for (Index r = 0; r < phi_[l].rows(); ++r, ++col)
                          device_volts_[l].row(r).segment(c0, m) = values.col(col).transpose();
                        if (l + 1 < L)
                          for (Index o = 0; o < layer.outputs; ++o, ++col)
                            pre_clamp_[l].row(o).segment(c0, m) = values.col(col).transpose() / net_.ampere;
                        MatrixXd& target = l + 1 < L ? fwd.hidden[l] : fwd.outputs;
                        for (Index o = 0; o < layer.outputs; ++o, ++col)
                          target.row(o).segment(c0, m) = values.col(col).transpose() / network_.volt;
                        check_basis_values(l, c0, m);
                      }
                      if (!labels || !dy) return;
                      MatrixXd dyc;
                      loss_sum += models::softmax_cross_entropy(fwd.outputs.middleCols(c0, m), labels->subspan(c0, m), &dyc,
                                                                models::reduction::sum);
                      dy->middleCols(c0, m) = dyc / static_cast<double>(B);
                      slopes_chunk(eng, c0, m, stats);
                    });
    return loss_sum;
  }

  void check_basis_values(std::size_t l, Index c0, Index m) const {
    const auto block = phi_[l].middleCols(c0, m);
    Index r = 0, c = 0;
    const double worst = block.cwiseAbs().maxCoeff(&r, &c);
    if (!std::isfinite(worst) || worst > 1.0 + 1e-6)
      throw simulation_error(
          fmt::format("kan spice forward, sample {}: implausible device current in {}: {} × I_ref, but "
                      "no basis device carries more than I_ref; ngspice's operating point is probably wrong",
                      c0 + c, net_.sense_sources[l][static_cast<std::size_t>(r)], format_double(worst)));
  }

  // The device conductances of samples c0..c0+m-1 from the linearization
  // deck, loaded on `eng` in place of the circuit (its values are read).
  void slopes_chunk(spice::engine& eng, Index c0, Index m, spice_stats& stats) {
    const auto L = network_.layers.size();
    MatrixXd volts(m, static_cast<Index>(basis_of_device_.size()));
    Index j = 0;
    for (std::size_t l = 0; l < L; ++l)
      for (Index r = 0; r < device_volts_[l].rows(); ++r, ++j) volts.col(j) = device_volts_[l].row(r).segment(c0, m).transpose();
    const std::string deck = spice::sweep_netlist(linearization_->text, linearization_->drive_sources, volts);
    eng.load(deck);
    ++stats.loads;
    for (Index k = 0; k < m; ++k) {
      const Index b = c0 + k;
      eng.alter(std::string(spice::sample_index_source), static_cast<double>(k));
      ++stats.alters;
      try {
        eng.ac(spice::ac_sweep::lin, 1, 1.0, 1.0);
      } catch (const spice::spice_error& e) {
        throw simulation_error(fmt::format("kan spice gradient, sample {}: small-signal solve of the devices: {}", b, e.what()));
      }
      ++stats.ac_runs;
      j = 0;
      for (std::size_t l = 0; l < L; ++l) {
        const auto& layer = network_.layers[l];
        for (Index row = 0; row < slope_[l].rows(); ++row, ++j) {
          const auto& source = linearization_->stimulus_sources[static_cast<std::size_t>(j)];
          const auto values = eng.complex_vector(source + "#branch");
          if (values.size() != 1)
            throw simulation_error(
                fmt::format("kan spice gradient: ac vector '{}#branch' has {} points, expected 1", source, values.size()));
          const double g = -values[0].real();
          if (!std::isfinite(g))
            throw simulation_error(
                fmt::format("kan spice gradient, sample {}: non-finite small-signal conductance of device {} ({})", b,
                            net_.sense_sources[l][static_cast<std::size_t>(row)].substr(2), source));
          const auto d = static_cast<std::size_t>(row / layer.inputs);
          slope_[l](row, b) = layer.gain[static_cast<Index>(d)] * network_.volt * g / net_.reference_currents[d];
        }
      }
    }
  }

  evaluator_options options_;
  ir::model unfolded_;
  models::kan_network network_;  // of the folded model: the circuit's weights
  compiler::compiled_kan net_;
  std::vector<std::string> trainable_;
  std::vector<std::string> probes_;
  spice_engine_pool engines_;
  std::vector<MatrixXd> phi_, slope_, pre_clamp_, device_volts_;
  ir::model folded_;
  std::vector<std::size_t> basis_of_device_;  // basis index of every device, layers in order
  std::optional<compiler::kan_linearization_deck> linearization_;  // of folded_, shared by the engines
  spice_stats stats_;
  double bound_ = 0.0;
};

}  // namespace

std::string kan_sweep_deck(const ir::model& m, const MatrixXd& x) {
  if (m.kind != ir::family::kan) throw error(fmt::format("kan sweep deck: model family is '{}'", ir::to_string(m.kind)));
  const auto net = compile_for_cosimulation(m);
  if (x.rows() != static_cast<Index>(net.input_sources.size()) || x.cols() < 1)
    throw error(
        fmt::format("kan sweep deck: inputs are {}x{}, the model has {} inputs", x.rows(), x.cols(), net.input_sources.size()));
  std::string deck = spice::sweep_netlist(net.text, net.input_sources, x.transpose() * m.scale.volt);
  std::string cards = fmt::format(".dc {} 0 {} 1\n.print dc", spice::sample_index_source, std::max<Index>(x.cols() - 1, 1));
  for (const auto& node : net.output_nodes.back()) cards += fmt::format(" v({})", node);
  cards += "\n";
  const auto end = deck.rfind("\n.end");
  if (end == std::string::npos) return deck + cards + ".end\n";
  return deck.insert(end + 1, cards);
}

std::unique_ptr<kan_spice_evaluator> make_kan_spice_evaluator(const ir::model& m, const evaluator_options& options) {
  return std::make_unique<kan_spice_evaluator_impl>(m, options);
}

}  // namespace spicenn::cosim
