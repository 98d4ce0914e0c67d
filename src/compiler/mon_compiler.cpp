#include "compiler/mon_compiler.hpp"

#include <cmath>

#include <fmt/format.h>

#include "compiler/netlist_template.hpp"
#include "compiler/netlist_writer.hpp"
#include "core/error.hpp"
#include "core/numbers.hpp"
#include "ir/prune.hpp"

namespace spicenn::compiler {

namespace {

std::string hidden_node(std::size_t stage, std::size_t unit) {
  return stage == 0 ? fmt::format("h{}", unit) : fmt::format("h{}_{}", stage, unit);
}

// Library file and subcircuit name of the model's diode.
std::pair<std::filesystem::path, std::string> diode_subcircuit(const ir::model& m) {
  const auto& ref = m.device("diode");
  return {ir::library_path(m, ref), ref.name};
}

}  // namespace

std::vector<std::pair<std::string, double>> mon_precise_simulator_options() { return precise_simulator_options(); }

compiled_mon compile_mon(const ir::model& m, const mon_compile_options& options) {
  if (m.kind != ir::family::mon)
    throw lowering_error(fmt::format("compile_mon: model family is '{}', not 'mon'", ir::to_string(m.kind)));
  const auto inputs = static_cast<std::size_t>(m.size("inputs"));
  const auto hidden = static_cast<std::size_t>(m.size("hidden"));
  const auto outputs = static_cast<std::size_t>(m.size("outputs"));
  const auto stages = static_cast<std::size_t>(m.size("stages"));
  if (!options.inputs.empty() && options.inputs.size() != inputs)
    throw lowering_error(fmt::format("compile_mon: {} input values given, the model has {} inputs", options.inputs.size(), inputs));
  const double volt = m.scale.volt, ohm = m.scale.ohm, ampere = m.scale.ampere;

  compiled_mon out;
  out.volt = volt;
  netlist_writer w(fmt::format("spicenn mon: {} inputs, {} stage(s) of {} hidden units, {} outputs", inputs, stages, hidden, outputs));
  if (!options.source_name.empty()) w.comment("model: " + options.source_name);
  w.comment(fmt::format("scale: 1 unit = {} V, {} A, {} ohm; conductance g -> R = {} / g", spice_number(volt), spice_number(ampere),
                        spice_number(ohm), spice_number(ohm)));
  auto [library, diode] = diode_subcircuit(m);
  w.include(library);

  const auto input_pair = netlist_template::load("input_pair.cir.in");
  const auto buffer_pair = netlist_template::load("buffer_pair.cir.in");
  const auto diode_clamp = netlist_template::load("diode_clamp.cir.in");
  const auto transimpedance = netlist_template::load("transimpedance_output.cir.in");

  w.blank_line();
  w.comment("inputs");
  std::vector<std::string> pos(inputs), neg(inputs);
  for (std::size_t k = 0; k < inputs; ++k) {
    pos[k] = fmt::format("x{}", k);
    neg[k] = fmt::format("xn{}", k);
    const double x = options.inputs.empty() ? 0.0 : options.inputs[k];
    w.instantiate(input_pair, {{"k", std::to_string(k)}, {"pos", pos[k]}, {"neg", neg[k]}, {"volts", spice_number(x * volt)}});
    out.input_sources.push_back("v" + pos[k]);
    out.inverted_input_sources.push_back("e" + neg[k]);
  }
  out.buffer_sources.resize(stages);
  out.inverted_buffer_sources.resize(stages);
  out.adjoint_sources.resize(stages);

  for (std::size_t s = 0; s < stages; ++s) {
    const std::size_t fan_in = s == 0 ? inputs : hidden;
    if (s > 0) {
      pos.assign(fan_in, {});
      neg.assign(fan_in, {});
      w.blank_line();
      w.comment(fmt::format("stage {} inputs: buffered copies of stage {}", s, s - 1));
      for (std::size_t k = 0; k < fan_in; ++k) {
        pos[k] = fmt::format("b{}_{}", s, k);
        neg[k] = fmt::format("bn{}_{}", s, k);
        w.instantiate(buffer_pair, {{"source", hidden_node(s - 1, k)}, {"pos", pos[k]}, {"neg", neg[k]}});
        out.buffer_sources[s].push_back("e" + pos[k]);
        out.inverted_buffer_sources[s].push_back("e" + neg[k]);
      }
    }
    const auto prefix = fmt::format("stage{}.", s);
    const auto& g_between = m.parameter(prefix + "g_between");
    const auto& g_ground = m.parameter(prefix + "g_ground");
    const auto& h_pos = m.parameter(prefix + "h_pos");
    const auto& h_neg = m.parameter(prefix + "h_neg");
    const auto& bias = m.parameter(prefix + "bias");
    w.blank_line();
    w.comment(fmt::format("stage {}: {} hidden units", s, hidden));
    if (!options.literal_input_pairs)
      w.comment("input pairs merged: rp/rn = |h_pos - h_neg| to the copy of that sign; 2*min(h_pos, h_neg) in rg");
    std::vector<std::string> nodes;
    for (std::size_t j = 0; j < hidden; ++j) nodes.push_back(hidden_node(s, j));
    for (std::size_t j = 0; j < hidden; ++j) {
      const auto& node = nodes[j];
      // The crossbar row of node j, and the ground conductance the merged
      // input pairs add (see mon_compiler.hpp).
      struct crossbar_resistor {
        std::string name;
        const std::string& node;
        double conductance;
      };
      std::vector<crossbar_resistor> crossbar;
      double pair_ground = 0.0;
      for (std::size_t k = 0; k < fan_in; ++k) {
        auto g = ir::merged_input_pair{h_pos.at({j, k}), h_neg.at({j, k}), 0.0};
        if (!options.literal_input_pairs) g = ir::merge_input_pair(g.pos, g.neg);
        pair_ground += g.ground;
        if (g.pos > 0) crossbar.push_back({fmt::format("rp{}_{}_{}", s, j, k), pos[k], g.pos});
        if (g.neg > 0) crossbar.push_back({fmt::format("rn{}_{}_{}", s, j, k), neg[k], g.neg});
      }
      w.instantiate(diode_clamp, {{"name", fmt::format("d{}_{}", s, j)}, {"node", node}, {"subckt", diode}});
      if (double g = g_ground.at({j}) + pair_ground; g > 0) w.resistor(fmt::format("rg{}_{}", s, j), node, "0", ohm / g);
      if (double b = bias.at({j}); b != 0) w.current_source(fmt::format("ib{}_{}", s, j), "0", node, b * ampere);
      if (options.adjoint_sources) {
        out.adjoint_sources[s].push_back(fmt::format("ij{}_{}", s, j));
        w.current_source(out.adjoint_sources[s].back(), "0", node, 0.0);
      }
      for (std::size_t k = j + 1; k < hidden; ++k)
        if (double g = g_between.at({j, k}); g > 0) w.resistor(fmt::format("rh{}_{}_{}", s, j, k), node, nodes[k], ohm / g);
      for (const auto& r : crossbar) w.resistor(r.name, node, r.node, ohm / r.conductance);
    }
    out.hidden_nodes.push_back(std::move(nodes));
  }

  // Readout y = C v + e: the transimpedance stage inverts, so a positive
  // weight draws from the inverted copy of v_j and a negative one from +v_j.
  const auto& weight = m.parameter("readout.weight");
  const auto& readout_bias = m.parameter("readout.bias");
  w.blank_line();
  w.comment("readout: buffered copies of the last stage, crossbar, transimpedance outputs");
  const auto& last = out.hidden_nodes.back();
  for (std::size_t j = 0; j < hidden; ++j)
    w.instantiate(buffer_pair, {{"source", last[j]}, {"pos", fmt::format("hb{}", j)}, {"neg", fmt::format("hn{}", j)}});
  for (std::size_t o = 0; o < outputs; ++o) {
    const auto sum = fmt::format("sum{}", o), node = fmt::format("out{}", o);
    w.instantiate(transimpedance, {{"o", std::to_string(o)}, {"sum", sum}, {"out", node}, {"gain", spice_number(-ohm)}});
    for (std::size_t j = 0; j < hidden; ++j) {
      const double c = weight.at({o, j});
      if (c == 0) continue;
      w.resistor(fmt::format("rc{}_{}", o, j), c > 0 ? fmt::format("hn{}", j) : fmt::format("hb{}", j), sum, ohm / std::abs(c));
    }
    if (double e = readout_bias.at({o}); e != 0) w.current_source(fmt::format("ie{}", o), "0", sum, -e * ampere);
    out.output_nodes.push_back(node);
  }
  w.closing_cards(options.simulator_options, options.operating_point_card);
  out.text = w.text();
  out.elements = w.element_count();
  out.resistors = w.resistors();
  return out;
}

mon_activation_deck compile_mon_activation(const ir::model& m, double conductance, double lo, double hi, int points,
                                           const std::vector<std::pair<std::string, double>>& simulator_options) {
  if (m.kind != ir::family::mon)
    throw lowering_error(fmt::format("compile_mon_activation: model family is '{}', not 'mon'", ir::to_string(m.kind)));
  if (!(conductance > 0.0) || !std::isfinite(conductance))
    throw lowering_error(fmt::format("compile_mon_activation: the node's conductance must be positive, not {}", conductance));
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi) || points < 2)
    throw lowering_error(fmt::format("compile_mon_activation: need lo < hi and at least 2 points (got {} .. {}, {})", lo, hi, points));
  mon_activation_deck out;
  out.volt = m.scale.volt;
  out.ampere = m.scale.ampere;
  const auto [library, diode] = diode_subcircuit(m);
  netlist_writer w(fmt::format("spicenn mon activation: diode {} at a node of {} units to ground", diode, spice_number(conductance)));
  w.comment(fmt::format("scale: 1 unit = {} V, {} A; sweep of the injected current {} .. {} A", spice_number(m.scale.volt),
                        spice_number(m.scale.ampere), spice_number(lo * m.scale.ampere), spice_number(hi * m.scale.ampere)));
  w.include(library);
  w.instantiate(netlist_template::load("diode_clamp.cir.in"), {{"name", "d"}, {"node", out.node}, {"subckt", diode}});
  w.resistor("rg", out.node, "0", m.scale.ohm / conductance);
  w.current_source(out.source, "0", out.node, 0.0);
  const double step = (hi - lo) / (points - 1) * m.scale.ampere;
  w.card(fmt::format(".dc {} {} {} {}", out.source, spice_number(lo * m.scale.ampere), spice_number(hi * m.scale.ampere),
                     spice_number(step)));
  w.card(fmt::format(".print dc v({})", out.node));  // the table `ngspice -b` prints
  w.closing_cards(simulator_options, false);
  out.text = w.text();
  return out;
}

}  // namespace spicenn::compiler
