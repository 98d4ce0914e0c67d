#include <fstream>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "compiler/mon_compiler.hpp"
#include "core/error.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

void register_compile(CLI::App& app) {
  struct args {
    std::string model, output, input;
    bool literal_pairs = false;
  };
  static args a;
  auto* cmd = app.add_subcommand("compile", "Lower a model file to a standalone SPICE netlist (runs unchanged in `ngspice -b`)");
  cmd->add_option("model", a.model, "Model file (XML, see docs/model-format.md)")->required()->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a.output, "Netlist file to write (default: standard output)");
  cmd->add_option("--input", a.input,
                  "Input values in normalized units (1 unit = the model's scale volt), comma-separated; default all zero");
  cmd->add_flag("--literal-pairs", a.literal_pairs,
               "One resistor per h_pos/h_neg conductance instead of one per input pair with the difference (same "
               "node voltages; twice the crossbar)");
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    if (m.kind != ir::family::mon)
      throw error(fmt::format("{}: compile supports the 'mon' family so far; this model is '{}'", a.model, ir::to_string(m.kind)));
    auto net = compiler::compile_mon(m, {.inputs = parse_number_list(a.input, "--input"),
                                                .source_name = a.model,
                                                .literal_input_pairs = a.literal_pairs});
    if (a.output.empty()) {
      fmt::print("{}", net.text);
      return;
    }
    write_text_file(a.output, net.text);
    fmt::print(stderr, "spicenn: wrote {} ({} elements; outputs {}, hidden nodes {}..)\n", a.output, net.elements,
               fmt::join(net.output_nodes, ","), net.hidden_nodes.front().front());
  });
}

}  // namespace spicenn::cli
