#include "compiler/kan_compiler.hpp"

#include <fmt/format.h>

#include <cmath>

#include "compiler/netlist_template.hpp"
#include "core/error.hpp"
#include "models/kan.hpp"

namespace spicenn::compiler {

compiled_kan compile_kan(const ir::model& model, const kan_compile_options& options) {
  if (model.kind != ir::family::kan)
    throw lowering_error(fmt::format("compile_kan: model family is '{}', not 'kan'", ir::to_string(model.kind)));
  const ir::model m = models::kan_fold_batch_norm(model);  // validates
  const auto net = models::kan_network::from_model(m);
  const auto L = net.layers.size();
  const auto D = net.bases.size();
  const auto inputs = static_cast<std::size_t>(net.inputs());
  if (!options.inputs.empty() && options.inputs.size() != inputs)
    throw lowering_error(
        fmt::format("compile_kan: {} input values given, the model has {} inputs", options.inputs.size(), inputs));
  const double volt = m.scale.volt, ohm = m.scale.ohm, ampere = m.scale.ampere;

  compiled_kan out;
  out.volt = volt;
  out.ampere = ampere;
  std::string widths = std::to_string(inputs);
  for (const auto& layer : net.layers) widths += fmt::format("-{}", layer.outputs);
  netlist_writer w(fmt::format("spicenn kan: layers {}, {} basis device(s) per edge", widths, D));
  if (!options.source_name.empty()) w.comment("model: " + options.source_name);
  w.comment(fmt::format("scale: 1 unit = {} V, {} A, {} ohm; coefficient c -> R = {} / |c|", spice_number(volt),
                        spice_number(ampere), spice_number(ohm), spice_number(ohm)));
  std::vector<std::string> subckt(D);
  for (std::size_t d = 0; d < D; ++d) {
    const auto& ref = m.device(fmt::format("basis{}", d));
    w.include(ir::library_path(m, ref));
    subckt[d] = ref.name;
    out.reference_currents.push_back(net.bases[d].reference_current());
    w.comment(fmt::format("basis {}: {}, I_ref = max |I| over [{}, {}] V = {} A", d, ref.name,
                          spice_number(net.bases[d].window().lo), spice_number(net.bases[d].window().hi),
                          spice_number(out.reference_currents[d])));
  }
  if (model.find_parameter("layer0.bn_weight")) w.comment("batch normalization folded into coef and bias");

  const auto cell_template = netlist_template::load("kan_basis_cell.cir.in");
  const auto inverted_template = netlist_template::load("kan_inverted_copy.cir.in");
  const auto clamped_template = netlist_template::load("kan_clamped_output.cir.in");
  const auto linear_template = netlist_template::load("transimpedance_output.cir.in");

  w.blank_line();
  w.comment("inputs");
  std::vector<std::string> in_nodes(inputs);
  for (std::size_t i = 0; i < inputs; ++i) {
    in_nodes[i] = fmt::format("x{}", i);
    out.input_sources.push_back("v" + in_nodes[i]);
    w.voltage_source(out.input_sources.back(), in_nodes[i], "0", (options.inputs.empty() ? 0.0 : options.inputs[i]) * volt);
  }
  out.sense_sources.resize(L);
  out.device_nodes.resize(L);
  out.sum_sources.resize(L);
  out.output_nodes.resize(L);
  for (std::size_t l = 0; l < L; ++l) {
    const auto& layer = net.layers[l];
    const auto n_in = static_cast<std::size_t>(layer.inputs), n_out = static_cast<std::size_t>(layer.outputs);
    const bool last = l + 1 == L;
    w.blank_line();
    w.comment(fmt::format(
        "layer {}: {} inputs x {} bases -> {} outputs{}", l, n_in, D, n_out,
        last ? ""
             : fmt::format(", clamped to [{}, {}] V", spice_number(net.clamp_lo * volt), spice_number(net.clamp_hi * volt))));
    out.sense_sources[l].resize(D * n_in);
    out.device_nodes[l].resize(D * n_in);
    for (std::size_t d = 0; d < D; ++d)
      for (std::size_t i = 0; i < n_in; ++i) {
        const auto r = d * n_in + i;
        const auto cell = fmt::format("{}_{}_{}", l, i, d);
        const double rt = volt / out.reference_currents[d];
        w.instantiate(cell_template, {{"l", std::to_string(l)},
                                      {"i", std::to_string(i)},
                                      {"d", std::to_string(d)},
                                      {"cell", cell},
                                      {"subckt", subckt[d]},
                                      {"input", in_nodes[i]},
                                      {"gain", spice_number(layer.gain[static_cast<Eigen::Index>(d)])},
                                      {"offset", spice_number(layer.offset[static_cast<Eigen::Index>(d)] * volt)},
                                      {"rt", spice_number(rt)}});
        // −u only where some weight of this cell is negative.
        if ((layer.weight.col(static_cast<Eigen::Index>(r)).array() < 0).any())
          w.instantiate(inverted_template, {{"cell", cell}, {"minus_rt", spice_number(-rt)}});
        out.sense_sources[l][r] = "vs" + cell;
        out.device_nodes[l][r] = "a" + cell;
      }
    std::vector<std::string> next(n_out);
    for (std::size_t o = 0; o < n_out; ++o) {
      const auto sum = fmt::format("sum{}_{}", l, o);
      next[o] = last ? fmt::format("out{}", o) : fmt::format("y{}_{}", l, o);
      if (last)
        w.instantiate(linear_template, {{"o", std::to_string(o)}, {"sum", sum}, {"out", next[o]}, {"gain", spice_number(ohm)}});
      else
        w.instantiate(clamped_template, {{"l", std::to_string(l)},
                                         {"o", std::to_string(o)},
                                         {"sum", sum},
                                         {"out", next[o]},
                                         {"gain", spice_number(ohm)},
                                         {"lo", spice_number(net.clamp_lo * volt)},
                                         {"hi", spice_number(net.clamp_hi * volt)}});
      out.sum_sources[l].push_back("v" + sum);
      for (std::size_t d = 0; d < D; ++d)
        for (std::size_t i = 0; i < n_in; ++i) {
          const double c = layer.weight(static_cast<Eigen::Index>(o), static_cast<Eigen::Index>(d * n_in + i));
          if (c == 0) continue;
          const auto cell = fmt::format("{}_{}_{}", l, i, d);
          w.resistor(fmt::format("r{}_{}_{}_{}", l, i, o, d), c > 0 ? "u" + cell : "un" + cell, sum, ohm / std::abs(c));
        }
      if (const double b = layer.bias[static_cast<Eigen::Index>(o)]; b != 0)
        w.current_source(fmt::format("ib{}_{}", l, o), "0", sum, b * ampere);
    }
    out.output_nodes[l] = next;
    in_nodes = std::move(next);
  }
  w.closing_cards(options.simulator_options, options.operating_point_card);
  out.text = w.text();
  out.elements = w.element_count();
  out.resistors = w.resistors();
  return out;
}

kan_linearization_deck compile_kan_linearization(const ir::model& m, const std::vector<std::size_t>& basis_of_device,
                                                 const std::vector<std::pair<std::string, double>>& simulator_options) {
  if (m.kind != ir::family::kan)
    throw lowering_error(fmt::format("compile_kan_linearization: model family is '{}', not 'kan'", ir::to_string(m.kind)));
  const auto D = static_cast<std::size_t>(m.size("bases"));
  netlist_writer w(fmt::format("spicenn kan linearization: {} basis devices at their operating points", basis_of_device.size()));
  w.comment("each device held at its operating voltage (vop), 1 V ac in series (vg): dI/dV = -Re i(vg)");
  std::vector<std::string> subckt(D);
  for (std::size_t d = 0; d < D; ++d) {
    const auto& ref = m.device(fmt::format("basis{}", d));
    w.include(ir::library_path(m, ref));
    subckt[d] = ref.name;
  }
  const auto cell = netlist_template::load("kan_linearization_cell.cir.in");
  kan_linearization_deck out;
  for (std::size_t j = 0; j < basis_of_device.size(); ++j) {
    if (basis_of_device[j] >= D)
      throw lowering_error(
          fmt::format("compile_kan_linearization: device {} has basis {} but the model has {}", j, basis_of_device[j], D));
    w.instantiate(cell, {{"j", std::to_string(j)}, {"subckt", subckt[basis_of_device[j]]}});
    out.drive_sources.push_back(fmt::format("vop{}", j));
    out.stimulus_sources.push_back(fmt::format("vg{}", j));
  }
  if (!simulator_options.empty()) w.simulator_options(simulator_options);
  out.text = w.text();
  return out;
}

}  // namespace spicenn::compiler
