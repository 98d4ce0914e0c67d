// spicenn train MODEL.xml --data moons --engine software --epochs 10 --out TRAINED.xml
#include <filesystem>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/json.hpp"
#include "cli/options.hpp"
#include "core/error.hpp"
#include "core/numbers.hpp"
#include "cosim/checkpoint.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/export.hpp"
#include "cosim/trainer.hpp"
#include "data/dataset.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cli {

namespace {

struct train_args {
  engine_settings ode;
  std::string model, data, engine = "software", out, metrics, checkpoint_dir;
  std::uint64_t epochs = 0, batch = 32, seed = 1, checkpoint_every = 0, lr_decay_every = 0, patience = 0, pieces = 6;
  std::size_t limit = 0, test_limit = 0, eval_batch = 500;
  image_options image;
  double augment_shift = 0.0;
  std::optional<std::size_t> validation;  // default: data::default_validation_size
  double lr = 0.01, lr_min = 0.0, lr_gamma = 0.1, weight_decay = 0.0, momentum = 0.0, progress_interval = 10.0;
  std::string optimizer = "adam", schedule = "constant", progress = "auto";
  int threads = 0;
  bool resume = false, fresh = false, no_test = false, json = false;
};

// The command as given, for provenance and the resume hint.
std::string command_line(const train_args& a, bool with_resume) {
  std::string s = fmt::format("spicenn train {} --data {} --engine {} --epochs {} --batch {} --lr {} --seed {}", a.model,
                              a.data, a.engine, a.epochs, a.batch, format_double(a.lr), a.seed);
  if (a.optimizer != "adam") s += fmt::format(" --optimizer {}", a.optimizer);
  if (a.schedule != "constant") s += fmt::format(" --schedule {}", a.schedule);
  if (a.image.pool != 1) s += fmt::format(" --pool {}", a.image.pool);
  if (a.image.resize) s += fmt::format(" --resize {}", a.image.resize);
  if (a.augment_shift > 0) s += fmt::format(" --augment-shift {}", format_double(a.augment_shift));
  if (a.limit) s += fmt::format(" --limit {}", a.limit);
  if (a.validation) s += fmt::format(" --validation {}", *a.validation);
  if (a.patience) s += fmt::format(" --patience {}", a.patience);
  if (a.test_limit) s += fmt::format(" --test-limit {}", a.test_limit);
  if (a.no_test) s += " --no-test";
  if (a.threads) s += fmt::format(" --threads {}", a.threads);
  if (a.pieces != 6) s += fmt::format(" --pieces {}", a.pieces);
  if (a.checkpoint_every) s += fmt::format(" --checkpoint-every {}", a.checkpoint_every);
  if (!a.checkpoint_dir.empty()) s += fmt::format(" --checkpoint-dir {}", a.checkpoint_dir);
  if (!a.metrics.empty()) s += fmt::format(" --metrics {}", a.metrics);
  s += fmt::format(" --out {}", a.out);
  if (with_resume) s += " --resume";
  return s;
}

// METRICS.csv -> METRICS.test.json (any other name: NAME.test.json).
std::filesystem::path test_json_path(const std::string& metrics) {
  std::filesystem::path p = metrics;
  if (p.extension() == ".csv") p.replace_extension();
  p += ".test.json";
  return p;
}

void run_train(const train_args& a) {
  if (a.resume && a.fresh) throw error("--resume and --fresh exclude each other");
  const cosim::process_group* group = cosim::process_group::world();  // under mpirun: data-parallel
  const bool root = !group || group->root();                          // writes files, prints
  ir::model model = ir::load_model(a.model);
  const data::load_options lo = a.image.load();
  auto [train_set, validation_set] = data::load_training_split(a.data, lo, a.limit, a.validation);
  std::optional<data::dataset> test_set;
  if (!a.no_test) test_set = data::load_dataset(a.data, data::split::test, lo);
  if (a.patience > 0 && validation_set.size() == 0)
    throw error(fmt::format("--patience {} needs a validation set (--validation 0 disables it)", a.patience));

  const std::filesystem::path checkpoint_dir = a.checkpoint_dir.empty() ? a.out + ".checkpoint" : a.checkpoint_dir;
  if (root && !a.resume && !a.fresh && cosim::checkpoint_exists(checkpoint_dir))
    throw error(fmt::format("{} holds a checkpoint of an earlier run: pass --resume to continue it (with the same "
                            "--data, --pool, --resize, --batch, --seed, --limit, --validation), or --fresh to discard it and start over",
                            checkpoint_dir.string()));

  cosim::evaluator_options eo;
  eo.threads = cosim::threads_per_rank(a.threads);
  apply(a.ode, eo);
  eo.input_gradient = false;  // training needs ∂L/∂θ only
  auto eval = cosim::make_evaluator(model, cosim::engine_kind_from_string(a.engine), eo);
  if (root && a.engine == "spice") print_realisability_warnings(model);  // before the run, not after every step

  cosim::train_options o;
  o.epochs = a.epochs;
  o.batch_size = a.batch;
  o.seed = a.seed;
  o.patience = a.patience;
  o.optimizer.kind = cosim::optimizer_kind_from_string(a.optimizer);
  o.optimizer.weight_decay = a.weight_decay;
  o.optimizer.momentum = a.momentum;
  o.optimizer.threads = eo.threads;
  o.schedule.kind = cosim::schedule_kind_from_string(a.schedule);
  o.schedule.base = a.lr;
  o.schedule.min = a.lr_min;
  o.schedule.step_size = a.lr_decay_every;
  o.schedule.gamma = a.lr_gamma;
  o.test_limit = a.test_limit;
  o.eval_batch_size = a.eval_batch;
  o.metrics_csv = a.metrics;
  if (!a.metrics.empty() && !a.no_test) o.test_json = test_json_path(a.metrics);
  o.checkpoint_dir = checkpoint_dir;
  o.checkpoint_every = a.checkpoint_every;
  o.resume = a.resume;
  o.overwrite_checkpoint = a.fresh;
  o.data_name = a.data;
  o.augment_shift = a.augment_shift;
  o.progress = cosim::progress_mode_from_string(a.progress);
  o.progress_interval = a.progress_interval;
  o.group = group;
  o.pieces = a.pieces;

  // The selected model is made ready for export before its test evaluation
  // and before it is written.
  o.finalize = [](ir::model& m) { cosim::prepare_for_export(m); };

  if (group && root)
    fmt::print(stderr, "spicenn: data-parallel over {} MPI rank{}: each batch in {} pieces, {} thread{} per rank\n",
               group->size(), group->size() == 1 ? "" : "s", a.pieces, eo.threads, eo.threads == 1 ? "" : "s");
  if (root)
  fmt::print(stderr,
             "spicenn: training {} ({} model) on {}{} ({} samples, validation {} held out{}) with the {} engine: {} epochs{}, "
             "batch {}, {} lr {}\n",
             a.model, ir::to_string(model.kind), a.data,
             a.image.pool != 1 ? fmt::format(" {0}x{0}-pooled", a.image.pool)
             : a.image.resize  ? fmt::format(" resized to {0}x{0}", a.image.resize)
                         : "",
             train_set.size(), validation_set.size(),
             test_set ? fmt::format(", test {} once at the end",
                                    a.test_limit ? std::min(a.test_limit, test_set->size()) : test_set->size())
                      : std::string(),
             a.engine, a.epochs, a.patience ? fmt::format(" (patience {})", a.patience) : "", a.batch, a.optimizer,
             format_double(a.lr));

  cosim::interrupt_guard interrupt;
  o.stop_requested = [&] { return interrupt.requested(); };
  auto result = cosim::train(model, *eval, train_set, validation_set.size() ? &validation_set : nullptr,
                             test_set ? &*test_set : nullptr, o);

  if (result.interrupted) {
    if (!root) throw CLI::RuntimeError(130);
    const std::string where = result.batch == 0 ? fmt::format("after epoch {}", result.epoch)
                                                : fmt::format("in epoch {} after batch {}", result.epoch + 1, result.batch);
    fmt::print(stderr,
               "spicenn: interrupted {} (step {}); checkpoint in {}\n"
               "spicenn: to continue: {}\n",
               where, result.steps, checkpoint_dir.string(),
               (group ? fmt::format("mpirun -np {} ", group->size()) : std::string()) + command_line(a, true));
    throw CLI::RuntimeError(130);
  }
  if (!root) return;  // rank 0 writes the model
  model.origin.created_by = "spicenn 0.1.0 " + command_line(a, false).substr(std::string_view("spicenn ").size());
  if (a.image.pool != 1)
    model.origin.notes += fmt::format("\ninputs: {} with {}x{} average pooling ({}x{} features)", a.data, a.image.pool, a.image.pool,
                                      28 / a.image.pool, 28 / a.image.pool);
  if (a.image.resize)
    model.origin.notes += fmt::format("\ninputs: {} resized to {}x{} (bilinear, as PIL / torchvision Resize; --resize {})",
                                      a.data, a.image.resize, a.image.resize, a.image.resize);
  if (a.augment_shift > 0)
    model.origin.notes += fmt::format("\ntraining images shifted by up to {} pixels per axis (augmentation)", a.augment_shift);
  ir::save_model(model, a.out);
  fmt::print(stderr,
             "spicenn: wrote {}: the model of epoch {} of {}{} ({} steps{}{}); checkpoint kept in {} (--resume --epochs "
             "N to train on)\n",
             a.out, result.selected_epoch, result.history.size(),
             result.validation_accuracy
                 ? fmt::format(", best validation accuracy {:.2f} %", 100 * *result.validation_accuracy)
                 : std::string(" (last epoch, no validation set)"),
             result.steps, result.stopped_early ? ", stopped early" : "",
             result.test_accuracy ? fmt::format(", test accuracy {:.2f} %", 100 * *result.test_accuracy) : std::string(),
             checkpoint_dir.string());
  if (!a.metrics.empty())
    fmt::print(stderr, "spicenn: metrics in {}{}\n", a.metrics,
               o.test_json.empty() || !result.test ? std::string() : fmt::format(", the test evaluation in {}", o.test_json.string()));
  if (a.json) {
    auto optional = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
    const json j = {{"model", a.out},
                    {"engine", a.engine},
                    {"epochs", result.history.size()},
                    {"selected_epoch", result.selected_epoch},
                    {"steps", result.steps},
                    {"stopped_early", result.stopped_early},
                    {"resumed", result.resumed},
                    {"validation_accuracy", optional(result.validation_accuracy)},
                    {"validation_loss", optional(result.validation_loss)},
                    {"test_accuracy", optional(result.test_accuracy)},
                    {"metrics", a.metrics.empty() ? json(nullptr) : json(a.metrics)},
                    {"checkpoint", checkpoint_dir.string()}};
    fmt::print("{}\n", to_text(j));
  }
}

}  // namespace

