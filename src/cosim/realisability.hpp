// Where a model's compiled circuit leaves the regime in which it implements
// the model, said without running `verify`: `compile` and `run`, `eval` and
// `train` with `--engine spice` print these warnings for every family
// (docs/cosimulation.md, "Realisability warnings"). Each names the tensor
// and index (or the stage, layer or slice) and states the expected
// deviation or the limit crossed. Shared by the families:
//   - resistors ohm/|g| outside 1 Ω .. 1 TΩ (below wiring and contact
//     resistance, which no amplifier drives; above board leakage and
//     ngspice's gmin of 1e-12 S): one warning per tensor and side, naming
//     the extreme entry;
//   - dynamic range: node voltages or branch currents so small that
//     ngspice's absolute tolerances (vntol 1e-12 V, abstol 1e-15 A) are more
//     than 1e-6 of them (the median over seeded inputs in the data's range,
//     default_input_range, of each sample's largest).
// Per family:
//   - MON: the resistors of every conductance tensor and readout weight;
//     the diode clamp (ideal law with pwl_diode or ideal_diode): the bound
//     of mon_ideal_deviation_bound on |SPICE − ideal MON| at 32 seeded
//     inputs, when it exceeds 1e-3 of the output scale, named by the
//     readout row (and its largest weight) that carries it; per stage the
//     node voltages |v| and node currents |G||v|.
//   - KAN: the crossbar resistors ohm/|c'·m| (batch norm folded, times the
//     mismatch), named layer{l}.coef[i, o, d]; per layer at 32 seeded
//     inputs the node voltages (u = B·volt and the layer outputs), each
//     basis's device currents B·I_ref and the crossbar currents into each
//     virtual ground Σ |c'·m|/ohm·|u|. (No clamp check: the software model
//     clamps hidden outputs to hidden_clamp exactly as the circuit's output
//     stage does.)
//   - KirchhoffNet: capacitors C·farad outside 1 fF .. 1 F (below, a node's
//     wiring parasitics; above, a supercapacitor), named capacitance[i];
//     with the conductance edge function the resistors ohm/|θ0|, named
//     slice{k}.theta[e, 0]; per slice the node voltages and the edge
//     currents ampere·|f| at its start and end states on the software
//     trajectory of 1..8 seeded inputs (magnitudes only: rtol = atol = 1e-2,
//     within a budget of edge evaluations; a model too stiff for the budget
//     is not range-checked).
// Cost (docs/cosimulation.md): milliseconds for MNIST-size MON and KAN;
// for a 14x14 MNIST-size KirchhoffNet (2 x 49,132 edges) 0.02-0.06 s
// (shift_relu1, conductance) to ~0.25 s (the tanh laws), for the 28x28 one
// (2 x 230,068) 0.13-0.45 s and up to ~1-2 s with the tanh laws.
//
//   for (const auto& w : spicenn::cosim::realisability_warnings(model)) fmt::print(stderr, "{}\n", to_text(w));
#pragma once

#include <string>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::cosim {

struct realisability_warning {
  std::string tensor;   // e.g. "readout.weight", or a part of the circuit: "stage0", "layer1", "slice0"
  std::string index;    // e.g. "[0, 3]"; empty for a whole tensor
  std::string message;  // what crosses which limit, and the expected deviation
};

// Every family; an empty list when the circuit is within every limit.
std::vector<realisability_warning> realisability_warnings(const ir::model& m);

// "warning: readout.weight[0, 3]: ..." (one line).
std::string to_text(const realisability_warning& w);

}  // namespace spicenn::cosim
