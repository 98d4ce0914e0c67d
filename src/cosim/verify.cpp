#include "cosim/verify.hpp"
#include "models/tensor_eigen.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/error.hpp"
#include "core/random.hpp"
#include "cosim/kan_evaluators.hpp"
#include "cosim/kirchhoffnet_evaluators.hpp"
#include "cosim/mon_evaluators.hpp"
#include "devices/device.hpp"
#include "models/kan.hpp"
#include "models/mon.hpp"

namespace spicenn::cosim {

using models::row_major;

std::pair<double, double> default_input_range(const ir::model& m) {
  const auto& data = m.origin.data;
  const bool images = data == "mnist" || data == "fashion-mnist";
  const bool kan = m.kind == ir::family::kan;  // KAN inputs map [0, 1] onto the device windows
  return images || kan ? std::pair{0.0, 1.0} : std::pair{-1.0, 1.0};
}

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

// ngspice's default gmin: a conductance it puts across every diode junction.
constexpr double ngspice_gmin = 1e-12;

const devices::device* diode_device(const ir::model& m) {
  const auto* ref = m.find_device("diode");
  return ref ? devices::builtin_devices().find(ref->name) : nullptr;
}

std::optional<devices::shockley_parameters> diode_law(const ir::model& m) {
  const auto* dev = diode_device(m);
  return dev ? dev->shockley() : std::nullopt;
}

// Forward drop and reverse leak of a diode realising the ideal clamp, in
// normalized units: drop(i) for a forward current i, leak(v) the reverse
// current at |node voltage| v. Shockley devices: n·vt·ln(1 + i/is) and
// is + ngspice's gmin·(v + 1 V) across the junction; piecewise-linear
// devices: i/g_on and g_off·(v + 1 V).
struct clamp_deviation {
  std::function<double(double)> drop;
  std::function<double(double)> leak;
};

std::optional<clamp_deviation> clamp_deviation_of(const ir::model& m) {
  const auto* dev = diode_device(m);
  if (!dev) return std::nullopt;
  const double volt = m.scale.volt, ampere = m.scale.ampere;
  if (const auto law = dev->shockley()) {
    const double nvt = law->n * law->vt / volt, is = law->is / ampere;
    return clamp_deviation{[=](double i) { return nvt * std::log1p(std::max(i, 0.0) / is); },
                           [=](double v) { return is + ngspice_gmin * (v * volt + 1.0) / ampere; }};
  }
  if (const auto pwl = dev->piecewise_linear()) {
    const double g_on = pwl->g_on / (ampere / volt), g_off = pwl->g_off / (ampere / volt);
    return clamp_deviation{[=](double i) { return std::max(i, 0.0) / g_on; },
                           [=](double v) { return g_off * (v + 1.0 / volt); }};
  }
  return std::nullopt;
}

std::string summary_of(const ir::model& m) {
  const auto* d = m.find_device("diode");
  const auto it = m.options.find("diode");
  return fmt::format("mon {}-{}-{}, {} stage(s), diode {} ({})", m.size("inputs"), m.size("hidden"), m.size("outputs"),
                     m.size("stages"), it == m.options.end() ? "?" : it->second, d ? d->name : "?");
}

verify_check make_check(std::string quantity, std::string reference, const MatrixXd& got, const MatrixXd& ref, double tolerance,
                        bool relative, bool judged) {
  verify_check c;
  c.quantity = std::move(quantity);
  c.reference = std::move(reference);
  if (got.rows() != ref.rows() || got.cols() != ref.cols())
    throw internal_error(fmt::format("verify: '{}' has shape {}x{} but the reference {}x{}", c.quantity, got.rows(), got.cols(),
                                     ref.rows(), ref.cols()));
  c.max_abs = got.size() ? (got - ref).cwiseAbs().maxCoeff() : 0.0;
  c.scale = ref.size() ? ref.cwiseAbs().maxCoeff() : 0.0;
  c.max_rel = c.scale > 0 ? c.max_abs / c.scale : 0.0;
  c.tolerance = tolerance;
  c.relative = relative;
  c.judged = judged;
  const double measured = relative ? (c.scale > 0 ? c.max_rel : c.max_abs) : c.max_abs;
  c.passed = std::isfinite(measured) && measured <= tolerance;
  return c;
}

MatrixXd as_matrix(const std::vector<double>& v) { return Eigen::Map<const VectorXd>(v.data(), static_cast<Index>(v.size())); }

// hidden_name: "hidden stage" (MON) or "hidden layer" (KAN).
void compare_forward(verify_report& r, const evaluation& got, const evaluation& ref, const std::string& label, double hidden_tol,
                     double output_tol, bool judged, std::string_view hidden_name = "hidden stage") {
  r.checks.push_back(make_check("outputs", label, got.outputs, ref.outputs, output_tol, false, judged));
  for (std::size_t s = 0; s < ref.hidden.size(); ++s)
    r.checks.push_back(
        make_check(fmt::format("{} {}", hidden_name, s), label, got.hidden[s], ref.hidden[s], hidden_tol, false, judged));
}

void compare_gradient(verify_report& r, const loss_gradient& got, const loss_gradient& ref, const std::string& label, double tol,
                      bool judged) {
  for (const auto& [name, values] : ref.parameters) {
    auto it = got.parameters.find(name);
    if (it == got.parameters.end()) throw internal_error(fmt::format("verify: spice gave no gradient for '{}'", name));
    r.checks.push_back(make_check("gradient " + name, label, as_matrix(it->second), as_matrix(values), tol, true, judged));
  }
  r.checks.push_back(make_check("gradient inputs", label, got.inputs, ref.inputs, tol, true, judged));
}

// Seeded inputs ~ U(range) and labels; fills r's samples, seed, volt, range
// and the one-output note.
std::pair<MatrixXd, std::vector<int>> random_samples(verify_report& r, const ir::model& m, Index inputs, Index outputs,
                                                     const verify_options& options) {
  if (options.samples == 0) throw error("verify: --samples must be at least 1");
  r.samples = options.samples;
  r.seed = options.seed;
  r.volt = m.scale.volt;
  if (options.input_range) {
    r.input_range = *options.input_range;
  } else {
    r.input_range = default_input_range(m);
  }
  if (!(r.input_range.first <= r.input_range.second))
    throw error(fmt::format("verify: input range [{}, {}] is empty", r.input_range.first, r.input_range.second));
  const auto B = static_cast<Index>(options.samples);
  rng gen(options.seed);
  MatrixXd x(inputs, B);
  for (Index b = 0; b < B; ++b)
    for (Index k = 0; k < inputs; ++k) x(k, b) = gen.uniform(r.input_range.first, r.input_range.second);
  std::vector<int> labels(static_cast<std::size_t>(B));
  for (auto& l : labels) l = static_cast<int>(gen.below(static_cast<std::uint64_t>(outputs)));
  if (outputs == 1)
    r.notes.push_back(
        "one output: the softmax cross-entropy and its gradient are identically zero, so the gradient "
        "checks compare zeros");
  return {std::move(x), std::move(labels)};
}

// Sets r.passed: every judged check within tolerance and at least one
// judged (with a note saying so when none was).
void settle(verify_report& r) {
  r.passed = r.judged() > 0;
  for (const auto& c : r.checks)
    if (c.judged && !c.passed) r.passed = false;
  if (r.judged() == 0)
    r.notes.push_back("no check could be judged (no reference with a known tolerance): nothing was verified");
}

}  // namespace

