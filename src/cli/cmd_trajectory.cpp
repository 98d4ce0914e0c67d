// spicenn trajectory KN.xml --input a,b,... [--points N] [--nodes 1,5] -o traj.csv [--json]
// KirchhoffNet node voltages over time, software ODE and ngspice side by side.
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "cosim/kirchhoffnet_evaluators.hpp"
#include "ir/model_file.hpp"
#include "ir/schema.hpp"

namespace spicenn::cli {

void register_trajectory(CLI::App& app) {
  struct args {
    std::string model, input, nodes, output;
    std::size_t points = 201;
    bool json = false;
  };
  static args a;
  static engine_settings ode{.rtol = 1e-9, .atol = 1e-9};
  auto* cmd = app.add_subcommand(
      "trajectory",
      "KirchhoffNet: the node voltages of one input over time from the software ODE and from ngspice's transient, "
      "side by side (CSV; scripts/plot-kirchhoffnet-trajectory.sh draws it)");
  cmd->add_option("model", a.model, "KirchhoffNet model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--input", a.input, "Initial voltages of the input nodes, normalized, comma-separated")->required();
  cmd->add_option("--points", a.points, "Equally spaced times from 0 to T inclusive")->capture_default_str();
  cmd->add_option("--nodes", a.nodes, "Nodes to write, comma-separated (default: the output nodes)");
  cmd->add_option("-o,--output", a.output, "CSV: t (normalized), t_seconds, then software_n<i>, spice_n<i> per node")
      ->required();
  cmd->add_flag("--json", a.json,
                "Also print on stdout, as JSON: model, output (the CSV), times, nodes, max_abs_difference (the "
                "largest |software - spice|) and signal_scale (the largest |software|), both normalized");
  add_engine_options(cmd, ode);
  cmd->callback([] {
    const auto m = ir::load_model(a.model);
    if (m.kind != ir::family::kirchhoffnet)
      throw error(fmt::format("{}: trajectory is for KirchhoffNet models; this one is '{}'", a.model, ir::to_string(m.kind)));
    const auto x = parse_number_list(a.input, "--input");
    if (static_cast<std::int64_t>(x.size()) != m.size("inputs"))
      throw error(fmt::format("--input has {} values; the model has {} inputs", x.size(), m.size("inputs")));
    std::vector<std::size_t> nodes;
    if (a.nodes.empty()) {
      nodes = ir::kirchhoff_output_nodes(m);
    } else {
      for (auto n : parse_size_list(a.nodes, "--nodes")) {
        if (n < 1 || n > m.size("nodes"))
          throw error(fmt::format("--nodes: node {} is out of range 1..{}", n, m.size("nodes")));
        nodes.push_back(static_cast<std::size_t>(n));
      }
    }
    cosim::evaluator_options eo;
    apply(ode, eo);
    const auto tr = cosim::kirchhoffnet_trajectory(m, Eigen::Map<const Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size())),
                                                   a.points, eo);
    std::string csv = "t,t_seconds";
    for (auto n : nodes) csv += fmt::format(",software_n{},spice_n{}", n, n);
    csv += "\n";
    double worst = 0, scale = 0;
    for (std::size_t p = 0; p < tr.times.size(); ++p) {
      csv += fmt::format("{:.10g},{:.10g}", tr.times[p], tr.times[p] * m.scale.second);
      for (auto n : nodes) {
        const double s = tr.software(static_cast<Eigen::Index>(n - 1), static_cast<Eigen::Index>(p));
        const double c = tr.spice(static_cast<Eigen::Index>(n - 1), static_cast<Eigen::Index>(p));
        csv += fmt::format(",{:.10g},{:.10g}", s, c);
        worst = std::max(worst, std::abs(s - c));
        scale = std::max(scale, std::abs(s));
      }
      csv += "\n";
    }
    write_text_file(a.output, csv);
    fmt::print(stderr, "spicenn: wrote {} ({} times, {} nodes); largest |software - spice| {:.3g} (signal scale {:.3g})\n",
               a.output, tr.times.size(), nodes.size(), worst, scale);
    if (a.json) {
      const json j = {{"model", a.model},
                      {"output", a.output},
                      {"times", tr.times.size()},
                      {"nodes", nodes},
                      {"max_abs_difference", worst},
                      {"signal_scale", scale}};
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
