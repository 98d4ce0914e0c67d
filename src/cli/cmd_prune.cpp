#include <fmt/format.h>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "ir/model_file.hpp"
#include "ir/prune.hpp"
#include "ir/schema.hpp"
#include "models/kan.hpp"

namespace spicenn::cli {

void register_prune(CLI::App& app) {
  struct args {
    std::string model, output;
    double below = 1e-6;
  };
  static args a;
  auto* cmd = app.add_subcommand(
      "prune",
      "Set the conductances the circuit would realise with resistors above a given value to zero (MON: input pairs "
      "merged first, as the compiler does; g_ground kept. KAN: crossbar coefficients |c| (batch normalization folded "
      "first)); then check the cost with eval or verify");
  cmd->add_option("model", a.model, "MON or KAN model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--below", a.below, "Conductance threshold in siemens (1e-6: no resistor above 1 Mohm)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-o,--output", a.output, "Model file to write")->required();
  cmd->callback([] {
    auto m = ir::load_model(a.model);
    if (m.kind == ir::family::kan) m = models::kan_fold_batch_norm(m);
    const auto r = m.kind == ir::family::kan ? ir::prune_kan(m, a.below) : ir::prune_mon(m, a.below);
    ir::validate(m);
    m.origin.notes += fmt::format("{}pruned conductances below {} S from {}", m.origin.notes.empty() ? "" : "; ", a.below,
                                  a.model);
    ir::save_model(m, a.output);
    fmt::print(stderr,
               "spicenn: wrote {}: {} conductances below {} S ({} units) set to zero, {} kept{}\n", a.output, r.removed,
               a.below, r.threshold, r.kept,
               m.kind == ir::family::mon ? fmt::format("; {} input pairs merged into one conductance first", r.pairs_merged)
                                         : std::string());
  });
}

}  // namespace spicenn::cli