std::size_t verify_report::judged() const {
  std::size_t n = 0;
  for (const auto& c : checks) n += c.judged ? 1 : 0;
  return n;
}

mon_ideal_bound mon_ideal_deviation_bound(const ir::model& m, const MatrixXd& x, const evaluation& ideal) {
  const auto law = clamp_deviation_of(m);
  if (!law)
    throw error(fmt::format("ideal-diode bound: the diode device '{}' has neither Shockley nor piecewise-linear parameters",
                            m.find_device("diode") ? m.find_device("diode")->name : "?"));
  const double volt = m.scale.volt;
  const auto stages = models::mon_stages_from_model(m);
  if (ideal.hidden.size() != stages.size()) throw error("ideal-diode bound: hidden state per stage missing");
  mon_ideal_bound out;
  double previous = 0.0;  // bound of the stage's inputs (0 for the data)
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const auto& st = stages[s];
    const MatrixXd& Ginv = st.G_inverse;
    const double ginv_norm = Ginv.cwiseAbs().rowwise().sum().maxCoeff();
    const MatrixXd& xs = s == 0 ? x : ideal.hidden[s - 1];
    const MatrixXd& v = ideal.hidden[s];
    const MatrixXd w = st.G * v - st.sources(xs);
    // Currents of the near-ideal diodes exceed the ideal clamping currents w
    // by at most the off-diagonal conductances times the deviation (and the
    // input conductances times the previous stage's deviation).
    const VectorXd off = st.g_between.rowwise().sum();
    const VectorXd& habs = st.h_row_sum;
    const VectorXd wmax = w.cwiseMax(0.0).rowwise().maxCoeff();
    const double leak = law->leak(v.cwiseAbs().maxCoeff());
    double delta = 10.0 / volt;  // start above any possible deviation (10 V); the map is monotone
    double drop = 0.0;
    for (int it = 0; it < 20; ++it) {
      const double current = (wmax + habs * previous + off * delta).maxCoeff();
      drop = law->drop(current);
      delta = drop + leak * ginv_norm;
    }
    out.forward_drop = std::max(out.forward_drop, drop);
    // The ideal stage is Lipschitz in its inputs with G⁻¹|H| <= G⁻¹(h_pos + h_neg),
    // whose row sums G⁻¹ h_row_sum are <= 1 (G's row sums include every
    // input conductance).
    const double rho = (Ginv * st.h_row_sum).maxCoeff();
    previous = rho * previous + delta;
    out.hidden = std::max(out.hidden, previous);
  }
  const MatrixXd C = row_major(m.parameter("readout.weight").values, m.size("outputs"), m.size("hidden"));
  out.outputs = C.cwiseAbs().rowwise().sum().maxCoeff() * previous;
  return out;
}

