#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
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
    bool json = false;
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
  cmd->add_flag("--json", a.json,
                "Also print on stdout, as JSON: model, output, below_siemens, threshold (normalized units), removed, "
                "kept, pairs_merged (mon; null for kan)");
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
    if (a.json) {
      const json j = {{"model", a.model},
                      {"output", a.output},
                      {"below_siemens", a.below},
                      {"threshold", r.threshold},
                      {"removed", r.removed},
                      {"kept", r.kept},
                      {"pairs_merged", m.kind == ir::family::mon ? json(r.pairs_merged) : json(nullptr)}};
      fmt::print("{}\n", to_text(j));
    }
  });
}

}  // namespace spicenn::cli
