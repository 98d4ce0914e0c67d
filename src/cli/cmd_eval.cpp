// spicenn eval MODEL.xml --data mnist --engine spice [--split test|validation|train] [--pool K | --resize N] [--limit N] [--json]
#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/options.hpp"
#include "cli/json.hpp"
#include "core/error.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/metrics.hpp"
#include "cosim/progress.hpp"
#include "cosim/trainer.hpp"
#include "data/dataset.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

void register_eval(CLI::App& app) {
  struct args {
    std::string model, data, engine = "software", split = "test", progress = "auto";
    std::size_t limit = 0, batch = 500, train_limit = 0;
    std::optional<std::size_t> validation;
    int threads = 0;
    bool json = false;
  };
  static args a;
  static image_options image;
  static engine_settings ode;
  auto* cmd = app.add_subcommand("eval",
                                 "Classification accuracy and confusion matrix of a model on a data set (test split by "
                                 "default; or the validation split held out from the training set, as `spicenn train` "
                                 "holds it out), computed by an engine");
  cmd->add_option("model", a.model, "Model file (XML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data,
                  "Data set: moons, circles, spirals (2-D toy sets) or mnist, fashion-mnist (images in [0,1]; 1 unit = "
                  "the model's scale volt)")
      ->required()
      ->check(CLI::IsMember(data::dataset_names()));
  cmd->add_option("--split", a.split,
                  "Which split to evaluate: test, validation (the last --validation samples of the training split, as "
                  "`spicenn train` holds them out) or train (the whole training split, validation samples included)")
      ->capture_default_str()
      ->check(CLI::IsMember({"test", "validation", "train"}));
  cmd->add_option("--validation", a.validation,
                  "With --split validation: the number of held-out samples, as given to `spicenn train` (default: its "
                  "default, 10 % of the training samples, at most 5000)");
  cmd->add_option("--train-limit", a.train_limit,
                  "With --split validation or train: cut the training split to its first N samples first, as "
                  "`spicenn train --limit N` did (0 = all)")
      ->capture_default_str();
  add_image_options(cmd, image);
  cmd->add_option("--engine", a.engine, "software (the family's C++ model) or spice (ngspice operating points)")
      ->capture_default_str()
      ->check(CLI::IsMember({"software", "spice", "fd"}));
  cmd->add_option("--limit", a.limit, "Evaluate the first N samples of the split only (0 = all)")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Samples per forward call (a DC sweep chunk for the spice engine)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a.threads, "Worker threads (software) or ngspice instances (spice); 0 = all cores")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--progress", a.progress, "Progress on stderr: auto, tty, lines or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "tty", "lines", "off"}));
  cmd->add_flag("--json", a.json, "Print the result as JSON (accuracy, loss, confusion matrix rows = true class)");
  add_engine_options(cmd, ode);
  cmd->callback([] {
    const auto model = ir::load_model(a.model);
    const data::load_options lo = image.load();
    if ((a.validation || a.train_limit) && a.split == "test")
      throw error("--validation and --train-limit apply to --split validation or train, not to the test split");
    if (a.validation && a.split == "train") throw error("--validation applies to --split validation");
    data::dataset set;
    if (a.split == "test") {
      set = data::load_dataset(a.data, data::split::test, lo);
    } else if (a.split == "validation") {
      set = data::load_training_split(a.data, lo, a.train_limit, a.validation).validation;
      if (set.size() == 0) throw error("--split validation with --validation 0: there is no validation set");
    } else {
      set = data::load_dataset(a.data, data::split::train, lo);
      if (a.train_limit > 0) set = set.head(a.train_limit);
    }
    cosim::check_model_fits_data(model, set);
    cosim::evaluator_options eo;
    eo.threads = cosim::threads_per_rank(a.threads);
    apply(ode, eo);
    auto eval = cosim::make_evaluator(model, cosim::engine_kind_from_string(a.engine), eo);

    // Under mpirun each rank evaluates its share of the batches; rank 0 reports.
    const cosim::process_group* group = cosim::process_group::world();
    const bool root = !group || group->root();
    if (root && a.engine == "spice") print_realisability_warnings(model);
    cosim::progress_line progress(stderr, root ? cosim::progress_mode_from_string(a.progress) : cosim::progress_mode::off);
    cosim::evaluate_options options;
    options.group = group;
    options.limit = a.limit;
    options.batch_size = a.batch;
    options.progress = root ? &progress : nullptr;
    const auto report = cosim::evaluate_classifier(*eval, set, options);
    progress.clear();
    if (!root) return;

    if (a.json) {
      const json j = {{"model", a.model},       {"data", a.data},
                      {"split", a.split},       {"engine", a.engine},
                      {"samples", report.samples}, {"correct", report.correct()},
                      {"accuracy", report.accuracy}, {"loss", report.loss},
                      {"seconds", report.seconds}, {"confusion", report.confusion}};
      fmt::print("{}\n", to_text(j));
      return;
    }
    fmt::print("{}: {} {} ({} samples), {} engine\n", a.model, a.data, a.split, report.samples, a.engine);
    fmt::print("accuracy {:.2f} % ({}/{}), mean cross-entropy {:.4f}, {:.1f} s\n", 100 * report.accuracy,
               report.correct(), report.samples, report.loss, report.seconds);
    fmt::print("{}", cosim::format_confusion_matrix(report));
  });
}

}  // namespace spicenn::cli
