// Small helpers shared by the CLI verbs.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cosim/evaluator.hpp"
#include "data/dataset.hpp"

namespace spicenn::cli {

// The image preprocessing a model was trained with (--pool K, --resize N),
// the same for every verb that loads a data set.
struct image_options {
  std::size_t pool = 1, resize = 0;
  data::load_options load() const { return {.pool = pool, .resize = resize}; }
};
// Adds --pool and --resize; `prefix` starts both help texts (e.g. "With
// --data: "). Returns them, so a verb can make them need another option.
inline std::pair<CLI::Option*, CLI::Option*> add_image_options(CLI::App* cmd, image_options& o,
                                                               const std::string& prefix = "") {
  auto* pool = cmd->add_option("--pool", o.pool,
                               prefix + "k x k average pooling of the 28x28 images (mnist, fashion-mnist): 2 gives "
                                        "14x14 = 196 features; k must divide 28; 1 = none (as the model was trained with)")
                   ->capture_default_str()
                   ->check(CLI::PositiveNumber);
  auto* resize = cmd->add_option("--resize", o.resize,
                                 prefix + "Bilinear resizing of the 28x28 images (mnist, fashion-mnist) to N x N, bit for "
                                          "bit as PIL's Image.resize(BILINEAR), i.e. torchvision's transforms.Resize "
                                          "(antialiased, rounded to 8 bits): 14 gives 196 features, as the KANalogue "
                                          "reference loads MNIST; N in 1..28; excludes --pool; 0 = off")
                     ->capture_default_str();
  return {pool, resize};
}

// Engine settings of the verbs: the ODE integrator's tolerances of the
// KirchhoffNet family (software engine, and the software adjoint of the
// spice engine's gradient), the spice engines' transient accuracy and
// gradient methods.
struct engine_settings {
  double rtol = 1e-3, atol = 1e-3;
  bool circuit_adjoint = false;
  std::string transient = "precise";  // the spice engine's transients (cosim::spice_transient)
  std::string spice_gradient = "auto";  // the MON spice engine's gradient (cosim::spice_gradient)
  std::string spice_isolation = "worker";  // where the spice engines' ngspice runs
  double spice_time_limit = 300.0;         // seconds per ngspice call (isolated engines)
  std::string precision = "float64";       // the MON software engine's forward passes
};
// Copies the options into the evaluator options.
inline void apply(const engine_settings& t, cosim::evaluator_options& eo) {
  eo.ode_rtol = t.rtol;
  eo.ode_atol = t.atol;
  eo.circuit_adjoint = t.circuit_adjoint;
  eo.transient = cosim::spice_transient_from_string(t.transient);
  eo.mon_gradient = cosim::spice_gradient_from_string(t.spice_gradient);
  eo.spice_isolated = t.spice_isolation == "worker";
  eo.spice_time_limit = t.spice_time_limit;
  eo.software_float32 = t.precision == "float32";
}
// The engine options of every verb that evaluates a model.
inline void add_engine_options(CLI::App* cmd, engine_settings& t) {
  cmd->add_option("--spice-isolation", t.spice_isolation,
                  "--engine spice: worker (each ngspice in a worker process of its own: a crash or a hang of the "
                  "simulator costs a restart of that worker and a retry of the call, not the run) or none (in this "
                  "process; docs/hardening.md, \"isolated engines\")")
      ->capture_default_str()
      ->check(CLI::IsMember({"worker", "none"}));
  cmd->add_option("--spice-time-limit", t.spice_time_limit,
                  "--engine spice, isolated: seconds an ngspice call may take before its worker is killed, restarted "
                  "and the call retried once (0 = no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--transient", t.transient,
                  "KirchhoffNet, --engine spice: precise (reltol 1e-7, largest step T/1000: ~1e-5 of the signal scale "
                  "from the exact ODE) or standard (ngspice's default tolerances, largest step T/20: ~1/10 of the time "
                  "points, a few percent of the output scale on trained MNIST networks; docs/kirchhoffnet.md)")
      ->capture_default_str()
      ->check(CLI::IsMember({"precise", "standard"}));
  cmd->add_option("--ode-rtol", t.rtol,
                  "KirchhoffNet: relative tolerance of the Dormand-Prince integrator (RMS error norm, as torchdiffeq)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--ode-atol", t.atol, "KirchhoffNet: absolute tolerance of the integrator")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--precision", t.precision,
                  "MON, --engine software, forward passes (not gradients): float64 (the exact equilibrium, scaled "
                  "residual <= 1e-12) or float32 (a projected Jacobi iteration in float32 to scaled residual <= 1e-5, "
                  "~3x faster; samples it does not finish are solved in float64). Other families compute in float64")
      ->capture_default_str()
      ->check(CLI::IsMember({"float64", "float32"}));
}
// grad/train: how the spice engines compute gradients (the MON's method, the
// KirchhoffNet's second gradient).
inline void add_spice_gradient_options(CLI::App* cmd, engine_settings& t) {
  cmd->add_option("--spice-gradient", t.spice_gradient,
                  "MON, --engine spice: nudge (per stage one more batched sweep with a small current injected at the "
                  "nodes, exact for the piecewise-linear pwl_diode, samples where a diode changes state redone by "
                  "ac; two sweeps at +-the nudge for shockley_diode), ac (one small-signal solve per sample and "
                  "stage, any diode) or auto (nudge where it is exact, else ac)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "nudge", "ac"}));
  cmd->add_flag("--circuit-adjoint", t.circuit_adjoint,
                "KirchhoffNet, --engine spice: the gradient from a backward transient of the linearized, time-reversed "
                "circuit in ngspice (one per sample) instead of the physics-aware software adjoint");
}

// "0.1, 0.2,3" -> {0.1, 0.2, 3}; empty text -> {}. Throws spicenn::error
// naming the option and the bad field.
std::vector<double> parse_number_list(std::string_view text, std::string_view option);
std::vector<std::int64_t> parse_size_list(std::string_view text, std::string_view option);
std::vector<std::string> parse_name_list(std::string_view text);
// Writes atomically (temporary file + rename); throws spicenn::error on failure.
void write_text_file(const std::filesystem::path& path, const std::string& text);

// A --device argument that names a library written by `spicenn fit-device`
// (it contains '/' or ends in .lib): its absolute path and the fitted
// device's name; nullopt for a builtin name. Throws parse_error naming
// file:line when the file carries no fit data.
struct library_device {
  std::filesystem::path file;
  std::string name;
};
std::optional<library_device> library_device_argument(const std::string& device);

// Prints the model's realisability warnings (cosim/realisability.hpp) to
// stderr as "spicenn: warning: ..."; for compile and the spice engine.
void print_realisability_warnings(const ir::model& m);

}  // namespace spicenn::cli