verify_report verify_mon(const ir::model& model, const verify_options& options) { return verify_mon(model, model, options); }

verify_report verify_mon(const ir::model& circuit, const ir::model& reference, const verify_options& options) {
  if (circuit.kind != ir::family::mon || reference.kind != ir::family::mon)
    throw error("verify: only the mon family is implemented so far");
  for (const char* size : {"inputs", "hidden", "outputs", "stages"})
    if (circuit.size(size) != reference.size(size))
      throw error(fmt::format("verify: the circuit and reference models differ in size '{}'", size));
  verify_report r;
  r.model_summary = summary_of(circuit);
  const Index outputs = circuit.size("outputs");
  const auto [x, labels] = random_samples(r, circuit, circuit.size("inputs"), outputs, options);
  evaluator_options eo;
  eo.threads = options.threads;
  // The small-signal solve: the circuit's exact linearization. The nudged
  // gradient that training uses by default agrees with it to ~1e-5 relative
  // for a Shockley diode (MonCosim.CentrallyNudgedShockleyGradientEqualsThe
  // SmallSignalGradient), the whole of the gradient tolerance here.
  eo.mon_gradient = spice_gradient::small_signal;
  auto spice = make_mon_spice_evaluator(circuit, eo);
  const auto got = spice->gradient(x, labels);
  r.notes.push_back("SPICE gradients by the small-signal (ac) solve, the circuit's exact linearization");

  const double fwd_tol = options.forward_tolerance_volts / r.volt;
  const std::string diode = circuit.option("diode");
  const auto law = diode_law(reference);
  const std::string device = reference.find_device("diode") ? reference.find_device("diode")->name : "?";
  // The software model with the device's exact law: its own curve (diode =
  // device: any device, a fitted library one included) or its Shockley
  // parameters (which also judge a near-ideal exponential diode exactly).
  auto exact = reference;
  if (diode != "device") exact.options["diode"] = "shockley";
  if (diode == "device" || diode == "shockley" || law) {
    const std::string label = fmt::format("software, {} law", device);
    const auto ref = make_mon_software_evaluator(exact, eo)->gradient(x, labels);
    compare_forward(r, got.forward, ref.forward, label, fwd_tol, fwd_tol, true);
    // |ΔL| <= ‖softmax − onehot‖₁ · max|Δy| <= 2 max|Δy| per sample.
    r.checks.push_back(make_check("loss", label, MatrixXd::Constant(1, 1, got.loss), MatrixXd::Constant(1, 1, ref.loss),
                                  2.0 * fwd_tol, false, true));
    compare_gradient(r, got, ref, label, options.gradient_tolerance, true);
  }
  if (diode == "ideal") {
    const auto ref = make_mon_software_evaluator(reference, eo)->gradient(x, labels);
    // A piecewise-linear device is the ideal clamp up to I/g_on: its circuit
    // is judged against the ideal MON in full (gradients too: the small-signal
    // circuit differs by G_jj/g_on on clamped nodes, ~1e-10 at 1e6 S, unless a
    // node lies within nanovolts of its kink).
    const auto* dev = diode_device(reference);
    const bool piecewise = dev && dev->piecewise_linear();
    if (clamp_deviation_of(reference)) {
      const auto bound = mon_ideal_deviation_bound(reference, x, ref.forward);
      compare_forward(r, got.forward, ref.forward, "ideal MON (forward-drop bound)", bound.hidden + fwd_tol,
                      bound.outputs + fwd_tol, true);
      if (piecewise)
        r.checks.push_back(make_check("loss", "ideal MON (forward-drop bound)", MatrixXd::Constant(1, 1, got.loss),
                                      MatrixXd::Constant(1, 1, ref.loss), 2.0 * (bound.outputs + fwd_tol), false, true));
    } else {
      // Unknown law (e.g. a fitted library device): no derived bound; report only.
      r.notes.push_back(
          fmt::format("diode device '{}' has neither Shockley nor piecewise-linear parameters: no exact-law "
                      "reference and no forward-drop bound; the ideal-MON comparison is reported only",
                      device));
      compare_forward(r, got.forward, ref.forward, "ideal MON (no bound: unknown diode law)", 0.0, 0.0, false);
    }
    if (piecewise) {
      compare_gradient(r, got, ref, "ideal MON", options.gradient_tolerance, true);
      r.notes.push_back(fmt::format(
          "{} is piecewise linear: a gradient check fails spuriously only if a node lies within ~I/g_on of its "
          "kink, where the ideal MON's gradient is itself discontinuous",
          device));
    } else {
      compare_gradient(r, got, ref, "ideal MON (reported only)", options.gradient_tolerance, false);
    }
  }
  settle(r);
  return r;
}

