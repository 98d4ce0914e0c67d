// Training checkpoints: the model and everything needed to continue
// training exactly where it stopped, written so that a crash at any moment
// leaves the previous checkpoint intact.
//
// A checkpoint directory holds, per checkpoint, a model file and a state
// file with the same base name, plus a pointer file naming the current one:
//
//   run.xml.checkpoint/
//     epoch000003-batch000017.xml     model (ir::save_model)
//     epoch000003-batch000017.state   position, running sums, metrics history, model selection, optimizer state
//     epoch000003-batch000017.best.xml  the best model by validation so far (if any)
//     latest                          "epoch000003-batch000017"
//
// write_checkpoint writes the model, the best model, then the state, then `latest`, each to
// a temporary file that is renamed into place (and fsynced), and only then
// removes older checkpoints and stray temporary files. Until `latest` is
// renamed the previous checkpoint is the current one; a crash can leave
// temporary files or an unreferenced pair behind, never a broken `latest`.
// The state records a hash of the parameter values, so a model file that
// does not belong to its state is detected on reading.
//
//   cosim::write_checkpoint(dir, model, state);
//   if (auto c = cosim::read_checkpoint(dir)) { model = c->model; ... c->state.epoch ... }
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cosim/metrics.hpp"
#include "ir/model.hpp"

namespace spicenn::cosim {

struct checkpoint_state {
  // Position: `epoch` is the 0-based index of the epoch in progress and
  // `batch` the number of its batches already applied; batch == 0 means
  // epochs 0..epoch-1 are complete and nothing of epoch `epoch` has run.
  std::uint64_t epoch = 0;
  std::uint64_t batch = 0;
  std::uint64_t steps = 0;  // optimizer steps so far (also inside `optimizer`)
  // What the position refers to; resuming with different values would not
  // continue the same run, so the trainer refuses.
  std::uint64_t seed = 0;
  std::uint64_t batch_size = 0;
  double augment_shift = 0.0;  // train_options::augment_shift
  std::string data;
  std::uint64_t train_samples = 0;
  std::string engine;
  std::uint64_t validation_samples = 0;  // held out from the training split (0 = none)
  // Running sums of the epoch in progress (for its metrics row).
  double loss_sum = 0.0;  // Σ over samples of the per-sample loss
  std::uint64_t correct = 0;
  std::uint64_t samples = 0;
  double train_seconds = 0.0;  // time spent in training batches
  double seconds = 0.0;        // wall time of the epoch so far
  double learning_rate = 0.0;  // rate of the last step
  std::vector<epoch_metrics> history;  // completed epochs
  // Model selection: the 1-based epoch whose model is best by validation
  // accuracy so far (ties: lower validation loss; 0 = none yet; its model is
  // checkpoint::best_model), and the completed epochs since it (the
  // patience counter, history.size() - best_epoch).
  std::uint64_t best_epoch = 0;
  std::uint64_t epochs_since_best = 0;
  std::string optimizer;  // optimizer::state_to_string()
};

struct checkpoint {
  std::filesystem::path model_file;  // the checkpoint's model file
  std::filesystem::path state_file;
  ir::model model;
  checkpoint_state state;
  std::optional<ir::model> best_model;  // present iff state.best_epoch > 0
};

// Order-sensitive hash (FNV-1a, 64 bit) of every tensor's name, shape and
// value bits; the same for a model and its save/load round trip.
std::uint64_t parameter_hash(const ir::model& m);

// Base name of the checkpoint at a position: "epoch000003-batch000017".
std::string checkpoint_name(std::uint64_t epoch, std::uint64_t batch);

// Creates dir if needed and writes a checkpoint as described above. Throws
// spicenn::error on I/O failure (the previous checkpoint stays current), and
// if state.best_epoch > 0 without a best model.
void write_checkpoint(const std::filesystem::path& dir, const ir::model& m, const checkpoint_state& state,
                      const ir::model* best = nullptr);

// The current checkpoint in dir, or std::nullopt if there is none (no
// directory or no `latest`). Throws spicenn::error if `latest` names files
// that are missing or malformed, or if the model does not match the state's
// parameter hash.
std::optional<checkpoint> read_checkpoint(const std::filesystem::path& dir);

// True if dir has a `latest` pointer.
bool checkpoint_exists(const std::filesystem::path& dir);

// Removes the checkpoint files spicenn wrote in dir (checkpoints, `latest`,
// temporary files) and then dir itself if it is empty. Other files are left
// alone.
void remove_checkpoint(const std::filesystem::path& dir);

// State file text (format "spicenn-checkpoint 2", see checkpoint.cpp), and
// its parser; display_name is used in parse_error messages. best_model_file
// is empty when state.best_epoch == 0.
std::string checkpoint_state_to_string(const checkpoint_state& s, const std::string& model_file, std::uint64_t hash,
                                       const std::string& best_model_file = {}, std::uint64_t best_hash = 0);
struct parsed_checkpoint_state {
  checkpoint_state state;
  std::string model_file;
  std::uint64_t hash = 0;
  std::string best_model_file;  // empty: none
  std::uint64_t best_hash = 0;
};
parsed_checkpoint_state parse_checkpoint_state(const std::string& text, const std::string& display_name);

}  // namespace spicenn::cosim
