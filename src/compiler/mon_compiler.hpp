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
// Input pairs: the model's h_pos[j,k] to +x_k and h_neg[j,k] to −x_k draw
// the current (h_pos − h_neg)·x_k − (h_pos + h_neg)·v_j into node j. One
// resistor of conductance |h_pos − h_neg| to the copy with the difference's
// sign, plus 2·min(h_pos, h_neg) added to the ground conductance, draws
// exactly the same current for every x and v, so by default the compiler
// emits that (ir::merge_input_pair): half the crossbar resistors, and on a
// 784-100 network a Newton iteration 6x cheaper in ngspice (the matrix
// then fits in cache; docs/cosimulation.md). The node voltages,
// the branch currents of the input sources (and so ∂L/∂x) and every
// gradient formula are unchanged. literal_input_pairs = true writes one
// resistor per model conductance instead.
//
//   auto m = spicenn::ir::load_model("mon.xml");
//   auto net = spicenn::compiler::compile_mon(m, {.inputs = {0.2, 0.7}});
//   write(net.text);   // runs in `ngspice -b` and in spicenn::spice::engine
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "compiler/netlist_writer.hpp"
#include "ir/model.hpp"

namespace spicenn::compiler {

struct mon_compile_options {
  std::vector<double> inputs;  // normalized input values; empty = all zero
  bool operating_point_card = true;  // append ".op" so `ngspice -b` prints the node voltages
  std::string source_name;  // shown in the header comment (e.g. the model file)
  // Adds a zero current source `ij<s>_<j>` (dc 0, ac 0) from ground into
  // every hidden node; co-simulation sets their AC magnitudes with `alter`
  // to inject ∂L/∂v for the small-signal adjoint solve. No effect on the
  // operating point.
  bool adjoint_sources = false;
  // One resistor per h_pos / h_neg value instead of one per input pair (see above).
  bool literal_input_pairs = false;
  // Simulator options, written as one `.options name=value ...` card (names
  // must be identifiers); empty = ngspice's defaults. See
  // mon_precise_simulator_options().
  std::vector<std::pair<std::string, double>> simulator_options;
};

// Tolerances for co-simulation: reltol=1e-9 vntol=1e-12 abstol=1e-15.
// ngspice's defaults (reltol=1e-3) left node voltages up to 5e-4 (relative)
// from the exact equilibrium; these give 1e-9 V (near-ideal diode) to
// 6e-8 V (shockley_diode) (docs/cosimulation.md).
std::vector<std::pair<std::string, double>> mon_precise_simulator_options();

struct compiled_mon {
  std::string text;  // the netlist
  std::vector<std::string> input_sources;  // voltage source per input, e.g. "vx0"
  std::vector<std::string> inverted_input_sources;  // VCVS of the inverted copy per input, e.g. "exn0"
  // Stage s >= 1: VCVS buffers driving its inputs from stage s-1, "eb<s>_<k>"
  // (+v) and "ebn<s>_<k>" (-v); [0] is empty.
  std::vector<std::vector<std::string>> buffer_sources;
  std::vector<std::vector<std::string>> inverted_buffer_sources;
  std::vector<std::vector<std::string>> adjoint_sources;  // [stage][unit] "ij<s>_<j>" if requested
  std::vector<std::vector<std::string>> hidden_nodes;  // [stage][unit], e.g. "h0"
  std::vector<std::string> output_nodes;  // "out0", ...
  double volt = 1.0;  // physical volts per normalized unit (divide node voltages by this)
  std::size_t elements = 0;
  resistor_summary resistors;
};

// Throws spicenn::lowering_error (or validation_error from the IR) when the
// model cannot be realised: wrong family, unknown diode, wrong input count.
compiled_mon compile_mon(const ir::model& m, const mon_compile_options& options = {});

// The activation a MON's diode induces (the MON paper's "diode ReLU"): one
// node `n` with `conductance` (normalized) to ground, the model's diode from
// ground (anode at ground, as in every stage), and a current source `iact`
// from ground into it, swept by a `.dc` card over `points` currents from
// `lo` to `hi` (normalized; SI in the deck), with a `.print` of v(n) for
// `ngspice -b`. The ideal clamp gives
// v = max(s/g, 0); a real diode rounds the knee and lets v go below 0.
struct mon_activation_deck {
  std::string text;
  std::string source = "iact";
  std::string node = "n";
  double volt = 1.0, ampere = 1.0;  // the model's scale
};
mon_activation_deck compile_mon_activation(const ir::model& m, double conductance, double lo, double hi, int points,
                                           const std::vector<std::pair<std::string, double>>& simulator_options = {});

}  // namespace spicenn::compiler