verify_report verify_kan(const ir::model& model, const verify_options& options) {
  if (model.kind != ir::family::kan) throw error("verify_kan: not a KAN model");
  // The circuit realises the folded model; compare with its software model
  // (evaluation mode: batch statistics have no meaning in a circuit).
  const ir::model folded = models::kan_fold_batch_norm(model);
  verify_report r;
  std::string widths = std::to_string(folded.size("width0"));
  for (std::int64_t l = 1; l <= folded.size("layers"); ++l) widths += fmt::format("-{}", folded.size(fmt::format("width{}", l)));
  std::string bases;
  for (std::int64_t d = 0; d < folded.size("bases"); ++d)
    bases += (d ? "," : "") + folded.device(fmt::format("basis{}", d)).name;
  r.model_summary = fmt::format("kan {}, bases {}", widths, bases);
  const auto [x, labels] = random_samples(r, folded, folded.size(ir::input_size_name(folded)),
                                          folded.size(ir::output_size_name(folded)), options);
  if (model.find_parameter("layer0.bn_weight"))
    r.notes.push_back("batch normalization folded into coef and bias (as the compiler does); gradients are of the folded model");
  evaluator_options eo;
  eo.threads = options.threads;
  const auto got = make_kan_spice_evaluator(folded, eo)->gradient(x, labels);
  const auto ref = make_kan_software_evaluator(folded, eo)->gradient(x, labels);
  const double fwd_tol = options.forward_tolerance_volts / r.volt;
  const std::string label = "software, same device law";
  compare_forward(r, got.forward, ref.forward, label, fwd_tol, fwd_tol, true, "hidden layer");
  r.checks.push_back(make_check("loss", label, MatrixXd::Constant(1, 1, got.loss), MatrixXd::Constant(1, 1, ref.loss),
                                2.0 * fwd_tol, false, true));
  compare_gradient(r, got, ref, label, options.gradient_tolerance, true);
  settle(r);
  return r;
}

