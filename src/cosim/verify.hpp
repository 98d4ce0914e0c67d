// Verification of a model's circuit against its software model: the same
// seeded random inputs through ngspice (forward from the operating point,
// gradient by hardware linearization) and through the C++ model; largest
// deviations of outputs, hidden state and every gradient tensor, each judged
// against a stated tolerance (docs/cosimulation.md derives them).
//
//   auto report = spicenn::cosim::verify_mon(model, {.samples = 16, .seed = 1});
//   fmt::print("{}", spicenn::cosim::to_text(report));
//   if (!report.passed) return 1;
//
// What is compared (MON):
//   - diode = shockley or device: ngspice vs the software model with the
//     same diode law (device: the device's own curve, a fitted library
//     device's included): forward to `forward_tolerance_volts`, gradients to
//     `gradient_tolerance` relative to each tensor's largest magnitude;
//   - diode = ideal: (a) for a Shockley device (e.g. ideal_diode) the same
//     against the software model with the device's exact law (IS, N), and
//     (b) ngspice vs the ideal ReLU MON: forward within the forward-drop
//     bound of mon_ideal_deviation_bound. The gradient deviation from the
//     ideal MON is judged for a piecewise-linear device (pwl_diode: the
//     ideal clamp up to I/g_on), reported only for a Shockley device (no
//     uniform bound exists near the kinks, see docs/cosimulation.md).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cosim/evaluator.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

struct verify_options {
  std::size_t samples = 16;
  std::uint64_t seed = 1;
  // Inputs ~ U(lo, hi). Default: default_input_range(model).
  std::optional<std::pair<double, double>> input_range;
  double forward_tolerance_volts = 1e-6;  // exact-law comparisons, on node voltages and outputs
  double gradient_tolerance = 1e-5;       // relative to the tensor's largest |reference value|
  // KirchhoffNet: transient against the software ODE, relative to each
  // quantity's signal scale (outputs, slice-end states, gradients).
  double transient_tolerance = 1e-4;
  double transient_gradient_tolerance = 1e-3;
  int threads = 0;                        // ngspice instances
};

struct verify_check {
  std::string quantity;    // "outputs", "hidden stage 0", "gradient stage0.h_pos", "gradient inputs", "loss"
  std::string reference;   // "software (shockley_diode law)", "ideal MON", ...
  double max_abs = 0.0;    // largest |spice − reference| (normalized units)
  double scale = 0.0;      // signal scale: largest |reference value|
  double max_rel = 0.0;    // max_abs / scale (0 if scale is 0)
  double tolerance = 0.0;  // applies to max_abs, or to max_rel if `relative`
  bool relative = false;
  bool judged = true;  // false: reported only
  bool passed = true;
};

struct verify_report {
  std::string model_summary;  // "mon 4-6-3, 1 stage(s), diode ideal (ideal_diode)"
  std::size_t samples = 0;
  std::uint64_t seed = 0;
  std::pair<double, double> input_range{0.0, 0.0};
  double volt = 1.0;  // the model's scale (tolerances in volts are divided by it)
  std::vector<verify_check> checks;
  std::vector<std::string> notes;  // caveats printed with the report
  // Every judged check within tolerance, and at least one judged: a report
  // that judged nothing has not verified anything and does not pass.
  bool passed = true;
  std::size_t judged() const;
};

// The default range of seeded inputs, from the model's provenance: [0, 1]
// for models trained on images (data mnist / fashion-mnist) and for KAN
// (whose inputs map [0, 1] onto the device windows), else [-1, 1].
std::pair<double, double> default_input_range(const ir::model& m);

// Verifies `model` (circuit and software from the same parameters).
verify_report verify_mon(const ir::model& model, const verify_options& options = {});
// Verifies the circuit of `circuit` against the software model of
// `reference` (same sizes); used by tests to show that a mismatch is caught.
verify_report verify_mon(const ir::model& circuit, const ir::model& reference, const verify_options& options);

// KAN: the circuit of the folded model (batch normalization folded, as the
// compiler does) against the software model of the same folded model with
// the same device laws: outputs, hidden activations and loss to
// forward_tolerance_volts, every gradient tensor and ∂L/∂x to
// gradient_tolerance relative.
verify_report verify_kan(const ir::model& model, const verify_options& options = {});

// KirchhoffNet: ngspice's transient (outputs, the state at every slice end,
// the physics-aware gradient) against the software ODE at rtol 1e-10.
verify_report verify_kirchhoffnet(const ir::model& model, const verify_options& options = {});

// Dispatches on the family.
verify_report verify_model(const ir::model& model, const verify_options& options = {});

// A fixed-width table, one line per check, and a PASSED/FAILED line.
std::string to_text(const verify_report& report);

// Bound on |ngspice(near-ideal diode) − ideal MON| (normalized units), from
// the ideal solution `ideal` of inputs `x` (columns = samples), derived in
// docs/cosimulation.md: per stage the largest diode forward drop at the
// largest clamping current I (Shockley device: N·V_T·ln(1 + I/I_S);
// piecewise-linear device: I/g_on), plus the reverse current (I_S and
// ngspice's gmin leak; g_off·|V|) times ‖G⁻¹‖∞, accumulated over the
// stages; outputs: max_o Σ_j |C_oj| times the last stage's bound. Throws
// spicenn::error if the diode device has neither kind of parameters.
struct mon_ideal_bound {
  double hidden = 0.0;        // on every hidden node voltage (largest over the stages)
  double outputs = 0.0;       // on every output
  double forward_drop = 0.0;  // the largest forward drop used (normalized)
};
mon_ideal_bound mon_ideal_deviation_bound(const ir::model& model, const Eigen::MatrixXd& x, const evaluation& ideal);

}  // namespace spicenn::cosim
