// Lowers a device-basis KAN model to a standalone SPICE netlist
// (docs/models.md §1). Batch normalization is folded into the layers first
// (models::kan_fold_batch_norm), so the circuit has none.
//
// Per layer l, input i and basis d one cell (netlist_templates/kan_basis_cell):
// a behavioural source drives the device's anode at (a_d·x_i + b_d)·volt
// through the zero-volt sense source vs<l>_<i>_<d>; a CCVS of R_t = volt/I_ref,d
// turns the sensed current into u<l>_<i>_<d> = B_d(x_i)·volt, and a second
// one makes −u where a negative weight needs it. The crossbar resistor
// r<l>_<i>_<o>_<d> of conductance |c'·m|/ohm runs from u (or −u) into the
// virtual-ground node sum<l>_<o> (held at 0 V by vsum<l>_<o>); the bias is a
// current source β·ampere into it; the output amplifier gives
// y·volt = ohm · i(vsum<l>_<o>), limited to the hidden clamp for hidden
// layers (node y<l>_<o>) and unlimited for the last (out<o>).
//
// The gradient needs every device's small-signal conductance at its
// operating point: compile_kan_linearization writes the devices alone, each
// held at a voltage taken from the circuit (spicenn::spice::sweep_netlist
// feeds one operating point per sample), with a 1 V ac stimulus in series,
// so that one `ac` per sample gives all of them — without the crossbar,
// whose sparse reordering would dominate an `ac` of the whole circuit.
//
//   auto m = spicenn::ir::load_model("kan.xml");
//   auto net = spicenn::compiler::compile_kan(m, {.inputs = {0.2, 0.7}});
//   write(net.text);   // runs in `ngspice -b` and in spicenn::spice::engine
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "compiler/netlist_writer.hpp"
#include "ir/model.hpp"

namespace spicenn::compiler {

struct kan_compile_options {
  std::vector<double> inputs;                                     // normalized input values; empty = all zero
  bool operating_point_card = true;                               // append ".op" so `ngspice -b` prints the node voltages
  std::string source_name;                                        // shown in the header comment
  std::vector<std::pair<std::string, double>> simulator_options;  // e.g. precise_simulator_options()
};

struct compiled_kan {
  std::string text;
  std::vector<std::string> input_sources;  // "vx0", ...
  // [layer][d·inputs + i] (the software model's Φ row order): sense source
  // names and the device anode nodes (the device voltage is v(anode)).
  std::vector<std::vector<std::string>> sense_sources;
  std::vector<std::vector<std::string>> device_nodes;
  std::vector<std::vector<std::string>> sum_sources;   // [layer][o] "vsum<l>_<o>"
  std::vector<std::vector<std::string>> output_nodes;  // [layer][o]: "y<l>_<o>" (hidden), "out<o>" (last)
  std::vector<double> reference_currents;              // I_ref,d in amperes
  double volt = 1.0, ampere = 1e-4;
  std::size_t elements = 0;
  resistor_summary resistors;
};

// Throws lowering_error (or validation_error from the IR) when the model
// cannot be realised.
compiled_kan compile_kan(const ir::model& m, const kan_compile_options& options = {});

// The linearization deck (netlist_templates/kan_linearization_cell): device
// j, of basis basis_of_device[j], held at 0 V by the source vop<j> (to be
// replaced per sample by spice::sweep_netlist) in series with the ac
// stimulus vg<j>. After `ac lin 1 1 1`, dI/dV of device j is −Re i(vg<j>)
// (the anode sits at −1 V of ac). Simulator options as for the circuit.
struct kan_linearization_deck {
  std::string text;
  std::vector<std::string> drive_sources;     // "vop<j>"
  std::vector<std::string> stimulus_sources;  // "vg<j>"
};
kan_linearization_deck compile_kan_linearization(const ir::model& m, const std::vector<std::size_t>& basis_of_device,
                                                 const std::vector<std::pair<std::string, double>>& simulator_options = {});

}  // namespace spicenn::compiler
