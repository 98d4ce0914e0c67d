// Lowers a resistor-diode monotone operator network (MON) model to a
// standalone SPICE netlist (models.md §2).
//
// Nodes: inputs x<k> (and inverted copies xn<k>), hidden units h<j> (stage 0)
// and h<s>_<j> (stage s >= 1), outputs out<o>. Conductances become
// resistors R = ohm / g (zero conductances are omitted), biases current
// sources, each hidden node gets a diode from ground (anode at ground), and
// the readout y = C v + e is a crossbar from buffered +/- copies of the last
// stage into ideal transimpedance stages.
//
//   auto m = spicenn::ir::load_model("mon.xml");
//   auto net = spicenn::compiler::compile_mon(m, {.inputs = {0.2, 0.7}});
//   write(net.text);   // runs in `ngspice -b` and in spicenn::spice::engine
#pragma once

#include <string>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::compiler {

struct mon_compile_options {
  std::vector<double> inputs;  // normalized input values; empty = all zero
  bool operating_point_card = true;  // append ".op" so `ngspice -b` prints the node voltages
  std::string source_name;  // shown in the header comment (e.g. the model file)
};

struct compiled_mon {
  std::string text;  // the netlist
  std::vector<std::string> input_sources;  // voltage source per input, e.g. "vx0"
  std::vector<std::vector<std::string>> hidden_nodes;  // [stage][unit], e.g. "h0"
  std::vector<std::string> output_nodes;  // "out0", ...
  double volt = 1.0;  // physical volts per normalized unit (divide node voltages by this)
  std::size_t elements = 0;
};

// Throws spicenn::lowering_error (or validation_error from the IR) when the
// model cannot be realised: wrong family, unknown diode, wrong input count.
compiled_mon compile_mon(const ir::model& m, const mon_compile_options& options = {});

}  // namespace spicenn::compiler
