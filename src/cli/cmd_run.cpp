// spicenn run MODEL.xml --engine software|spice --input "x0,x1,..." [--json]
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "cosim/evaluator.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

// --input as one column of the model's inputs.
Eigen::MatrixXd input_column(const ir::model& m, const std::string& text) {
  auto values = parse_number_list(text, "--input");
  const auto n = static_cast<std::size_t>(m.size(ir::input_size_name(m)));
  if (values.empty()) values.assign(n, 0.0);
  if (values.size() != n) throw error(fmt::format("--input has {} values but the model has {} inputs", values.size(), n));
  return Eigen::Map<const Eigen::VectorXd>(values.data(), static_cast<Eigen::Index>(n));
}

void register_run(CLI::App& app) {
  struct args {
    std::string model, engine = "software", input;
    int threads = 0;
    bool json = false;
  };
  static args a;
  static engine_settings ode;
  auto* cmd = app.add_subcommand("run",
                                 "Evaluate a model on one input: outputs and hidden state, by the software "
                                 "model or by ngspice");
  cmd->add_option("model", a.model, "Model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--engine", a.engine, "software (the family's C++ model) or spice (ngspice operating point)")
      ->capture_default_str()
      ->check(CLI::IsMember({"software", "spice"}));
  cmd->add_option("--input", a.input,
                  "Input values in normalized units (1 unit = the model's scale volt), comma-separated; default all "
                  "zero");
  cmd->add_option("--threads", a.threads, "Worker threads / ngspice instances; 0 = all cores")->capture_default_str();
  cmd->add_flag("--json", a.json, R"({"outputs": [...], "hidden": [...]}; hidden lists every stage's units, stage by stage)");
  add_engine_options(cmd, ode);
  cmd->callback([] {
    const auto model = ir::load_model(a.model);
    cosim::evaluator_options eo;
    eo.threads = a.threads;
    apply(ode, eo);
    auto eval = cosim::make_evaluator(model, cosim::engine_kind_from_string(a.engine), eo);
    if (a.engine == "spice") print_realisability_warnings(model);
    const auto x = input_column(model, a.input);
    const auto result = eval->forward(x);
    std::vector<double> outputs(result.outputs.data(), result.outputs.data() + result.outputs.size());
    std::vector<double> hidden;
    for (const auto& h : result.hidden) hidden.insert(hidden.end(), h.data(), h.data() + h.size());
    if (a.json) {
      const json j = {{"outputs", outputs}, {"hidden", hidden}, {"stages", result.hidden.size()}, {"engine", a.engine}};
      fmt::print("{}\n", to_text(j));
      return;
    }
    fmt::print("engine: {}\n", a.engine);
    fmt::print("outputs: {:.10g}\n", fmt::join(outputs, ", "));
    const char* level = model.kind == ir::family::mon ? "stage" : model.kind == ir::family::kan ? "layer" : "slice end";
    for (std::size_t s = 0; s < result.hidden.size(); ++s) {
      const auto& h = result.hidden[s];
      fmt::print("hidden {} {}: {:.10g}\n", level, s, fmt::join(std::vector<double>(h.data(), h.data() + h.size()), ", "));
    }
  });
}

}  // namespace spicenn::cli
