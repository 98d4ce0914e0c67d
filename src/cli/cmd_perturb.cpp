// spicenn perturb KAN.xml --sigma 0.1 --seed 3 -o CHIP.xml [--json]
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "ir/mismatch.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

void register_perturb(CLI::App& app) {
  struct args {
    std::string model, output;
    double sigma = 0.1;
    std::uint64_t seed = 1;
    bool json = false;
  };
  static args a;
  auto* cmd = app.add_subcommand(
      "perturb",
      "Give a KAN a fixed multiplicative variation of every crossbar conductance, c -> c*(1 + sigma*n), n standard "
      "normal (a fabricated chip): stored as layer{l}.coef_mismatch, realised by compile, kept fixed by train");
  cmd->add_option("model", a.model, "KAN model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--sigma", a.sigma, "Relative standard deviation of the conductances (0.1 = 10 %)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", a.seed, "Seed of the draw (the same seed gives the same chip on every platform)")
      ->capture_default_str();
  cmd->add_option("-o,--output", a.output, "Model file to write")->required();
  cmd->add_flag("--json", a.json, "Also print on stdout, as JSON: model, output, sigma, seed");
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    ir::add_coefficient_mismatch(m, a.sigma, a.seed);
    m.origin.notes += fmt::format("{}conductance mismatch sigma {} (seed {}) applied to {}", m.origin.notes.empty() ? "" : "\n",
                                  a.sigma, a.seed, a.model);
    ir::save_model(m, a.output);
    fmt::print(stderr, "spicenn: wrote {} (conductance mismatch sigma {}, seed {})\n", a.output, a.sigma, a.seed);
    if (a.json) {
      const json j = {{"model", a.model}, {"output", a.output}, {"sigma", a.sigma}, {"seed", a.seed}};
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
