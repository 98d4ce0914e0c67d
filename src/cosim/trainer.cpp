#include "cosim/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <limits>

#include <unistd.h>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/random.hpp"
#include "cosim/checkpoint.hpp"
#include "models/loss.hpp"

namespace spicenn::cosim {

namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Writes text to path atomically (temporary file + rename).
void write_text_atomically(const std::filesystem::path& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path tmp = path;
  tmp += fmt::format(".tmp.{}", static_cast<long>(::getpid()));
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw error(fmt::format("cannot write {}: cannot create {}", path.string(), tmp.string()));
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  ok = std::fclose(f) == 0 && ok;
  std::error_code ec;
  if (ok) fs::rename(tmp, path, ec);
  if (!ok || ec) {
    fs::remove(tmp, ec);
    throw error(fmt::format("cannot write {}", path.string()));
  }
}

std::optional<std::int64_t> size_of(const ir::model& m, const std::string& name) {
  auto it = m.sizes.find(name);
  if (it == m.sizes.end()) return std::nullopt;
  return it->second;
}

// "mon inputs=2 hidden=8 outputs=2 stages=1"
std::string describe(const ir::model& m) {
  std::string s(ir::to_string(m.kind));
  for (const auto& [name, value] : m.sizes) s += fmt::format(" {}={}", name, value);
  return s;
}

std::string percent(double fraction) { return std::isnan(fraction) ? "-" : fmt::format("{:.2f}%", 100.0 * fraction); }

}  // namespace

