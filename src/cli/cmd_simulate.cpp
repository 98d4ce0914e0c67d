#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "spice/engine.hpp"

namespace spicenn::cli {

namespace {


// Node voltages of the current plot: vectors that are neither the sweep
// scale nor branch currents nor device quantities.
std::vector<std::string> node_voltage_names(const spice::engine& eng) {
  std::vector<std::string> names;
  for (const auto& n : eng.vector_names()) {
    if (n.find('#') != std::string::npos || n.starts_with("@") || n == "v-sweep" || n == "time" || n == "frequency" ||
        n.find("-sweep") != std::string::npos)
      continue;
    names.push_back(n);
  }
  return names;
}

}  // namespace

void register_simulate(CLI::App& app) {
  struct args {
    std::string netlist, analysis = "op";
    std::vector<std::string> probes;
    bool json = false, allow_control = false;
  };
  static args a;
  auto* cmd = app.add_subcommand("simulate", "Run a netlist file in the embedded ngspice and print vectors");
  cmd->add_option("netlist", a.netlist, "SPICE netlist file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--analysis", a.analysis,
                  "ngspice analysis command: \"op\", \"dc vsrc 0 1 0.1\" (V), \"ac dec 10 1 1meg\" (Hz), "
                  "\"tran 1u 1m\" (s); device names lowercase")
      ->capture_default_str();
  cmd->add_option("--probe", a.probes, "Vector to print, e.g. out0, v(out0), i(vx0), @d1[id]; repeatable (default: all node voltages)");
  cmd->add_flag("--json", a.json, R"json(Print {"analysis": ..., "vectors": {"v(n1)": [..], ...}}; complex values as [re, im])json");
  cmd->add_flag("--allow-control", a.allow_control, "Allow a .control block in the netlist (it can run shell commands)");
  cmd->callback([] {
    spice::engine_options options;
    options.allow_control_blocks = a.allow_control;
    spice::engine eng(options);
    eng.load(read_file(a.netlist, "netlist"));
    eng.command(a.analysis);
    auto names = a.probes.empty() ? node_voltage_names(eng) : a.probes;
    json vectors = json::object();
    for (const auto& name : names) {
      auto values = eng.complex_vector(name);
      bool is_complex = false;
      for (auto v : values) is_complex |= v.imag() != 0.0;
      if (a.json) {
        json& column = vectors[name] = json::array();
        for (auto v : values) column.push_back(is_complex ? json{v.real(), v.imag()} : json(v.real()));
      } else {
        std::vector<std::string> text;
        for (auto v : values) text.push_back(is_complex ? fmt::format("({:.9g},{:.9g})", v.real(), v.imag()) : fmt::format("{:.9g}", v.real()));
        fmt::print("{:<16} {}\n", name, fmt::join(text, " "));
      }
    }
    if (a.json) {
      fmt::print("{}\n", to_text(json{{"analysis", a.analysis}, {"vectors", vectors}}));
    }
  });
}

}  // namespace spicenn::cli
