#include "cosim/metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/numbers.hpp"
#include "core/text.hpp"
#include "models/loss.hpp"

namespace spicenn::cosim {

std::uint64_t classification_report::correct() const {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < confusion.size(); ++i) sum += confusion[i][i];
  return sum;
}

namespace {

// One evaluation batch, samples [begin, end): the forward pass, its checks,
// the confusion counts (widened when the model has more outputs than the
// data set's classes); returns the batch's summed cross-entropy.
double score_batch(evaluator& eval, const data::dataset& set, std::size_t begin, std::size_t end,
                   std::vector<std::size_t>& indices, std::size_t& classes,
                   std::vector<std::vector<std::uint64_t>>& confusion) {
  indices.resize(end - begin);
  std::iota(indices.begin(), indices.end(), begin);
  const Eigen::MatrixXd x = set.batch_features(indices);
  const std::vector<int> labels = set.batch_labels(indices);
  const evaluation out = eval.forward(x);
  if (out.outputs.cols() != static_cast<Eigen::Index>(indices.size()))
    throw error(fmt::format("evaluate: the evaluator returned {} output columns for a batch of {}", out.outputs.cols(),
                            indices.size()));
  const auto outputs = static_cast<std::size_t>(out.outputs.rows());
  if (outputs < set.classes)
    throw error(fmt::format("evaluate: the model has {} output{} but data set {} has {} classes", outputs,
                            outputs == 1 ? "" : "s", set.name, set.classes));
  if (outputs > classes) {  // more outputs than classes: widen the matrix
    for (auto& row : confusion) row.resize(outputs, 0);
    confusion.resize(outputs, std::vector<std::uint64_t>(outputs, 0));
    classes = outputs;
  }
  const double loss = models::softmax_cross_entropy(out.outputs, labels, nullptr, models::reduction::sum);
  const std::vector<int> predicted = models::predict(out.outputs);
  for (std::size_t i = 0; i < labels.size(); ++i)
    ++confusion[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predicted[i])];
  return loss;
}

// evaluate_classifier under MPI: the serial path's batches, rank r taking a
// contiguous run of them (process_group::share); the per-batch loss sums are
// gathered in batch order and added as the serial loop adds them, the
// confusion counts are summed, so the report equals the serial one.
classification_report evaluate_distributed(evaluator& eval, const data::dataset& set, const evaluate_options& options,
                                           const process_group& group) {
  classification_report r;
  r.data = set.name;
  r.samples = options.limit > 0 ? std::min(options.limit, set.size()) : set.size();
  r.classes = set.classes;
  if (r.samples == 0) throw error(fmt::format("evaluate: data set {} has no samples", set.name));
  const std::size_t batch = std::max<std::size_t>(1, options.batch_size);
  const std::size_t batches = (r.samples + batch - 1) / batch;
  const auto [first, last] = group.share(batches);
  const auto start = std::chrono::steady_clock::now();
  std::vector<double> loss_sums;  // per batch of this rank, in batch order
  std::vector<std::vector<std::uint64_t>> confusion(r.classes, std::vector<std::uint64_t>(r.classes, 0));
  std::vector<std::size_t> indices;
  bool stopped = false;
  for (std::size_t b = first; b < last; ++b) {
    const std::size_t begin = b * batch;
    if (begin > 0 && options.stop_requested && options.stop_requested()) {
      stopped = true;
      break;
    }
    const std::size_t end = std::min(r.samples, begin + batch);
    loss_sums.push_back(score_batch(eval, set, begin, end, indices, r.classes, confusion));
    if (options.progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const std::size_t done = end - first * batch;  // this rank's samples so far
      const std::size_t mine = std::min(r.samples, last * batch) - first * batch;
      const double rate = static_cast<double>(done) / std::max(elapsed, 1e-9);
      options.progress->update(fmt::format("{} {} {}/{} on rank {} of {}  {:.0f} samples/s per rank  ETA {}",
                                           options.label, set.name, done, mine, group.rank(), group.size(), rate,
                                           format_duration(static_cast<double>(mine - done) / rate)));
    }
  }
  r.stopped = group.any(stopped);
  // The same classes on every rank (a rank without batches has not seen the outputs).
  const auto classes = static_cast<std::size_t>(group.max(r.classes));
  for (auto& row : confusion) row.resize(classes, 0);
  confusion.resize(classes, std::vector<std::uint64_t>(classes, 0));
  r.classes = classes;
  std::vector<std::uint64_t> flat;
  flat.reserve(classes * classes);
  for (const auto& row : confusion) flat.insert(flat.end(), row.begin(), row.end());
  group.sum(flat);
  r.confusion.assign(classes, std::vector<std::uint64_t>(classes, 0));
  for (std::size_t i = 0; i < classes; ++i)
    for (std::size_t j = 0; j < classes; ++j) r.confusion[i][j] = flat[i * classes + j];
  const std::vector<double> all = group.all_gather(loss_sums);  // rank order = batch order
  double loss_sum = 0.0;
  for (double v : all) loss_sum += v;
  std::uint64_t done = 0;
  for (const auto& row : r.confusion)
    for (auto c : row) done += c;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.samples = static_cast<std::size_t>(done);
  if (r.samples == 0) {  // stopped before any batch
    r.loss = r.accuracy = std::numeric_limits<double>::quiet_NaN();
    return r;
  }
  r.loss = loss_sum / static_cast<double>(r.samples);
  r.accuracy = static_cast<double>(r.correct()) / static_cast<double>(r.samples);
  return r;
}

}  // namespace

