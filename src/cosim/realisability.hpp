// Where a MON's compiled circuit leaves the regime in which it implements
// the model, said without running `verify`: `compile` and `run`, `eval` and
// `train` with `--engine spice` print these warnings (docs/cosimulation.md,
// "Realisability warnings"). Each names the tensor and index and states the
// expected deviation or the limit crossed:
//   - resistors: a conductance whose resistor ohm/g lies outside
//     1 Ω .. 1 TΩ (below wiring and contact resistance, which no amplifier
//     drives; above board leakage and ngspice's gmin of 1e-12 S);
//   - the diode clamp (ideal law with pwl_diode or ideal_diode): the bound
//     of mon_ideal_deviation_bound on |SPICE − ideal MON| at seeded inputs
//     in the data's range, when it exceeds 1e-3 of the output scale;
//     named by the readout row (and its largest weight) that carries it;
//   - dynamic range: node voltages or branch currents so small that
//     ngspice's absolute tolerances (vntol 1e-12 V, abstol 1e-15 A) are more
//     than 1e-6 of them.
//
//   for (const auto& w : spicenn::cosim::realisability_warnings(model)) fmt::print(stderr, "{}\n", to_text(w));
#pragma once

#include <string>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::cosim {

struct realisability_warning {
  std::string tensor;   // e.g. "readout.weight"; empty for the circuit as a whole
  std::string index;    // e.g. "[0, 3]"; empty for a whole tensor
  std::string message;  // what crosses which limit, and the expected deviation
};

// MON models (an empty list for the other families, whose circuits realise
// their models within the tolerances `verify` reports).
std::vector<realisability_warning> realisability_warnings(const ir::model& m);

// "warning: readout.weight[0, 3]: ..." (one line).
std::string to_text(const realisability_warning& w);

}  // namespace spicenn::cosim
