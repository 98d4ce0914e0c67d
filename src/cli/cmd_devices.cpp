#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "devices/device.hpp"

namespace spicenn::cli {

void register_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List the builtin devices (name, window in V, library file)");
  static bool as_json = false;
  cmd->add_flag("--json", as_json, "Print a JSON array of {name, description, window_volts, library}");
  cmd->callback([] {
    const auto& reg = devices::builtin_devices();
    json j = json::array();
    for (const auto& name : reg.names()) {
      const auto& d = reg.get(name);
      auto w = d.window();
      if (as_json) {
        j.push_back({{"name", name},
                     {"description", std::string(d.description())},
                     {"window_volts", w ? json{w->lo, w->hi} : json(nullptr)},
                     {"library", d.library_file().string()}});
      } else {
        std::string window = w ? fmt::format("{:g}..{:g} V", w->lo, w->hi) : "-";
        fmt::print("{:<16} {:<14} {}\n", name, window, d.description());
      }
    }
    if (as_json) {
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