verify_report verify_kirchhoffnet(const ir::model& model, const verify_options& options) {
  if (model.kind != ir::family::kirchhoffnet) throw error("verify_kirchhoffnet: not a KirchhoffNet model");
  verify_report r;
  r.model_summary = fmt::format("kirchhoffnet {} nodes ({} inputs, {} outputs), {} slice(s) of {} edges, {}",
                                model.size("nodes"), model.size("inputs"), model.size("outputs"), model.size("slices"),
                                model.size("edges"), model.option("edge_function"));
  const auto [x, labels] = random_samples(r, model, model.size("inputs"), model.size("outputs"), options);
  // The software ODE far tighter than the transient, so that the comparison
  // measures the circuit simulation.
  evaluator_options eo;
  eo.threads = options.threads;
  eo.ode_rtol = eo.ode_atol = 1e-12;
  const auto got = make_kirchhoffnet_spice_evaluator(model, eo)->gradient(x, labels);
  const auto ref = make_kirchhoffnet_software_evaluator(model, eo)->gradient(x, labels);
  const std::string label = "software ODE (rtol 1e-12)";
  const double tol = options.transient_tolerance;
  r.checks.push_back(make_check("outputs", label, got.forward.outputs, ref.forward.outputs, tol, true, true));
  for (std::size_t k = 0; k < ref.forward.hidden.size(); ++k)
    r.checks.push_back(make_check(fmt::format("state at the end of slice {}", k), label, got.forward.hidden[k],
                                  ref.forward.hidden[k], tol, true, true));
  r.checks.push_back(make_check("loss", label, MatrixXd::Constant(1, 1, got.loss), MatrixXd::Constant(1, 1, ref.loss),
                                tol, true, true));
  compare_gradient(r, got, ref, "software adjoint", options.transient_gradient_tolerance, true);
  r.notes.push_back(fmt::format(
      "transient (reltol 1e-7, largest step T/1000) against the software ODE; tolerances relative to each quantity's "
      "signal scale ({} for values, {} for gradients); the spice gradient is physics-aware (the software adjoint "
      "re-anchored to the SPICE state at every slice boundary), so it follows the circuit's trajectory, which differs "
      "from the software one by up to the value tolerance; gradients amplify that difference",
      tol, options.transient_gradient_tolerance));
  settle(r);
  return r;
}

verify_report verify_model(const ir::model& model, const verify_options& options) {
  switch (model.kind) {
    case ir::family::mon: return verify_mon(model, options);
    case ir::family::kan: return verify_kan(model, options);
    case ir::family::kirchhoffnet: return verify_kirchhoffnet(model, options);
  }
  throw internal_error("verify: unknown family");
}

std::string to_text(const verify_report& r) {
  std::string out = fmt::format("verify: {}; {} samples, seed {}, inputs ~ U({}, {}); units: normalized (1 = {} V)\n",
                                r.model_summary, r.samples, r.seed, r.input_range.first, r.input_range.second, r.volt);
  out += fmt::format("  {:<26} {:<40} {:>10} {:>10} {:>10} {:>16}  {}\n", "quantity", "reference", "max|diff|", "scale",
                     "relative", "tolerance", "");
  std::size_t judged = 0, failed = 0;
  for (const auto& c : r.checks) {
    const std::string tol = c.judged ? fmt::format("{:.3g} {}", c.tolerance, c.relative ? "rel" : "abs") : "-";
    const char* verdict = !c.judged ? "(reported)" : c.passed ? "ok" : "FAILED";
    judged += c.judged ? 1 : 0;
    failed += c.judged && !c.passed ? 1 : 0;
    out += fmt::format("  {:<26} {:<40} {:>10.3g} {:>10.3g} {:>10.3g} {:>16}  {}\n", c.quantity, c.reference, c.max_abs, c.scale,
                       c.max_rel, tol, verdict);
  }
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  out += judged == 0 ? std::string("NOT VERIFIED (no check could be judged)\n")
         : r.passed  ? fmt::format("PASSED ({} checks within tolerance)\n", judged)
                     : fmt::format("FAILED ({} of {} checks beyond tolerance)\n", failed, judged);
  return out;
}

}  // namespace spicenn::cosim
