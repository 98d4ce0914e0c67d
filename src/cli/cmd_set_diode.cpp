#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

void register_set_diode(CLI::App& app) {
  struct args {
    std::string model, output, diode;
  };
  static args a;
  auto* cmd = app.add_subcommand("set-diode",
                                 "Swap the diodes of a MON model (e.g. to evaluate an ideal-diode model with Shockley diodes); "
                                 "the trained parameters are kept");
  cmd->add_option("model", a.model, "MON model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--diode", a.diode, "ideal (ReLU; device ideal_diode) or shockley (diode ReLU; device shockley_diode)")
      ->required()
      ->check(CLI::IsMember({"ideal", "shockley"}));
  cmd->add_option("-o,--output", a.output, "Model file to write")->required();
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    if (m.kind != ir::family::mon) throw error(fmt::format("{}: set-diode applies to 'mon' models, not '{}'", a.model, ir::to_string(m.kind)));
    m.options["diode"] = a.diode;
    for (auto& d : m.devices)
      if (d.role == "diode") d = {"diode", a.diode == "ideal" ? "ideal_diode" : "shockley_diode", ""};
    m.origin.notes += fmt::format("{}diodes set to {} from {}", m.origin.notes.empty() ? "" : "; ", a.diode, a.model);
    ir::save_model(m, a.output);
    fmt::print(stderr, "spicenn: wrote {} (diode {})\n", a.output, a.diode);
  });
}

}  // namespace spicenn::cli
