#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "ir/schema.hpp"

namespace spicenn::cli {

void register_set_diode(CLI::App& app) {
  struct args {
    std::string model, output, diode, device;
  };
  static args a;
  auto* cmd = app.add_subcommand("set-diode",
                                 "Swap the diodes of a MON model (e.g. to evaluate an ideal-diode model with Shockley diodes); "
                                 "the trained parameters are kept");
  cmd->add_option("model", a.model, "MON model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--diode", a.diode, "Software law: ideal (ReLU) or shockley (diode ReLU)")
      ->required()
      ->check(CLI::IsMember({"ideal", "shockley"}));
  cmd->add_option("--device", a.device,
                  "SPICE diode device (default: pwl_diode for ideal, shockley_diode for shockley; ideal_diode is the "
                  "N = 0.001 exponential alternative for ideal)");
  cmd->add_option("-o,--output", a.output, "Model file to write")->required();
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    if (m.kind != ir::family::mon) throw error(fmt::format("{}: set-diode applies to 'mon' models, not '{}'", a.model, ir::to_string(m.kind)));
    const std::string device = a.device.empty() ? ir::default_mon_diode_device(a.diode) : a.device;
    m.options["diode"] = a.diode;
    for (auto& d : m.devices)
      if (d.role == "diode") d = {"diode", device, ""};
    ir::validate(m);  // the device must be a MON diode
    m.origin.notes +=
        fmt::format("{}diodes set to {} ({}) from {}", m.origin.notes.empty() ? "" : "; ", a.diode, device, a.model);
    ir::save_model(m, a.output);
    fmt::print(stderr, "spicenn: wrote {} (diode {}, device {})\n", a.output, a.diode, device);
  });
}

}  // namespace spicenn::cli
