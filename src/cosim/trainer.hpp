// The training loop shared by every family: mini-batch gradient descent
// through a cosim::evaluator (software model, ngspice, finite differences),
// with per-epoch evaluation on a validation set held out from the training
// split, selection of the best-validation model, optional early stopping,
// one final test evaluation of the selected model, a metrics CSV,
// crash-safe checkpoints, exact resume and graceful interruption.
//
//   auto model = ir::load_model("mon.xml");
//   auto eval = cosim::make_evaluator(model, cosim::engine_kind::software);
//   auto [fit, val] = data::hold_out(data::load_dataset("moons", data::split::train), 200);
//   auto test = data::load_dataset("moons", data::split::test);
//   cosim::train_options o;
//   o.epochs = 10;
//   o.batch_size = 32;
//   o.patience = 3;
//   o.schedule.base = 1e-2;
//   o.checkpoint_dir = "mon-trained.xml.checkpoint";
//   o.metrics_csv = "metrics.csv";
//   auto result = cosim::train(model, *eval, fit, &val, &test, o);
//   // model = the best-validation epoch's model; result.test_accuracy its test accuracy
//
// Each epoch visits the training samples in a permutation derived only from
// (seed, epoch), so a run resumed from a checkpoint at epoch e, batch b sees
// exactly the batches an uninterrupted run would, and its final parameters
// are bit-identical (given a deterministic evaluator).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cosim/distributed.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/metrics.hpp"
#include "cosim/optimizer.hpp"
#include "cosim/progress.hpp"
#include "data/dataset.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

// Where training stands after a batch (passed to train_options::on_batch).
struct batch_event {
  std::uint64_t epoch = 0;  // 0-based epoch index
  std::uint64_t batch = 0;  // batches of this epoch done (1..batches)
  std::uint64_t batches = 0;  // batches per epoch
  std::uint64_t steps = 0;  // optimizer steps so far
  double loss = 0.0;        // this batch's mean loss (before the step)
};

struct train_options {
  std::uint64_t epochs = 10;      // total epochs (a resumed run counts the ones already done)
  std::uint64_t batch_size = 32;  // samples per optimizer step (the last batch of an epoch may be smaller)
  std::uint64_t seed = 1;         // shuffling: epoch e uses the permutation of (seed, e)
  // Image data: translate every training image by a random offset of up to
  // this many pixels per axis (data::shift_images: whole or, for fractional
  // values, bilinear sub-pixel shifts), drawn from (seed, epoch, batch);
  // 0 = off. Validation and test images are never shifted.
  double augment_shift = 0.0;
  optimizer_options optimizer;
  // Learning rate per step. For a cosine schedule with total_steps == 0 the
  // trainer uses epochs × batches per epoch.
  lr_schedule schedule;

  // Early stopping: stop when the validation accuracy has not improved for
  // `patience` epochs (0 = off; needs a validation set).
  std::uint64_t patience = 0;

  std::size_t test_limit = 0;         // the final test evaluation uses the first test_limit test samples (0 = all)
  std::size_t eval_batch_size = 500;  // samples per forward call when evaluating (validation and test)

  std::filesystem::path metrics_csv;     // rewritten (atomically) after every epoch; empty = none
  std::filesystem::path test_json;       // the final test evaluation (test_summary_json); empty = none
  std::filesystem::path checkpoint_dir;  // empty = no checkpoints (and no resume)
  std::uint64_t checkpoint_every = 0;    // also checkpoint every K batches (0 = only at epoch ends)
  // Continue from the checkpoint in checkpoint_dir. Without it, an existing
  // checkpoint is an error unless overwrite_checkpoint is set.
  bool resume = false;
  bool overwrite_checkpoint = false;

  std::string data_name;  // recorded in checkpoints and provenance; default: train.name

  progress_mode progress = progress_mode::automatic;
  double progress_interval = 10.0;  // seconds between lines when stderr is not a terminal
  std::FILE* log = stderr;          // progress and epoch summaries; nullptr = silent

  // Polled after every batch; true = stop: write a checkpoint (if
  // checkpoint_dir is set) and return with interrupted = true.
  std::function<bool()> stop_requested{};
  // Called after every applied batch (after any checkpoint of that batch).
  // May throw to abort training (tests use it to simulate a crash).
  std::function<void(const batch_event&)> on_batch{};
  // Called once on the selected model after training, before the final test
  // evaluation (so the test accuracy is that of the model as written);
  // `spicenn train` passes cosim::prepare_for_export (cosim/export.hpp).
  std::function<void(ir::model&)> finalize{};

