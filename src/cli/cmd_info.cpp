#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "ir/model_file.hpp"
#include "ir/schema.hpp"

namespace spicenn::cli {

void register_info(CLI::App& app) {
  struct args {
    std::string model;
    bool json = false;
  };
  static args a;
  auto* cmd = app.add_subcommand("info", "Validate a model file and summarise it: sizes, scales, devices, parameters");
  cmd->add_option("model", a.model, "Model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_flag("--json", a.json, "Print the summary as JSON");
  cmd->callback([] {
    const auto m = ir::load_model(a.model);
    std::size_t trainable = 0;
    for (const auto& t : m.parameters) trainable += t.trainable ? t.values.size() : 0;
    if (a.json) {
      json sizes = json::object(), options = json::object(), devices = json::object(), parameters = json::array();
      for (const auto& [k, v] : m.sizes) sizes[k] = v;
      for (const auto& [k, v] : m.options) options[k] = v;
      for (const auto& d : m.devices) devices[d.role] = d.name;
      for (const auto& t : m.parameters)
        parameters.push_back({{"name", t.name},
                              {"shape", t.shape},
                              {"constraint", std::string(ir::to_string(t.kind))},
                              {"trainable", t.trainable}});
      const json j = {{"family", std::string(ir::to_string(m.kind))},
                      {"sizes", sizes},
                      {"options", options},
                      {"scale",
                       {{"volt", m.scale.volt},
                        {"ampere", m.scale.ampere},
                        {"ohm", m.scale.ohm},
                        {"farad", m.scale.farad},
                        {"second", m.scale.second}}},
                      {"devices", devices},
                      {"trainable_parameters", trainable},
                      {"parameters", parameters}};
      fmt::print("{}\n", to_text(j));
      return;
    }
    fmt::print("{}: {} model\n", a.model, ir::to_string(m.kind));
    for (const auto& [k, v] : m.sizes) fmt::print("  size    {:<12} {}\n", k, v);
    for (const auto& [k, v] : m.options) fmt::print("  option  {:<12} {}\n", k, v);
    fmt::print("  scale   1 unit = {:g} V, {:g} A, {:g} ohm, {:g} F, {:g} s\n", m.scale.volt, m.scale.ampere, m.scale.ohm,
               m.scale.farad, m.scale.second);
    for (const auto& d : m.devices)
      fmt::print("  device  {:<12} {}{}\n", d.role, d.name, d.library.empty() ? "" : " (" + d.library + ")");
    if (m.origin.seed) fmt::print("  seed    {}\n", *m.origin.seed);
    if (!m.origin.data.empty()) fmt::print("  data    {}\n", m.origin.data);
    if (m.origin.accuracy) fmt::print("  accuracy {:.2f} %\n", 100 * *m.origin.accuracy);
    if (!m.origin.created_by.empty()) fmt::print("  created {}\n", m.origin.created_by);
    fmt::print("  {:<22} {:<12} {:<22} {:>12} {:>12}\n", "parameter", "shape", "constraint", "min", "max");
    for (const auto& t : m.parameters) {
      auto [lo, hi] = t.values.empty() ? std::pair{0.0, 0.0}
                                       : std::pair{*std::min_element(t.values.begin(), t.values.end()),
                                                   *std::max_element(t.values.begin(), t.values.end())};
      fmt::print("  {:<22} {:<12} {:<22} {:>12.4g} {:>12.4g}{}\n", t.name, ir::shape_to_string(t.shape), ir::to_string(t.kind), lo,
                 hi, t.trainable ? "" : "  (fixed)");
    }
    fmt::print("  {} trainable values\n", trainable);
  });
}

}  // namespace spicenn::cli
