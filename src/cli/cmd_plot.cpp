// spicenn plot METRICS.csv [MORE.csv ...] -o CURVES.png|svg [--quantity accuracy|loss]
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "cosim/metrics.hpp"
#include "plot/plot.hpp"

namespace spicenn::cli {

void register_plot(CLI::App& app) {
  struct args {
    std::vector<std::string> metrics;
    std::string output, quantity = "accuracy", title;
  };
  static args a;
  auto* cmd = app.add_subcommand("plot",
                                 "Training curves from the metrics CSVs `spicenn train --metrics` writes: training and "
                                 "validation accuracy (or loss) per epoch, one pair of curves per file (PNG or SVG)");
  cmd->add_option("metrics", a.metrics, "Metrics CSV file(s); several are drawn together (e.g. one per learning rate)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("-o,--output", a.output, "Figure to write (.png or .svg)")->required();
  cmd->add_option("--quantity", a.quantity, "accuracy (%) or loss (mean cross-entropy)")
      ->capture_default_str()
      ->check(CLI::IsMember({"accuracy", "loss"}));
  cmd->add_option("--title", a.title, "Figure title (default: the file names)");
  cmd->callback([] {
    const bool accuracy = a.quantity == "accuracy";
    plot::figure f;
    f.x_label = "epoch";
    f.y_label = accuracy ? "accuracy (%)" : "mean cross-entropy";
    std::string names;
    std::size_t epochs = 0;
    for (const auto& file : a.metrics) {
      const auto rows = cosim::read_metrics_csv(file);  // parse_error names file:line
      if (rows.empty()) throw error(fmt::format("plot: {} has no epochs", file));
      const std::string name = std::filesystem::path(file).stem().string();
      names += (names.empty() ? "" : ", ") + name;
      plot::curve train{name + " training", {}, {}, plot::style::dashed}, val{name + " validation", {}, {}, plot::style::lines};
      for (const auto& r : rows) {
        const double scale = accuracy ? 100.0 : 1.0;
        train.x.push_back(static_cast<double>(r.epoch));
        train.y.push_back(scale * (accuracy ? r.train_accuracy : r.train_loss));
        val.x.push_back(static_cast<double>(r.epoch));
        val.y.push_back(scale * (accuracy ? r.val_accuracy : r.val_loss));  // NaN without a validation set: left out
      }
      epochs += rows.size();
      f.curves.push_back(std::move(train));
      if (std::any_of(val.y.begin(), val.y.end(), [](double v) { return std::isfinite(v); })) f.curves.push_back(std::move(val));
    }
    f.title = a.title.empty() ? fmt::format("training curves: {}", names) : a.title;
    plot::write(f, a.output);
    fmt::print("wrote {} ({} curves, {} epochs)\n", a.output, f.curves.size(), epochs);
  });
}

}  // namespace spicenn::cli
