// The activation a MON's diode induces, the MON paper's "diode ReLU" figure:
// the voltage of one node with conductance g to ground and the diode from
// ground, against the current s injected into it. The ideal clamp gives
// v = max(s/g, 0); the software model's law (ideal, Shockley or the device's
// own curve) and ngspice's DC sweep of the compiled node
// (compiler::compile_mon_activation) give the real one.
//
//   auto a = spicenn::cosim::mon_activation_curves(model, {.conductance = 1.0, .lo = -1.0, .hi = 1.0});
//   a.spice[i];      // ngspice's node voltage at a.current[i] (normalized)
//   a.deviation;     // max |spice − software|
#pragma once

#include <string>
#include <vector>

#include "ir/model.hpp"

namespace spicenn::cosim {

struct mon_activation_options {
  double conductance = 1.0;  // the node's conductance to ground (normalized)
  double lo = -1.0;          // injected current range (normalized)
  double hi = 1.0;
  int points = 201;
};

struct mon_activation {
  std::string device;             // the diode device
  std::string law;                // option diode: ideal, shockley or device
  std::vector<double> current;    // ngspice's sweep points (normalized)
  std::vector<double> ideal;      // max(s/g, 0)
  std::vector<double> software;   // the software model's law
  std::vector<double> spice;      // ngspice
  double deviation = 0.0;         // max |spice − software| (normalized)
};

// Throws spicenn::error (or validation_error from the model) for a model
// that is not a valid MON or options out of range, and ngspice's errors.
mon_activation mon_activation_curves(const ir::model& m, const mon_activation_options& options = {});

}  // namespace spicenn::cosim
