// spicenn verify MODEL.xml [--samples N] [--seed S] [--json]
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "cosim/verify.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

void register_verify(CLI::App& app) {
  struct args {
    std::string model, range;
    std::size_t samples = 16;
    std::uint64_t seed = 1;
    double forward_tolerance = 1e-6, gradient_tolerance = 1e-5;
    double transient_tolerance = 1e-4, transient_gradient_tolerance = 1e-3;
    int threads = 0;
    bool json = false;
  };
  static args a;
  auto* cmd = app.add_subcommand(
      "verify",
      "Compare ngspice with the software model on seeded random inputs (outputs, hidden state, gradients); exits "
      "non-zero when a deviation exceeds its tolerance (see docs/cosimulation.md)");
  cmd->add_option("model", a.model, "Model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--samples", a.samples, "Number of random inputs")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", a.seed, "Seed of the inputs and labels")->capture_default_str();
  cmd->add_option("--input-range", a.range, "lo,hi of the uniform inputs (default: 0,1 for image models, else -1,1)");
  cmd->add_option("--forward-tolerance", a.forward_tolerance,
                  "Volts: node voltages and outputs, ngspice vs the software model with the same diode law")
      ->capture_default_str();
  cmd->add_option("--gradient-tolerance", a.gradient_tolerance, "Relative to each gradient tensor's largest magnitude")
      ->capture_default_str();
  cmd->add_option("--transient-tolerance", a.transient_tolerance,
                  "KirchhoffNet: outputs and slice-end states, transient vs software ODE, relative to the signal scale")
      ->capture_default_str();
  cmd->add_option("--transient-gradient-tolerance", a.transient_gradient_tolerance,
                  "KirchhoffNet: the physics-aware gradient vs the software adjoint, relative")
      ->capture_default_str();
  cmd->add_option("--threads", a.threads, "ngspice instances; 0 = all cores")->capture_default_str();
  cmd->add_flag("--json", a.json, "Print the report as JSON");
  cmd->callback([] {
    const auto model = ir::load_model(a.model);
    cosim::verify_options o;
    o.samples = a.samples;
    o.seed = a.seed;
    o.forward_tolerance_volts = a.forward_tolerance;
    o.gradient_tolerance = a.gradient_tolerance;
    o.transient_tolerance = a.transient_tolerance;
    o.transient_gradient_tolerance = a.transient_gradient_tolerance;
    o.threads = a.threads;
    if (!a.range.empty()) {
      const auto r = parse_number_list(a.range, "--input-range");
      if (r.size() != 2) throw error("--input-range needs two numbers: lo,hi");
      o.input_range = std::pair{r[0], r[1]};
    }
    const auto report = cosim::verify_model(model, o);
    if (a.json) {
      json checks = json::array();
      for (const auto& c : report.checks)
        checks.push_back({{"quantity", c.quantity},
                          {"reference", c.reference},
                          {"max_abs", c.max_abs},
                          {"scale", c.scale},
                          {"max_rel", c.max_rel},
                          {"tolerance", c.tolerance},
                          {"tolerance_kind", c.relative ? "relative" : "absolute"},
                          {"status", !c.judged ? "reported" : c.passed ? "ok" : "failed"}});
      const json j = {{"model", report.model_summary},
                      {"samples", report.samples},
                      {"seed", report.seed},
                      {"input_range", {report.input_range.first, report.input_range.second}},
                      {"volt", report.volt},
                      {"status", report.judged() == 0 ? "not verified" : report.passed ? "passed" : "failed"},
                      {"checks", checks},
                      {"notes", report.notes}};
      fmt::print("{}\n", to_text(j));
    } else {
      fmt::print("{}", cosim::to_text(report));
    }
    if (report.judged() == 0)
      throw error(fmt::format("verify: nothing could be checked for {}: no software reference with a known tolerance "
                              "(see the notes above)",
                              a.model));
    if (!report.passed) throw error(fmt::format("verify: {} deviates from its software model beyond tolerance", a.model));
  });
}

}  // namespace spicenn::cli