void register_train(CLI::App& app) {
  static train_args a;
  auto* cmd = app.add_subcommand(
      "train",
      "Train a model by mini-batch gradient descent through an engine (software model or ngspice), with per-epoch "
      "evaluation on a validation split held out from the training set, selection of the best-validation model, "
      "optional early stopping, one test evaluation of the selected model at the end, a metrics CSV and crash-safe "
      "checkpoints (Ctrl-C stops after the current batch; --resume continues exactly). See docs/training.md");
  cmd->add_option("model", a.model, "Initial model file (XML), e.g. from `spicenn init`")->required()->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data,
                  "Data set: moons, circles, spirals (2-D toy sets, 2000 train / 1000 test samples, used as they come) "
                  "or mnist, fashion-mnist (28x28 images in [0,1]; 1 unit = the model's scale volt)")
      ->required()
      ->check(CLI::IsMember(data::dataset_names()));
  cmd->add_option("--engine", a.engine,
                  "What computes loss and gradients: software (the family's C++ model), spice (ngspice operating point "
                  "and its linearization) or fd (finite differences through ngspice; tiny models only)")
      ->capture_default_str()
      ->check(CLI::IsMember({"software", "spice", "fd"}));
  cmd->add_option("--epochs", a.epochs, "Total number of passes over the training set (a resumed run counts the ones done)")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", a.batch, "Samples per optimizer step (mean loss over the batch)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", a.lr, "Learning rate (initial rate for cosine/step schedules), in parameter units per step")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--optimizer", a.optimizer, "adam (beta1 0.9, beta2 0.999, eps 1e-8) or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "sgd"}));
  cmd->add_option("--momentum", a.momentum, "SGD heavy-ball momentum in [0,1) (0 = plain SGD)")->capture_default_str();
  cmd->add_option("--weight-decay", a.weight_decay,
                  "Decoupled weight decay per step: theta -= lr * decay * theta (0 = off)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--schedule", a.schedule,
                  "Learning-rate schedule over optimizer steps: constant, cosine (from --lr down to --lr-min over all "
                  "epochs) or step (times --lr-gamma every --lr-decay-every steps)")
      ->capture_default_str()
      ->check(CLI::IsMember({"constant", "cosine", "step"}));
  cmd->add_option("--lr-min", a.lr_min, "Final learning rate of the cosine schedule")->capture_default_str();
  cmd->add_option("--lr-decay-every", a.lr_decay_every, "Step schedule: optimizer steps between decays")->capture_default_str();
  cmd->add_option("--lr-gamma", a.lr_gamma, "Step schedule: factor applied at each decay")->capture_default_str();
  cmd->add_option("--seed", a.seed,
                  "Shuffling seed: epoch e visits the samples in an order fixed by (seed, e), on every platform")
      ->capture_default_str();
  add_image_options(cmd, a.image);
  cmd->add_option("--augment-shift", a.augment_shift,
                  "Image data: shift every training image by a random offset of up to K pixels per axis (after "
                  "--pool; zeros shifted in; a fractional K, e.g. 0.5, shifts by sub-pixel amounts with bilinear "
                  "resampling), new offsets every batch; validation and test images are not shifted; 0 = off")
      ->capture_default_str();
  cmd->add_option("--limit", a.limit, "Use the first N training samples only (0 = all); the validation set is held out of these")
      ->capture_default_str();
  cmd->add_option("--validation", a.validation,
                  "Hold out the LAST N samples of the training split (after --limit) as the validation set: evaluated "
                  "after every epoch, it selects the model written to --out and drives --patience. Default: 10 % of "
                  "the training samples, at most 5000 (5000 for mnist/fashion-mnist, 200 for the toy sets); 0 = none "
                  "(the last epoch's model is written)");
  cmd->add_option("--patience", a.patience,
                  "Early stopping: stop when the validation accuracy has not improved for P epochs (0 = off)")
      ->capture_default_str();
  cmd->add_option("--test-limit", a.test_limit,
                  "The final test evaluation (once, with the selected model) uses the first N test samples only (0 = all)")
      ->capture_default_str();
  cmd->add_flag("--no-test", a.no_test, "Skip the final test evaluation");
  cmd->add_flag("--json", a.json,
                "Print the result on stdout as JSON: model, engine, epochs, selected_epoch, steps, stopped_early, "
                "resumed, validation_accuracy, validation_loss, test_accuracy, metrics, checkpoint");
  cmd->add_option("--eval-batch", a.eval_batch, "Samples per forward call when evaluating (validation and test)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", a.threads,
                  "Worker threads (software engine) or ngspice instances (spice engine); 0 = all cores")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--pieces", a.pieces,
                  "Under mpirun (data-parallel training, docs/distributed.md): every batch is cut into this many "
                  "pieces of consecutive samples, whatever the number of ranks; each rank evaluates a contiguous run of "
                  "them and the gradients are added in piece order, so the trained model is bit-identical for any "
                  "number of ranks at the same --pieces. More pieces allow more ranks, fewer cost less per batch. "
                  "Ignored without mpirun")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("-o,--out", a.out,
                  "Trained model file to write (XML, written atomically at the end): the best-validation epoch's model "
                  "(the last epoch's with --validation 0)")
      ->required();
  cmd->add_option("--metrics", a.metrics,
                  "CSV file rewritten after every epoch: epoch, train_loss, train_accuracy, val_loss, val_accuracy, "
                  "seconds, samples_per_second, learning_rate, engine; the final test evaluation goes to NAME.test.json "
                  "next to it");
  cmd->add_option("--checkpoint-dir", a.checkpoint_dir, "Checkpoint directory (default: OUT.checkpoint)");
  cmd->add_option("--checkpoint-every", a.checkpoint_every,
                  "Also checkpoint every K optimizer steps (batches), besides every epoch end; 0 = epoch ends only")
      ->capture_default_str();
  cmd->add_flag("--resume", a.resume,
                "Continue from the checkpoint in the checkpoint directory (same --data, --pool, --resize, --batch, --seed, --limit, "
                "--validation give "
                "bit-identical results to an uninterrupted run; --epochs may grow)");
  cmd->add_flag("--fresh", a.fresh, "Discard an existing checkpoint and start from MODEL");
  cmd->add_option("--progress", a.progress,
                  "Progress on stderr: auto (a live line on a terminal, else periodic lines), tty, lines or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "tty", "lines", "off"}));
  cmd->add_option("--progress-interval", a.progress_interval, "Seconds between progress lines when not on a terminal")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  add_engine_options(cmd, a.ode);
  add_spice_gradient_options(cmd, a.ode);
  cmd->callback([] { run_train(a); });
}

}  // namespace spicenn::cli
