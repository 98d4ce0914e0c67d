// spicenn grad MODEL.xml --engine software|spice|fd --input "..." --target K [--json]
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "cosim/evaluator.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

Eigen::MatrixXd input_column(const ir::model& m, const std::string& text);  // cmd_run.cpp

void register_grad(CLI::App& app) {
  struct args {
    std::string model, engine = "software", input;
    int target = 0, threads = 0;
    double fd_step = 1e-6;
    bool json = false;
  };
  static args a;
  static engine_settings ode;
  auto* cmd = app.add_subcommand("grad",
                                 "Softmax cross-entropy loss of one input and its gradient for every "
                                 "trainable parameter, by the software model, by ngspice (hardware "
                                 "linearization) or by finite differences through ngspice");
  cmd->add_option("model", a.model, "Model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--engine", a.engine,
                  "software (implicit gradient), spice (small-signal solve of the circuit at its operating point) or "
                  "fd (central differences of ngspice forward runs; small models only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"software", "spice", "fd"}));
  cmd->add_option("--input", a.input, "Input values in normalized units, comma-separated; default all zero");
  cmd->add_option("--target", a.target, "Class label (output index) of the cross-entropy loss")->required();
  cmd->add_option("--fd-step", a.fd_step, "Relative step of the fd engine: h = step * max(|value|, 1)")->capture_default_str();
  cmd->add_option("--threads", a.threads, "Worker threads / ngspice instances; 0 = all cores")->capture_default_str();
  cmd->add_flag("--json", a.json,
                R"({"loss": x, "gradient": {"<parameter>": [...], ...}, "input_gradient": [...]}; values row-major)");
  add_engine_options(cmd, ode);
  add_spice_gradient_options(cmd, ode);
  cmd->callback([] {
    const auto model = ir::load_model(a.model);
    cosim::evaluator_options eo;
    eo.threads = a.threads;
    apply(ode, eo);
    eo.fd_step = a.fd_step;
    auto eval = cosim::make_evaluator(model, cosim::engine_kind_from_string(a.engine), eo);
    const auto x = input_column(model, a.input);
    if (const auto it = model.sizes.find("outputs"); it != model.sizes.end() && (a.target < 0 || a.target >= it->second))
      throw error(fmt::format("--target {} is not an output index (the model has {} outputs)", a.target, it->second));
    const int label = a.target;
    const auto g = eval->gradient(x, std::span<const int>(&label, 1));
    std::vector<double> dx(g.inputs.data(), g.inputs.data() + g.inputs.size());
    if (a.json) {
      json gradient = json::object();
      for (const auto& t : model.parameters) {
        auto it = g.parameters.find(t.name);
        if (it != g.parameters.end()) gradient[t.name] = it->second;
      }
      const json j = {{"loss", g.loss}, {"gradient", gradient}, {"input_gradient", dx}, {"engine", a.engine}};
      fmt::print("{}\n", to_text(j));
      return;
    }
    fmt::print("engine: {}\nloss: {:.12g}\n", a.engine, g.loss);
    for (const auto& t : model.parameters) {
      auto it = g.parameters.find(t.name);
      if (it == g.parameters.end()) continue;
      fmt::print("d loss / d {} {}: {:.10g}\n", t.name, ir::shape_to_string(t.shape), fmt::join(it->second, ", "));
    }
    fmt::print("d loss / d inputs: {:.10g}\n", fmt::join(dx, ", "));
  });
}

}  // namespace spicenn::cli