classification_report evaluate_classifier(evaluator& eval, const data::dataset& set, const evaluate_options& options) {
  if (options.group) return evaluate_distributed(eval, set, options, *options.group);
  classification_report r;
  r.data = set.name;
  r.samples = options.limit > 0 ? std::min(options.limit, set.size()) : set.size();
  r.classes = set.classes;
  r.confusion.assign(r.classes, std::vector<std::uint64_t>(r.classes, 0));
  if (r.samples == 0) throw error(fmt::format("evaluate: data set {} has no samples", set.name));
  const std::size_t batch = std::max<std::size_t>(1, options.batch_size);
  const auto start = std::chrono::steady_clock::now();
  double loss_sum = 0.0;
  std::vector<std::size_t> indices;
  std::size_t done = 0;
  for (std::size_t begin = 0; begin < r.samples; begin += batch) {
    if (begin > 0 && options.stop_requested && options.stop_requested()) {
      r.stopped = true;
      break;
    }
    const std::size_t end = std::min(r.samples, begin + batch);
    loss_sum += score_batch(eval, set, begin, end, indices, r.classes, r.confusion);
    done = end;
    if (options.progress) {
      const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = static_cast<double>(end) / std::max(elapsed, 1e-9);
      options.progress->update(fmt::format("{} {} {}/{}  {:.0f} samples/s  ETA {}", options.label, set.name, end,
                                           r.samples, rate,
                                           format_duration(static_cast<double>(r.samples - end) / rate)));
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.samples = done;
  r.loss = loss_sum / static_cast<double>(r.samples);
  r.accuracy = static_cast<double>(r.correct()) / static_cast<double>(r.samples);
  return r;
}

std::string format_confusion_matrix(const classification_report& report) {
  std::uint64_t largest = 0;
  for (const auto& row : report.confusion)
    for (auto c : row) largest = std::max(largest, c);
  const std::size_t width = std::max<std::size_t>(6, fmt::formatted_size("{}", largest) + 1);
  std::string out = fmt::format("{:>9}", "true\\pred");
  for (std::size_t j = 0; j < report.classes; ++j) out += fmt::format("{:>{}}", j, width);
  out += fmt::format("{:>9}\n", "recall");
  for (std::size_t i = 0; i < report.classes; ++i) {
    out += fmt::format("{:>9}", i);
    std::uint64_t total = 0;
    for (std::size_t j = 0; j < report.classes; ++j) {
      out += fmt::format("{:>{}}", report.confusion[i][j], width);
      total += report.confusion[i][j];
    }
    if (total > 0)
      out += fmt::format("{:>8.2f}%\n", 100.0 * static_cast<double>(report.confusion[i][i]) / static_cast<double>(total));
    else
      out += fmt::format("{:>9}\n", "-");
  }
  return out;
}

std::string_view metrics_csv_header() {
  return "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,samples_per_second,learning_rate,engine";
}

namespace {

std::string field(double v) { return std::isnan(v) ? std::string() : format_double(v); }

}  // namespace

std::string metrics_csv_row(const epoch_metrics& m) {
  return fmt::format("{},{},{},{},{},{},{},{},{}", m.epoch, field(m.train_loss), field(m.train_accuracy),
                     field(m.val_loss), field(m.val_accuracy), field(m.seconds), field(m.samples_per_second),
                     field(m.learning_rate), m.engine);
}

epoch_metrics parse_metrics_csv_row(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = line.find(',', start);
    fields.push_back(trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  if (fields.size() != 9)
    throw error(fmt::format("metrics row '{}': expected 9 comma-separated fields ({}), found {}", line,
                            metrics_csv_header(), fields.size()));
  auto number = [&](std::size_t i) {
    if (fields[i].empty()) return std::numeric_limits<double>::quiet_NaN();
    auto v = try_parse_double(fields[i]);
    if (!v) throw error(fmt::format("metrics row '{}': field {} '{}' is not a number", line, i + 1, fields[i]));
    return *v;
  };
  epoch_metrics m;
  const double epoch = number(0);
  if (!(epoch >= 0) || epoch != std::floor(epoch))
    throw error(fmt::format("metrics row '{}': epoch '{}' is not a whole number", line, fields[0]));
  m.epoch = static_cast<std::uint64_t>(epoch);
  m.train_loss = number(1);
  m.train_accuracy = number(2);
  m.val_loss = number(3);
  m.val_accuracy = number(4);
  m.seconds = number(5);
  m.samples_per_second = number(6);
  m.learning_rate = number(7);
  m.engine = std::string(fields[8]);
  return m;
}

std::string metrics_csv(const std::vector<epoch_metrics>& history) {
  std::string out(metrics_csv_header());
  out += '\n';
  for (const auto& m : history) {
    out += metrics_csv_row(m);
    out += '\n';
  }
  return out;
}

std::string test_summary_json(const test_summary& s) {
  const auto& r = s.report;
  const nlohmann::ordered_json j = {{"data", r.data},
                                    {"split", "test"},
                                    {"samples", r.samples},
                                    {"correct", r.correct()},
                                    {"accuracy", r.accuracy},
                                    {"loss", r.loss},
                                    {"selected_epoch", s.selected_epoch},
                                    {"epochs", s.epochs},
                                    {"val_accuracy", s.val_accuracy},
                                    {"val_loss", s.val_loss},
                                    {"engine", s.engine},
                                    {"seconds", r.seconds}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::vector<epoch_metrics> read_metrics_csv(const std::filesystem::path& file) {
  const std::string text = read_file(file, "metrics CSV");
  std::vector<epoch_metrics> out;
  bool header = false;
  for_each_line(text, [&](std::size_t line_no, std::string_view raw) {
    const std::string_view line = trim(raw);
    if (line.empty()) return;
    if (!header) {
      if (line != metrics_csv_header())
        throw parse_error({file.string(), line_no}, fmt::format("not a spicenn metrics CSV: the header must be '{}'", metrics_csv_header()));
      header = true;
      return;
    }
    try {
      out.push_back(parse_metrics_csv_row(line));
    } catch (const parse_error&) {
      throw;
    } catch (const error& e) {
      throw parse_error({file.string(), line_no}, e.what());
    }
  });
  if (!header) throw parse_error({file.string(), 0}, "empty metrics CSV");
  return out;
}

}  // namespace spicenn::cosim
