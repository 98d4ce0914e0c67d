#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "ir/init.hpp"
#include "ir/model_file.hpp"
#include "ir/schema.hpp"

namespace spicenn::cli {

void register_set_diode(CLI::App& app) {
  struct args {
    std::string model, output, diode, device;
    bool json = false;
  };
  static args a;
  auto* cmd = app.add_subcommand("set-diode",
                                 "Swap the diodes of a MON model (e.g. to evaluate an ideal-diode model with Shockley diodes); "
                                 "the trained parameters are kept");
  cmd->add_option("model", a.model, "MON model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--diode", a.diode,
                  "Software law: ideal (ReLU), shockley (diode ReLU) or device (the --device's own I-V curve; the "
                  "default, and the only law, for a library device)")
      ->check(CLI::IsMember({"ideal", "shockley", "device"}));
  cmd->add_option("--device", a.device,
                  "SPICE diode device: a builtin name (default: pwl_diode for ideal, shockley_diode for shockley; "
                  "ideal_diode is the N = 0.001 exponential alternative for ideal) or the path of a library written "
                  "by `spicenn fit-device` (ending in .lib; it must be monotone)");
  cmd->add_option("-o,--output", a.output, "Model file to write")->required();
  cmd->add_flag("--json", a.json,
                "Also print on stdout, as JSON: model, output, diode (the software law), device, library (the fitted "
                "library's path; null for a builtin device)");
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    if (m.kind != ir::family::mon) throw error(fmt::format("{}: set-diode applies to 'mon' models, not '{}'", a.model, ir::to_string(m.kind)));
    const auto lib = library_device_argument(a.device);
    std::string law = a.diode.empty() && lib ? "device" : a.diode;
    if (law.empty()) throw error("set-diode: give --diode ideal|shockley|device (or --device FILE.lib)");
    if (law == "device" && a.device.empty()) throw error("set-diode: --diode device needs --device NAME|FILE.lib");
    std::string device = a.device.empty() ? ir::default_mon_diode_device(law) : a.device;
    std::string library;
    // A builtin name, or the path of a library written by `spicenn fit-device`
    // (given relative to the current directory; recorded relative to the
    // model's directory, which save_model rewrites relative to the output).
    if (lib) {
      device = lib->name;
      library = (m.base_dir.empty() ? lib->file : lib->file.lexically_relative(m.base_dir)).string();
    }
    m.options["diode"] = law;
    for (auto& d : m.devices)
      if (d.role == "diode") d = {"diode", device, library};
    ir::validate(m);  // the device must be a MON diode
    m.origin.notes +=
        fmt::format("{}diodes set to {} ({}{}) from {}", m.origin.notes.empty() ? "" : "; ", law, device,
                    library.empty() ? "" : ", library " + a.device, a.model);
    ir::save_model(m, a.output);
    fmt::print(stderr, "spicenn: wrote {} (diode {}, device {})\n", a.output, law, device);
    if (a.json) {
      const json j = {{"model", a.model},
                      {"output", a.output},
                      {"diode", law},
                      {"device", device},
                      {"library", lib ? json(lib->file.string()) : json(nullptr)}};
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
