#include <fstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "compiler/kan_compiler.hpp"
#include "compiler/kirchhoffnet_compiler.hpp"
#include "compiler/mon_compiler.hpp"
#include "core/error.hpp"
#include "cosim/kan_evaluators.hpp"
#include "cosim/mon_evaluators.hpp"
#include "data/dataset.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

void register_compile(CLI::App& app) {
  struct args {
    std::string model, output, input, data;
    std::size_t limit = 100;
    bool literal_pairs = false, precise = false, json = false;
    std::string theta = "resistor";
    double max_step = 0.0;
  };
  static args a;
  static image_options image;
  auto* cmd = app.add_subcommand("compile", "Lower a model file to a standalone SPICE netlist (runs unchanged in `ngspice -b`)");
  cmd->add_option("model", a.model, "Model file (XML, see docs/model-format.md)")->required()->check(CLI::ExistingFile);
  auto* output = cmd->add_option("-o,--output", a.output, "Netlist file to write (default: standard output)");
  cmd->add_option("--input", a.input,
                  "Input values in normalized units (1 unit = the model's scale volt), comma-separated; default all zero");
  cmd->add_flag("--literal-pairs", a.literal_pairs,
               "One resistor per h_pos/h_neg conductance instead of one per input pair with the difference (same "
               "node voltages; twice the crossbar)");
  cmd->add_option("--theta", a.theta,
                  "KirchhoffNet: how theta reaches the edge sources: resistor (a dc current source into 1 ohm per "
                  "value, alterable, no branch row), vsource (a dc voltage source per value, alterable, one branch "
                  "row each), inline (numbers in the expressions: smallest deck, inference only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"resistor", "vsource", "inline"}));
  cmd->add_flag("--precise", a.precise,
                "KirchhoffNet: tight transient tolerances (reltol 1e-7, trtol 1, vntol/abstol/chgtol 1e-9 of the "
                "scale) and, unless --max-step is given, a largest step of T/1000, for agreement with the software "
                "ODE (~2e-5 relative)");
  cmd->add_option("--max-step", a.max_step,
                  "KirchhoffNet: largest transient time step in normalized time units (0 = T/200, or T/1000 with --precise)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  auto* data = cmd->add_option("--data", a.data,
                               "Write the batched sweep deck of the co-simulation instead: the first --limit test samples "
                               "of this data set (moons, circles, spirals, mnist, fashion-mnist) as pwl inputs of one DC "
                               "sweep, with .dc and .print cards");
  cmd->add_option("--limit", a.limit, "Samples in the --data sweep deck")->capture_default_str()->check(CLI::PositiveNumber);
  auto [pool, resize] = add_image_options(cmd, image, "With --data: ");
  cmd->add_flag("--json", a.json,
                "With -o: also print on stdout, as JSON, what the summary lines on stderr say: model, output, family, "
                "then elements, outputs (node names), resistors {count, min_ohms, max_ohms, below_1k, above_1meg} "
                "(mon, kan), hidden_nodes (mon), basis_devices (kan); mna_unknowns, nodes, min_farads, max_farads, "
                "edges, edge_function, theta_values, min_theta, max_theta, theta, time_unit_seconds, "
                "stop_time_seconds, slices, gated_slices, gate_width_seconds (kirchhoffnet); data, samples (--data)")
      ->needs(output);
  data->excludes(cmd->get_option("--input"));
  pool->needs(data);
  resize->needs(data);
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    if (m.kind == ir::family::kirchhoffnet) {
      if (!a.data.empty())
        throw error(fmt::format("{}: --data (the batched sweep deck) supports the 'mon' and 'kan' families; this model "
                                "is 'kirchhoffnet'",
                                a.model));
      double max_step = a.max_step;
      if (a.precise && max_step == 0) {  // --precise without --max-step: T/1000
        for (std::int64_t k = 0; k < m.size("slices"); ++k)
          max_step += m.parameter(fmt::format("slice{}.duration", k)).values[0] / 1000;
      }
      const auto net = compiler::compile_kirchhoffnet(
          m, {.inputs = parse_number_list(a.input, "--input"),
              .theta = compiler::theta_storage_from_string(a.theta),
              .max_step = max_step,
              .source_name = a.model,
              .simulator_options = a.precise ? compiler::kirchhoffnet_precise_simulator_options(m.scale)
                                             : std::vector<std::pair<std::string, double>>{}});
      print_realisability_warnings(m);  // stderr, also when the netlist goes to stdout
      if (a.output.empty()) {
        fmt::print("{}", net.text);
        return;
      }
      write_text_file(a.output, net.text);
      std::size_t slices_with_gate = 0;
      for (const auto& g : net.gate_sources) slices_with_gate += !g.empty();
      fmt::print(stderr, "spicenn: wrote {} ({} elements, ~{} MNA unknowns; outputs {})\n", a.output, net.elements,
                 net.mna_unknowns, fmt::join(net.output_nodes, ","));
      fmt::print(stderr,
                 "spicenn: {} nodes with capacitors from {:.3g} to {:.3g} F; {} edge sources ({}); {} theta values "
                 "from {:.3g} to {:.3g} {}\n",
                 net.nodes.size(), net.min_farads, net.max_farads, net.edges, m.option("edge_function"), net.theta_values,
                 net.min_theta, net.max_theta,
                 a.theta == "inline" ? "written inline (not alterable)"
                                     : fmt::format("in {} {} sources", net.theta_values, a.theta == "vsource" ? "dc voltage" : "dc current (into 1 ohm)"));
      fmt::print(stderr,
                 "spicenn: time: 1 unit = {:.4g} s (farad*ohm); T = {:.4g} s over {} slice(s){}\n", net.second,
                 net.stop_time, net.edge_sources.size(),
                 slices_with_gate ? fmt::format(", {} gated by pwl sources with {:.3g} s ramps", slices_with_gate, net.gate_width)
                                  : std::string());
      if (a.json) {
        const json j = {{"model", a.model},
                        {"output", a.output},
                        {"family", std::string(ir::to_string(m.kind))},
                        {"elements", net.elements},
                        {"mna_unknowns", net.mna_unknowns},
                        {"outputs", net.output_nodes},
                        {"nodes", net.nodes.size()},
                        {"min_farads", net.min_farads},
                        {"max_farads", net.max_farads},
                        {"edges", net.edges},
                        {"edge_function", m.option("edge_function")},
                        {"theta_values", net.theta_values},
                        {"min_theta", net.min_theta},
                        {"max_theta", net.max_theta},
                        {"theta", a.theta},
                        {"time_unit_seconds", net.second},
                        {"stop_time_seconds", net.stop_time},
                        {"slices", net.edge_sources.size()},
                        {"gated_slices", slices_with_gate},
                        {"gate_width_seconds", slices_with_gate ? json(net.gate_width) : json(nullptr)}};
        fmt::print("{}\n", to_text(j));
      }
      return;
    }
    const bool kan = m.kind == ir::family::kan;
    if (!a.data.empty()) {
      const auto test = data::load_dataset(a.data, data::split::test, image.load());
      const auto n = static_cast<Eigen::Index>(std::min(a.limit, test.size()));
      const Eigen::MatrixXd x = test.features.leftCols(n).cast<double>();
      const auto deck = kan ? cosim::kan_sweep_deck(m, x) : cosim::mon_sweep_deck(m, x, a.literal_pairs);
      if (a.output.empty()) {
        fmt::print("{}", deck);
        return;
      }
      write_text_file(a.output, deck);
      fmt::print(stderr, "spicenn: wrote {} ({} {} test samples in one DC sweep)\n", a.output, n, a.data);
      if (a.json) {
        const json j = {{"model", a.model},
                        {"output", a.output},
                        {"family", std::string(ir::to_string(m.kind))},
                        {"data", a.data},
                        {"samples", n}};
        fmt::print("{}\n", to_text(j));
      }
      return;
    }
    std::string text, summary;
    compiler::resistor_summary r;
    json details = json::object();  // the summary's figures, for --json
    if (kan) {
      auto net = compiler::compile_kan(m, {.inputs = parse_number_list(a.input, "--input"), .source_name = a.model});
      text = std::move(net.text);
      std::size_t devices = 0;
      for (const auto& layer : net.sense_sources) devices += layer.size();
      summary = fmt::format("{} elements, {} basis devices; outputs {}", net.elements, devices, fmt::join(net.output_nodes.back(), ","));
      r = net.resistors;
      details = {{"elements", net.elements}, {"outputs", net.output_nodes.back()}, {"basis_devices", devices}};
    } else {
      auto net = compiler::compile_mon(m, {.inputs = parse_number_list(a.input, "--input"),
                                           .source_name = a.model,
                                           .literal_input_pairs = a.literal_pairs});
      text = std::move(net.text);
      summary = fmt::format("{} elements; outputs {}, hidden nodes {}..", net.elements, fmt::join(net.output_nodes, ","),
                            net.hidden_nodes.front().front());
      r = net.resistors;
      details = {{"elements", net.elements}, {"outputs", net.output_nodes}, {"hidden_nodes", net.hidden_nodes}};
    }
    print_realisability_warnings(m);  // stderr, also when the netlist goes to stdout
    if (a.output.empty()) {
      fmt::print("{}", text);
      return;
    }
    write_text_file(a.output, text);
    fmt::print(stderr, "spicenn: wrote {} ({})\n", a.output, summary);
    if (r.count)
      fmt::print(stderr,
                 "spicenn: {} resistors from {:.3g} to {:.3g} ohm; outside 1 kohm..1 Mohm (1 mS..1 uS): {} below, {} above{}\n",
                 r.count, r.min_ohms, r.max_ohms, r.below_1k, r.above_1meg,
                 r.below_1k + r.above_1meg && !kan ? " (`spicenn prune` removes the weakest conductances)" : "");
    if (a.json) {
      json j = {{"model", a.model}, {"output", a.output}, {"family", std::string(ir::to_string(m.kind))}};
      j.update(details);
      j["resistors"] = {{"count", r.count},
                        {"min_ohms", r.count ? json(r.min_ohms) : json(nullptr)},
                        {"max_ohms", r.count ? json(r.max_ohms) : json(nullptr)},
                        {"below_1k", r.below_1k},
                        {"above_1meg", r.above_1meg}};
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
