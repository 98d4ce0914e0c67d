// Classification metrics through an evaluator, and the per-epoch metrics
// rows training writes to CSV.
//
//   auto test = data::load_dataset("mnist", data::split::test);
//   auto report = cosim::evaluate_classifier(*eval, test, {.limit = 1000});
//   fmt::print("{:.2f} %\n{}", 100 * report.accuracy, cosim::format_confusion_matrix(report));
//
//   std::string csv = cosim::metrics_csv(history);   // header + one row per epoch
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "cosim/distributed.hpp"
#include "cosim/evaluator.hpp"
#include "cosim/progress.hpp"
#include "data/dataset.hpp"

namespace spicenn::cosim {

// ---- evaluation ---------------------------------------------------------

struct evaluate_options {
  std::size_t limit = 0;         // evaluate the first `limit` samples (0 = all)
  std::size_t batch_size = 500;  // samples per evaluator.forward call
  progress_line* progress = nullptr;  // optional live report ("evaluating 1500/10000 ...")
  std::string label = "evaluating";   // prefix of the progress text
  // Polled between batches; true = stop early (the report then has stopped = true
  // and covers only the samples evaluated so far).
  std::function<bool()> stop_requested{};
  // Under MPI (process_group::world()): the batches — the same ones as
  // without it — are shared out over the ranks in contiguous runs, and the
  // report, identical to the serial one (per-batch loss sums added in batch
  // order), is returned on every rank. nullptr = serial.
  const process_group* group = nullptr;
};

struct classification_report {
  std::string data;         // data set name
  std::size_t samples = 0;
  std::size_t classes = 0;  // rows/columns of the confusion matrix: max(data classes, model outputs)
  double loss = 0.0;        // mean softmax cross-entropy
  double accuracy = 0.0;    // fraction in [0, 1]
  // confusion[true_label][predicted] = count.
  std::vector<std::vector<std::uint64_t>> confusion;
  double seconds = 0.0;     // wall time of the forward passes
  bool stopped = false;     // evaluate_options::stop_requested cut the evaluation short

  std::uint64_t correct() const;
};

// Runs evaluator.forward over the data set (or its first `limit` samples) in
// batches and accumulates loss, accuracy and the confusion matrix. The
// evaluator must already hold the model (set_model). Throws spicenn::error
// if the outputs have fewer rows than the data set has classes. With
// options.group every rank of the group must call it (collective).
classification_report evaluate_classifier(evaluator& eval, const data::dataset& set, const evaluate_options& options = {});

// A text table: rows = true class, columns = predicted class, plus per-class
// recall, e.g.
//   true\pred      0      1   recall
//           0    497      3   99.40%
//           1      8    492   98.40%
std::string format_confusion_matrix(const classification_report& report);

// ---- per-epoch metrics (training) ---------------------------------------

struct epoch_metrics {
  std::uint64_t epoch = 0;         // 1-based
  double train_loss = 0.0;         // mean over the epoch's samples, parameters as they were at each batch
  double train_accuracy = 0.0;     // fraction in [0, 1], same convention
  // On the validation set held out from the training split, after the epoch.
  double val_loss = std::numeric_limits<double>::quiet_NaN();      // NaN: no validation set
  double val_accuracy = std::numeric_limits<double>::quiet_NaN();  // NaN: no validation set
  double seconds = 0.0;            // wall time of the epoch (training + validation), across resumes
  double samples_per_second = 0.0; // training samples / training time
  double learning_rate = 0.0;      // rate of the epoch's last step
  std::string engine;              // software | spice | fd
};

// "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate,engine"
std::string_view metrics_csv_header();
// One row without the newline; doubles in shortest round-trip form, NaN as an
// empty field.
std::string metrics_csv_row(const epoch_metrics& m);
// Inverse of metrics_csv_row; throws spicenn::error naming the bad field.
epoch_metrics parse_metrics_csv_row(std::string_view line);
// Header line and one line per entry.
std::string metrics_csv(const std::vector<epoch_metrics>& history);
// Reads a metrics CSV written by the trainer (the header, then one row per
// epoch); throws parse_error naming file:line for a bad header or row.
std::vector<epoch_metrics> read_metrics_csv(const std::filesystem::path& file);

// The final, single test evaluation of a training run as a small JSON
// object (written next to the metrics CSV as NAME.test.json):
//   {"data": "moons", "split": "test", "samples": 1000, "correct": 998,
//    "accuracy": 0.998, "loss": 0.0123, "selected_epoch": 7, "epochs": 10,
//    "val_accuracy": 0.995, "val_loss": 0.02, "engine": "software", "seconds": 0.01}
// selected_epoch = the epoch whose model was evaluated; val_* null without
// a validation set.
struct test_summary {
  classification_report report;
  std::uint64_t selected_epoch = 0;
  std::uint64_t epochs = 0;
  double val_accuracy = std::numeric_limits<double>::quiet_NaN();
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  std::string engine;
};
std::string test_summary_json(const test_summary& s);

}  // namespace spicenn::cosim