  // Data-parallel training under MPI (docs/distributed.md); nullptr = serial
  // (the loop as without MPI). With a group, every rank calls train() with
  // the same model, data and options. Each batch is cut into
  // min(pieces, batch samples) pieces of consecutive samples with
  // boundaries ⌊i·b/K⌋ that do not depend on the number of ranks; rank r
  // evaluates a contiguous run of them (process_group::share), one
  // evaluator.gradient call per piece; the pieces' size-weighted losses,
  // gradients and buffers are added in piece order (process_group::
  // ordered_sum) and divided by the batch size. So every rank takes the same
  // step, and the trained model is bit-identical for any number of ranks
  // (given the same pieces, evaluator threads and a deterministic engine);
  // it differs in the last bits from the serial loop's, which evaluates the
  // batch in one call. Buffers (e.g. batch-norm running statistics) become
  // the size-weighted mean of the pieces' new values. Validation and test
  // run distributed (evaluate_options::group). Checkpoints, the metrics CSV,
  // the test JSON and all progress output come from rank 0 only; on resume
  // rank 0 reads the checkpoint and sends it to the other ranks.
  const process_group* group = nullptr;
  std::uint64_t pieces = 6;
};

struct train_result {
  std::vector<epoch_metrics> history;  // every completed epoch, including ones before a resume
  bool interrupted = false;            // stopped by stop_requested before the last epoch ended
  bool resumed = false;
  std::uint64_t resumed_epoch = 0, resumed_batch = 0;  // position the run resumed from
  std::uint64_t epoch = 0, batch = 0;  // position reached (epoch == epochs, batch == 0 when finished)
  std::uint64_t steps = 0;
  bool stopped_early = false;           // options.patience ended the run before options.epochs
  // Model selection (when the run finished): the epoch whose model `model`
  // holds — the best by validation accuracy (ties: lower validation loss),
  // or the last one without a validation set — and its validation metrics.
  std::uint64_t selected_epoch = 0;
  std::optional<double> validation_accuracy, validation_loss;
  // The single test evaluation of the selected model at the end, if a test
  // set was given.
  std::optional<double> test_accuracy;
  std::optional<classification_report> test;
  std::filesystem::path last_checkpoint;  // state file of the last checkpoint written, if any
};

// Trains model in place. For every batch: eval.set_model(model), gradient,
// optimizer step (with projection onto the constraints), then the
// gradient's `buffers` (non-trainable state) copied into the model. After
// every epoch: validation evaluation (if validation != nullptr and not
// empty), best-model bookkeeping, metrics row, checkpoint, early stopping.
// When the run ends (all epochs, or patience), model is set to the selected
// model (best validation; the last epoch's without validation), its
// provenance records the data, the selected epoch and its validation
// accuracy, options.finalize runs on it, and then — only then — the test set
// (if test != nullptr) is evaluated once; its accuracy goes into
// model.origin.accuracy, the result and options.test_json. An interrupted
// run leaves model at its current (not the selected) parameters.
// With options.resume, model is replaced by the checkpoint's model (which
// must have the same family and sizes). Throws spicenn::error on a model
// that does not fit the data, on inconsistent options, on resume without a
// checkpoint or with a checkpoint from a different run (seed, batch size,
// data, training or validation samples), on a bad buffer (unknown tensor,
// trainable tensor, wrong size, non-finite value), and on whatever the
// evaluator throws (the last checkpoint stays valid).
train_result train(ir::model& model, evaluator& eval, const data::dataset& train, const data::dataset* validation,
                   const data::dataset* test, const train_options& options);

// The sample order of an epoch: a permutation of 0..n-1 determined by
// (seed, epoch) alone (Fisher-Yates with spicenn::rng).
std::vector<std::size_t> epoch_permutation(std::size_t n, std::uint64_t seed, std::uint64_t epoch);

// Throws spicenn::error if the model's input count (MON/KirchhoffNet
// `inputs`, KAN `width0`) differs from the data's feature count or it has
// fewer outputs than the data has classes, naming both.
void check_model_fits_data(const ir::model& model, const data::dataset& set);

// Installs a SIGINT/SIGTERM handler for its lifetime: the first signal sets a
// flag (requested() becomes true) and prints a note on stderr; a second
// SIGINT restores the default action and re-raises it (immediate exit).
class interrupt_guard {
 public:
  interrupt_guard();
  ~interrupt_guard();
  interrupt_guard(const interrupt_guard&) = delete;
  interrupt_guard& operator=(const interrupt_guard&) = delete;
  bool requested() const;
  int signal_number() const;  // the signal received, 0 if none
};

}  // namespace spicenn::cosim