std::vector<std::size_t> epoch_permutation(std::size_t n, std::uint64_t seed, std::uint64_t epoch) {
  std::vector<std::size_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = i;
  rng r(splitmix64(seed ^ splitmix64(epoch ^ 0x5eed0fe90c4ULL)));
  for (std::size_t i = n; i > 1; --i) {
    auto j = static_cast<std::size_t>(r.below(i));
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

void check_model_fits_data(const ir::model& model, const data::dataset& set) {
  std::optional<std::int64_t> inputs, outputs;
  std::string in_name = "inputs", out_name = "outputs";
  if (model.kind == ir::family::kan) {
    in_name = "width0";
    if (auto layers = size_of(model, "layers")) out_name = fmt::format("width{}", *layers);
  }
  inputs = size_of(model, in_name);
  outputs = size_of(model, out_name);
  if (inputs && static_cast<std::size_t>(*inputs) != set.dimension())
    throw error(fmt::format("the model has {} = {} but data set {} has {} features per sample", in_name, *inputs,
                            set.name, set.dimension()));
  if (outputs && static_cast<std::size_t>(*outputs) < set.classes)
    throw error(fmt::format("the model has {} = {} but data set {} has {} classes", out_name, *outputs, set.name,
                            set.classes));
}

train_result train(ir::model& model, evaluator& eval, const data::dataset& train, const data::dataset* test,
                   const train_options& o) {
  if (o.batch_size == 0) throw error("train: batch size must be at least 1");
  if (train.size() == 0) throw error(fmt::format("train: data set {} has no samples", train.name));
  check_model_fits_data(model, train);
  if (test) check_model_fits_data(model, *test);
  if (o.resume && o.checkpoint_dir.empty()) throw error("train: resume needs a checkpoint directory");

  const std::uint64_t n = train.size();
  const std::uint64_t batches = (n + o.batch_size - 1) / o.batch_size;
  lr_schedule schedule = o.schedule;
  if (schedule.kind == schedule_kind::cosine && schedule.total_steps == 0) schedule.total_steps = o.epochs * batches;
  optimizer opt(o.optimizer);
  const std::string engine{to_string(eval.kind())};

  checkpoint_state st;
  st.seed = o.seed;
  st.batch_size = o.batch_size;
  st.data = o.data_name.empty() ? train.name : o.data_name;
  st.train_samples = n;
  st.engine = engine;
  st.learning_rate = schedule.at(0);

  train_result result;
  const bool checkpoints = !o.checkpoint_dir.empty();
  if (checkpoints && o.resume) {
    auto c = read_checkpoint(o.checkpoint_dir);
    if (!c) throw error(fmt::format("no checkpoint in {} to resume from", o.checkpoint_dir.string()));
    const auto& s = c->state;
    auto mismatch = [&](const char* what, const std::string& theirs, const std::string& ours) {
      if (theirs != ours)
        throw error(fmt::format("cannot resume from {}: it was trained with {} {}, this run uses {} (use the same "
                                "value to continue the run exactly)",
                                c->state_file.string(), what, theirs, ours));
    };
    mismatch("seed", std::to_string(s.seed), std::to_string(o.seed));
    mismatch("batch size", std::to_string(s.batch_size), std::to_string(o.batch_size));
    mismatch("data set", s.data, st.data);
    mismatch("training samples", std::to_string(s.train_samples), std::to_string(n));
    if (c->model.kind != model.kind || c->model.sizes != model.sizes)
      throw error(fmt::format("cannot resume from {}: its model ({}) is not the shape of the one given ({})",
                              c->model_file.string(), describe(c->model), describe(model)));
    opt.load_state(s.optimizer, c->state_file.string());
    if (opt.steps() != s.steps)
      throw error(fmt::format("checkpoint {}: steps {} but the optimizer state has {}", c->state_file.string(), s.steps,
                              opt.steps()));
    model = std::move(c->model);
    st = s;
    st.engine = engine;
    result.resumed = true;
    result.resumed_epoch = s.epoch;
    result.resumed_batch = s.batch;
    result.history = s.history;
    if (!o.metrics_csv.empty()) write_text_atomically(o.metrics_csv, metrics_csv(st.history));
  } else if (checkpoints && checkpoint_exists(o.checkpoint_dir)) {
    if (!o.overwrite_checkpoint)
      throw error(fmt::format("{} already holds a checkpoint; resume it or discard it", o.checkpoint_dir.string()));
    remove_checkpoint(o.checkpoint_dir);
  }
  if (st.batch > batches)
    throw error(fmt::format("checkpoint position epoch {} batch {} is beyond the {} batches per epoch", st.epoch,
                            st.batch, batches));

  progress_line progress(o.log, o.log ? o.progress : progress_mode::off, o.progress_interval);
  auto log_line = [&](const std::string& text) {
    if (o.log && o.progress != progress_mode::off) progress.finish(text);
  };
  if (result.resumed)
    log_line(st.batch == 0 ? fmt::format("resuming from {} after epoch {} (step {})", o.checkpoint_dir.string(),
                                         st.epoch, st.steps)
                           : fmt::format("resuming from {} in epoch {} after batch {}/{} (step {})",
                                         o.checkpoint_dir.string(), st.epoch + 1, st.batch, batches, st.steps));

  auto save = [&] {
    if (!checkpoints) return;
    st.steps = opt.steps();
    st.optimizer = opt.state_to_string();
    write_checkpoint(o.checkpoint_dir, model, st);
    result.last_checkpoint = o.checkpoint_dir / (checkpoint_name(st.epoch, st.batch) + ".state");
  };
  auto stop = [&] { return o.stop_requested && o.stop_requested(); };
  auto finish = [&](bool interrupted) {
    result.interrupted = interrupted;
    result.epoch = st.epoch;
    result.batch = st.batch;
    result.steps = opt.steps();
    result.history = st.history;
    if (!st.history.empty() && !std::isnan(st.history.back().test_accuracy))
      result.test_accuracy = st.history.back().test_accuracy;
    return result;
  };

  const auto run_start = clock::now();
  std::uint64_t batches_this_run = 0;
  const std::uint64_t batches_left_at_start =
      st.epoch >= o.epochs ? 0 : (o.epochs - st.epoch) * batches - std::min(st.batch, batches);
  std::vector<int> labels;
  while (st.epoch < o.epochs) {
    const auto order = epoch_permutation(n, o.seed, st.epoch);
    if (st.batch == 0) {
      st.loss_sum = 0.0;
      st.correct = 0;
      st.samples = 0;
      st.train_seconds = 0.0;
      st.seconds = 0.0;
    }
    const double seconds_before = st.seconds;
    const auto epoch_start = clock::now();
    while (st.batch < batches) {
      const std::size_t begin = st.batch * o.batch_size;
      const std::size_t end = std::min<std::size_t>(n, begin + o.batch_size);
      const std::span<const std::size_t> idx(order.data() + begin, end - begin);
      const Eigen::MatrixXd x = train.batch_features(idx);
      labels = train.batch_labels(idx);

      const auto t0 = clock::now();
      eval.set_model(model);
      loss_gradient g = eval.gradient(x, labels);
      if (g.forward.outputs.cols() != static_cast<Eigen::Index>(labels.size()))
        throw error(fmt::format("train: the {} evaluator returned {} output columns with the gradient of a batch of {}",
                                engine, g.forward.outputs.cols(), labels.size()));
      if (!std::isfinite(g.loss))
        throw error(fmt::format("train: loss is {} at epoch {}, batch {} (try a smaller learning rate)", g.loss,
                                st.epoch + 1, st.batch + 1));
      st.learning_rate = schedule.at(opt.steps());
      opt.step(model, g.parameters, st.learning_rate);
      st.train_seconds += seconds_since(t0);

      const auto predicted = models::predict(g.forward.outputs);
      for (std::size_t i = 0; i < labels.size(); ++i) st.correct += predicted[i] == labels[i] ? 1 : 0;
      st.loss_sum += g.loss * static_cast<double>(labels.size());
      st.samples += labels.size();
      ++st.batch;
      ++batches_this_run;
      st.seconds = seconds_before + seconds_since(epoch_start);

      if (progress.mode() != progress_mode::off) {
        const double run_rate = static_cast<double>(batches_this_run) / std::max(seconds_since(run_start), 1e-9);
        const double left_epoch = static_cast<double>(batches - st.batch) / run_rate;
        const double left_all = static_cast<double>(batches_left_at_start - batches_this_run) / run_rate;
        progress.update(fmt::format("epoch {}/{}  batch {}/{}  loss {:.4f}  acc {}  {:.0f} samples/s  ETA {} (all {})",
                                    st.epoch + 1, o.epochs, st.batch, batches,
                                    st.loss_sum / static_cast<double>(st.samples),
                                    percent(static_cast<double>(st.correct) / static_cast<double>(st.samples)),
                                    static_cast<double>(st.samples) / std::max(st.train_seconds, 1e-9),
                                    format_duration(left_epoch), format_duration(left_all)));
      }

      const bool stopping = stop();
      const bool periodic = o.checkpoint_every > 0 && opt.steps() % o.checkpoint_every == 0 && st.batch < batches;
      if (stopping || periodic) save();
      if (o.on_batch) o.on_batch({st.epoch, st.batch, batches, opt.steps(), g.loss});
      if (stopping) {
        progress.clear();
        return finish(true);
      }
    }

    // End of the epoch: test evaluation, metrics, checkpoint.
    epoch_metrics m;
    m.epoch = st.epoch + 1;
    m.train_loss = st.samples ? st.loss_sum / static_cast<double>(st.samples) : std::numeric_limits<double>::quiet_NaN();
    m.train_accuracy = st.samples ? static_cast<double>(st.correct) / static_cast<double>(st.samples)
                                  : std::numeric_limits<double>::quiet_NaN();
    m.samples_per_second = st.train_seconds > 0 ? static_cast<double>(st.samples) / st.train_seconds : 0.0;
    m.learning_rate = st.learning_rate;
    m.engine = engine;
    if (test) {
      eval.set_model(model);
      evaluate_options eo;
      eo.limit = o.test_limit;
      eo.batch_size = o.eval_batch_size;
      eo.progress = progress.mode() == progress_mode::off ? nullptr : &progress;
      eo.label = fmt::format("epoch {}/{}  testing", st.epoch + 1, o.epochs);
      eo.stop_requested = stop;
      auto report = evaluate_classifier(eval, *test, eo);
      if (report.stopped) {  // checkpoint (epoch, batches): a resume redoes only the test evaluation
        save();
        progress.clear();
        return finish(true);
      }
      m.test_loss = report.loss;
      m.test_accuracy = report.accuracy;
    }
    st.seconds = seconds_before + seconds_since(epoch_start);
    m.seconds = st.seconds;
    st.history.push_back(m);
    st.batch = 0;
    ++st.epoch;  // the position after this epoch
    save();
    if (!o.metrics_csv.empty()) write_text_atomically(o.metrics_csv, metrics_csv(st.history));
    log_line(fmt::format("epoch {}/{}  train loss {:.4f} acc {}  test loss {} acc {}  {:.1f} s  {:.0f} samples/s  lr {}",
                         m.epoch, o.epochs, m.train_loss, percent(m.train_accuracy),
                         std::isnan(m.test_loss) ? std::string("-") : fmt::format("{:.4f}", m.test_loss),
                         percent(m.test_accuracy), m.seconds, m.samples_per_second, m.learning_rate));
    if (st.epoch < o.epochs && stop()) return finish(true);
  }

  model.origin.data = st.data;
  model.origin.accuracy = std::nullopt;
  if (!st.history.empty() && !std::isnan(st.history.back().test_accuracy))
    model.origin.accuracy = st.history.back().test_accuracy;
  return finish(false);
}

// ---- interrupt_guard --------------------------------------------------------

namespace {

volatile std::sig_atomic_t g_signal = 0;
struct sigaction g_old_int, g_old_term;

extern "C" void on_interrupt(int sig) {
  if (g_signal != 0 && sig == SIGINT) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  g_signal = sig;
  static const char note[] =
      "\nspicenn: interrupt received: finishing the current batch and writing a checkpoint (Ctrl-C again to quit "
      "at once)\n";
  (void)!::write(STDERR_FILENO, note, sizeof note - 1);
}

}  // namespace

interrupt_guard::interrupt_guard() {
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

interrupt_guard::~interrupt_guard() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

bool interrupt_guard::requested() const { return g_signal != 0; }
int interrupt_guard::signal_number() const { return g_signal; }

}  // namespace spicenn::cosim
