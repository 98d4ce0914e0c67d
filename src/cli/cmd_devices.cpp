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
    json_writer j;
    if (as_json) j.begin_array();
    for (const auto& name : reg.names()) {
      const auto& d = reg.get(name);
      auto w = d.window();
      if (as_json) {
        j.begin_object();
        j.key("name").string(name);
        j.key("description").string(d.description());
        j.key("window_volts");
        if (w) {
          j.begin_array().number(w->lo).number(w->hi).end_array();
        } else {
          j.null();
        }
        j.key("library").string(d.library_file().string());
        j.end_object();
      } else {
        std::string window = w ? fmt::format("{:g}..{:g} V", w->lo, w->hi) : "-";
        fmt::print("{:<16} {:<14} {}\n", name, window, d.description());
      }
    }
    if (as_json) {
      j.end_array();
      fmt::print("{}\n", j.str());
    }
  });
}

}  // namespace spicenn::cli
