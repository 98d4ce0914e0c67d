#include "cosim/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <limits>

#include <unistd.h>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/numbers.hpp"
#include "core/random.hpp"
#include "cosim/checkpoint.hpp"
#include "ir/model_file.hpp"
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

// Checks the evaluator's new values of non-trainable state tensors before
// anything is changed.
void check_buffers(const ir::model& model, const std::map<std::string, std::vector<double>>& buffers,
                   std::string_view engine) {
  for (const auto& [name, values] : buffers) {
    const ir::tensor* t = model.find_parameter(name);
    if (!t)
      throw error(fmt::format("train: the {} evaluator returned a buffer for tensor {}, which the model does not have",
                              engine, name));
    if (t->trainable)
      throw error(fmt::format("train: the {} evaluator returned a buffer for tensor {}, which is trainable (buffers are "
                              "for non-trainable state; mark it trainable=\"false\")",
                              engine, name));
    if (values.size() != t->values.size())
      throw error(fmt::format("train: buffer {} from the {} evaluator has {} values, the tensor {} (shape {})", name,
                              engine, values.size(), t->values.size(), ir::shape_to_string(t->shape)));
    for (std::size_t i = 0; i < values.size(); ++i)
      if (!std::isfinite(values[i]))
        throw error(fmt::format("train: buffer {} from the {} evaluator is {} at flat index {}", name, engine,
                                values[i], i));
  }
}

std::string loss_text(double loss) { return std::isnan(loss) ? std::string("-") : fmt::format("{:.4f}", loss); }

// ---- data parallel (under MPI, train_options::group) --------------------------

// Refuses to start when the ranks do not hold the same model, data and
// options (each rank loads its own files).
void check_same_run(const process_group& group, const ir::model& model, const data::dataset& train,
                    const data::dataset* validation, const train_options& o) {
  std::uint64_t h = parameter_hash(model);
  auto mix = [&](std::uint64_t v) { h = splitmix64(h ^ v); };
  mix(train.size());
  mix(train.dimension());
  mix(validation ? validation->size() : 0);
  mix(o.batch_size);
  mix(o.seed);
  mix(o.pieces);
  mix(o.epochs);
  if (train.size() > 0) {  // a few samples' features and labels
    const std::size_t n = train.size();
    const std::vector<std::size_t> probe{0, n / 3, n / 2, n - 1};
    const Eigen::MatrixXd x = train.batch_features(probe);
    for (Eigen::Index i = 0; i < x.size(); ++i) {
      std::uint64_t bits = 0;
      const double v = x.data()[i];
      std::memcpy(&bits, &v, sizeof bits);
      mix(bits);
    }
    for (int label : train.batch_labels(probe)) mix(static_cast<std::uint64_t>(label));
  }
  const auto all = group.all_gather(h);
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw error(fmt::format("train: rank {} holds a different model, data set or options than rank 0 (every rank "
                              "must load the same model file and data with the same options)",
                              r));
}

// Throws if the ranks' parameters have drifted apart (they must not: every
// rank takes the same step from the same reduced gradient).
void check_same_parameters(const process_group& group, const ir::model& model, std::uint64_t epoch) {
  const auto all = group.all_gather(parameter_hash(model));
  for (std::size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0])
      throw internal_error(fmt::format("train: after epoch {} the parameters of rank {} differ from rank 0's", epoch, r));
}

// The checkpoint in dir as rank 0 reads it, on every rank (only rank 0
// needs to see the checkpoint directory).
std::optional<checkpoint> read_checkpoint_on(const process_group* group, const std::filesystem::path& dir) {
  if (!group) return read_checkpoint(dir);
  std::optional<checkpoint> c;
  std::vector<std::string> parts;  // model file, state file, base dir, model XML, best XML, state text
  if (group->root()) {
    c = read_checkpoint(dir);
    if (c)
      parts = {c->model_file.string(),
               c->state_file.string(),
               c->model.base_dir.string(),
               ir::to_xml_string(c->model),
               c->best_model ? ir::to_xml_string(*c->best_model) : std::string(),
               checkpoint_state_to_string(c->state, c->model_file.filename().string(), parameter_hash(c->model),
                                          c->best_model ? "best.xml" : "",
                                          c->best_model ? parameter_hash(*c->best_model) : 0)};
  }
  std::string blob;
  for (const auto& p : parts) blob += fmt::format("{}\n", p.size()) + p;
  group->broadcast(blob);
  if (group->root() || blob.empty()) return c;
  std::size_t at = 0;
  parts.clear();
  while (at < blob.size()) {
    const std::size_t nl = blob.find('\n', at);
    const std::size_t n = std::stoull(blob.substr(at, nl - at));
    parts.push_back(blob.substr(nl + 1, n));
    at = nl + 1 + n;
  }
  if (parts.size() != 6) throw internal_error("train: malformed checkpoint broadcast");
  c.emplace();
  c->model_file = parts[0];
  c->state_file = parts[1];
  c->model = ir::load_model_from_string(parts[3], parts[0], parts[2]);
  if (!parts[4].empty()) c->best_model = ir::load_model_from_string(parts[4], parts[0], parts[2]);
  c->state = parse_checkpoint_state(parts[5], parts[1]).state;
  return c;
}

struct piece_step {
  loss_gradient gradient;     // batch means: loss, ∂L/∂θ, buffers (no forward values)
  std::uint64_t correct = 0;  // correctly classified samples of the batch
  bool stop = false;          // some rank's stop_requested was true (the same on every rank)
};

// What the reduced vector holds after loss, correct count and stop flags:
// every trainable tensor (model order), then every buffer (name order, as
// rank 0's evaluator returned them in the run's first batch).
struct piece_layout {
  bool known = false;
  std::vector<std::pair<std::string, std::size_t>> params, buffers;
  std::size_t length = 0;
};

// One batch under MPI: K = min(pieces, b) pieces [⌊i·b/K⌋, ⌊(i+1)·b/K⌋),
// this rank's run of them evaluated one gradient call each, then
// Σ_pieces size·value added in piece order over the ranks and divided by b.
piece_step piece_gradient(evaluator& eval, const ir::model& model, const Eigen::MatrixXd& x, const std::vector<int>& labels,
                          std::uint64_t pieces, const process_group& group, std::string_view engine, piece_layout& layout,
                          const std::function<bool()>& local_stop) {
  const std::size_t b = labels.size();
  const std::size_t k = std::min<std::size_t>(std::max<std::uint64_t>(pieces, 1), b);
  const auto [p0, p1] = group.share(k);
  struct piece {
    double size = 0.0;
    double correct = 0.0;
    loss_gradient g;
  };
  std::vector<piece> mine;
  std::vector<int> piece_labels;
  for (std::size_t p = p0; p < p1; ++p) {
    const std::size_t begin = p * b / k, end = (p + 1) * b / k;
    piece_labels.assign(labels.begin() + static_cast<std::ptrdiff_t>(begin), labels.begin() + static_cast<std::ptrdiff_t>(end));
    const Eigen::MatrixXd xp = x.middleCols(static_cast<Eigen::Index>(begin), static_cast<Eigen::Index>(end - begin));
    piece pc;
    pc.size = static_cast<double>(end - begin);
    pc.g = eval.gradient(xp, piece_labels);
    if (pc.g.forward.outputs.cols() != static_cast<Eigen::Index>(piece_labels.size()))
      throw error(fmt::format("train: the {} evaluator returned {} output columns with the gradient of a piece of {}",
                              engine, pc.g.forward.outputs.cols(), piece_labels.size()));
    check_buffers(model, pc.g.buffers, engine);
    const auto predicted = models::predict(pc.g.forward.outputs);
    std::uint64_t correct = 0;
    for (std::size_t i = 0; i < piece_labels.size(); ++i) correct += predicted[i] == piece_labels[i] ? 1 : 0;
    pc.correct = static_cast<double>(correct);
    mine.push_back(std::move(pc));
  }

  if (!layout.known) {  // once per run: rank 0's buffer names and sizes
    for (const auto& name : trainable_tensors(model))
      layout.params.emplace_back(name, model.find_parameter(name)->values.size());
    std::string text;
    if (group.root())
      for (const auto& [name, values] : mine.front().g.buffers) text += fmt::format("{}\n{}\n", name, values.size());
    group.broadcast(text);
    for (std::size_t at = 0; at < text.size();) {
      const std::size_t a = text.find('\n', at), z = text.find('\n', a + 1);
      layout.buffers.emplace_back(text.substr(at, a - at), std::stoull(text.substr(a + 1, z - a - 1)));
      at = z + 1;
    }
    layout.length = 3;
    for (const auto& [name, n] : layout.params) layout.length += n;
    for (const auto& [name, n] : layout.buffers) layout.length += n;
    layout.known = true;
  }
  const auto& params = layout.params;
  const auto& buffers = layout.buffers;
  const std::size_t length = layout.length;
  for (const auto& pc : mine) {
    for (const auto& [name, n] : params) {
      auto it = pc.g.parameters.find(name);
      if (it == pc.g.parameters.end() || it->second.size() != n)
        throw error(fmt::format("train: the {} evaluator returned no gradient of {} values for tensor {}", engine, n, name));
    }
    if (pc.g.buffers.size() != buffers.size())
      throw error(fmt::format("train: the {} evaluator returned {} buffers for a piece on rank {}, {} on rank 0", engine,
                              pc.g.buffers.size(), group.rank(), buffers.size()));
    for (const auto& [name, n] : buffers) {
      auto it = pc.g.buffers.find(name);
      if (it == pc.g.buffers.end() || it->second.size() != n)
        throw error(fmt::format("train: the {} evaluator's buffers differ between pieces (tensor {})", engine, name));
    }
  }

  // The stop flags travel with the sum: every rank stops after the same batch.
  const bool stop_here = local_stop();
  const std::vector<double> total = group.ordered_sum(length, [&](std::vector<double>& acc) {
    acc[2] += stop_here ? 1.0 : 0.0;
    for (const auto& pc : mine) {
      const double s = pc.size;
      acc[0] += s * pc.g.loss;
      acc[1] += pc.correct;
      std::size_t at = 3;
      for (const auto& [name, n] : params) {
        const double* v = pc.g.parameters.at(name).data();
        for (std::size_t i = 0; i < n; ++i) acc[at + i] += s * v[i];
        at += n;
      }
      for (const auto& [name, n] : buffers) {
        const double* v = pc.g.buffers.at(name).data();
        for (std::size_t i = 0; i < n; ++i) acc[at + i] += s * v[i];
        at += n;
      }
    }
  });
  piece_step out;
  const auto samples = static_cast<double>(b);
  out.gradient.loss = total[0] / samples;
  out.correct = static_cast<std::uint64_t>(total[1]);
  out.stop = total[2] > 0;
  std::size_t at = 3;
  for (const auto& [name, n] : params) {
    auto& v = out.gradient.parameters[name];
    v.resize(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = total[at + i] / samples;
    at += n;
  }
  for (const auto& [name, n] : buffers) {
    auto& v = out.gradient.buffers[name];
    v.resize(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = total[at + i] / samples;
    at += n;
  }
  return out;
}

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
  const std::string in_name = ir::input_size_name(model);
  const std::string out_name =
      model.kind != ir::family::kan || size_of(model, "layers") ? ir::output_size_name(model) : std::string();
  inputs = size_of(model, in_name);
  outputs = size_of(model, out_name);
  if (inputs && static_cast<std::size_t>(*inputs) != set.dimension())
    throw error(fmt::format("the model has {} = {} but data set {} has {} features per sample", in_name, *inputs,
                            set.name, set.dimension()));
  if (outputs && static_cast<std::size_t>(*outputs) < set.classes)
    throw error(fmt::format("the model has {} = {} but data set {} has {} classes", out_name, *outputs, set.name,
                            set.classes));
}

train_result train(ir::model& model, evaluator& eval, const data::dataset& train, const data::dataset* validation,
                   const data::dataset* test, const train_options& o) {
  if (o.batch_size == 0) throw error("train: batch size must be at least 1");
  if (train.size() == 0) throw error(fmt::format("train: data set {} has no samples", train.name));
  if (validation && validation->size() == 0) validation = nullptr;
  check_model_fits_data(model, train);
  if (validation) check_model_fits_data(model, *validation);
  if (test) check_model_fits_data(model, *test);
  if (o.resume && o.checkpoint_dir.empty()) throw error("train: resume needs a checkpoint directory");
  if (o.patience > 0 && !validation)
    throw error(fmt::format("train: early stopping (patience {}) needs a validation set", o.patience));
  const process_group* group = o.group;
  const bool root = !group || group->root();  // writes files and progress
  if (group) check_same_run(*group, model, train, validation, o);

  const std::uint64_t n = train.size();
  const std::uint64_t batches = (n + o.batch_size - 1) / o.batch_size;
  lr_schedule schedule = o.schedule;
  if (schedule.kind == schedule_kind::cosine && schedule.total_steps == 0) schedule.total_steps = o.epochs * batches;
  optimizer opt(o.optimizer);
  const std::string engine{to_string(eval.kind())};

  checkpoint_state st;
  st.seed = o.seed;
  st.batch_size = o.batch_size;
  st.augment_shift = o.augment_shift;
  std::size_t image_side = 0;
  if (o.augment_shift > 0) {
    image_side = static_cast<std::size_t>(std::lround(std::sqrt(static_cast<double>(train.dimension()))));
    if (image_side * image_side != train.dimension() || static_cast<double>(image_side) <= 2 * o.augment_shift)
      throw error(fmt::format("train: image shifts by up to {} pixels need square images wider than {} pixels; {} has {} "
                              "features per sample",
                              format_double(o.augment_shift), format_double(2 * o.augment_shift), train.name,
                              train.dimension()));
  }
  st.data = o.data_name.empty() ? train.name : o.data_name;
  st.train_samples = n;
  st.engine = engine;
  st.validation_samples = validation ? validation->size() : 0;
  st.learning_rate = schedule.at(0);

  std::optional<ir::model> best_model;  // the model of epoch st.best_epoch
  train_result result;
  const bool checkpoints = !o.checkpoint_dir.empty();
  if (checkpoints && o.resume) {
    auto c = read_checkpoint_on(group, o.checkpoint_dir);
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
    mismatch("image shifts of up to", format_double(s.augment_shift), format_double(o.augment_shift));
    mismatch("data set", s.data, st.data);
    mismatch("training samples", std::to_string(s.train_samples), std::to_string(n));
    mismatch("validation samples", std::to_string(s.validation_samples), std::to_string(st.validation_samples));
    if (c->model.kind != model.kind || c->model.sizes != model.sizes)
      throw error(fmt::format("cannot resume from {}: its model ({}) is not the shape of the one given ({})",
                              c->model_file.string(), describe(c->model), describe(model)));
    opt.load_state(s.optimizer, c->state_file.string());
    if (opt.steps() != s.steps)
      throw error(fmt::format("checkpoint {}: steps {} but the optimizer state has {}", c->state_file.string(), s.steps,
                              opt.steps()));
    model = std::move(c->model);
    best_model = std::move(c->best_model);
    st = s;
    st.engine = engine;
    result.resumed = true;
    result.resumed_epoch = s.epoch;
    result.resumed_batch = s.batch;
    result.history = s.history;
    if (root && !o.metrics_csv.empty()) write_text_atomically(o.metrics_csv, metrics_csv(st.history));
  } else if (checkpoints && root && checkpoint_exists(o.checkpoint_dir)) {
    if (!o.overwrite_checkpoint)
      throw error(fmt::format("{} already holds a checkpoint; resume it or discard it", o.checkpoint_dir.string()));
    remove_checkpoint(o.checkpoint_dir);
  }
  if (st.batch > batches)
    throw error(fmt::format("checkpoint position epoch {} batch {} is beyond the {} batches per epoch", st.epoch,
                            st.batch, batches));

  std::FILE* const log = root ? o.log : nullptr;
  progress_line progress(log, log ? o.progress : progress_mode::off, o.progress_interval);
  auto log_line = [&](const std::string& text) {
    if (log && o.progress != progress_mode::off) progress.finish(text);
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
    if (root) write_checkpoint(o.checkpoint_dir, model, st, best_model ? &*best_model : nullptr);
    result.last_checkpoint = o.checkpoint_dir / (checkpoint_name(st.epoch, st.batch) + ".state");
  };
  auto local_stop = [&] { return o.stop_requested && o.stop_requested(); };
  // Under MPI every rank stops at the same batch: stop() is collective.
  auto stop = [&] {
    const bool requested = local_stop();
    return group ? group->any(requested) : requested;
  };
  auto finish = [&](bool interrupted) {
    result.interrupted = interrupted;
    result.epoch = st.epoch;
    result.batch = st.batch;
    result.steps = opt.steps();
    result.history = st.history;
    return result;
  };
  auto patience_exhausted = [&] { return o.patience > 0 && st.best_epoch > 0 && st.epochs_since_best >= o.patience; };
  evaluate_options eval_options;
  eval_options.batch_size = o.eval_batch_size;
  eval_options.progress = progress.mode() == progress_mode::off ? nullptr : &progress;
  eval_options.stop_requested = local_stop;  // evaluate_classifier makes it collective under MPI
  eval_options.group = group;

  const auto run_start = clock::now();
  std::uint64_t batches_this_run = 0;
  const std::uint64_t batches_left_at_start =
      st.epoch >= o.epochs ? 0 : (o.epochs - st.epoch) * batches - std::min(st.batch, batches);
  std::vector<int> labels;
  piece_layout layout;  // under MPI
  while (st.epoch < o.epochs) {
    if (patience_exhausted()) break;  // a resumed run that had already stopped early
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
      Eigen::MatrixXd x = train.batch_features(idx);
      if (o.augment_shift > 0)  // a stream of its own per (seed, epoch, batch), so a resumed run draws the same shifts
        data::shift_images(x, image_side, o.augment_shift,
                           mix_seed(o.seed ^ mix_seed(st.epoch * 0x100000001b3ULL + st.batch)));
      labels = train.batch_labels(idx);

      const auto t0 = clock::now();
      eval.set_model(model);
      loss_gradient g;
      std::uint64_t batch_correct = 0;
      bool group_stop = false;
      if (group) {
        auto step = piece_gradient(eval, model, x, labels, o.pieces, *group, engine, layout, local_stop);
        g = std::move(step.gradient);
        batch_correct = step.correct;
        group_stop = step.stop;
      } else {
        g = eval.gradient(x, labels);
        if (g.forward.outputs.cols() != static_cast<Eigen::Index>(labels.size()))
          throw error(fmt::format("train: the {} evaluator returned {} output columns with the gradient of a batch of {}",
                                  engine, g.forward.outputs.cols(), labels.size()));
      }
      if (!std::isfinite(g.loss))
        throw error(fmt::format("train: loss is {} at epoch {}, batch {} (try a smaller learning rate)", g.loss,
                                st.epoch + 1, st.batch + 1));
      check_buffers(model, g.buffers, engine);
      st.learning_rate = schedule.at(opt.steps());
      opt.step(model, g.parameters, st.learning_rate);
      for (auto& [name, values] : g.buffers) model.parameter(name).values = std::move(values);
      st.train_seconds += seconds_since(t0);

      if (group) {
        st.correct += batch_correct;
      } else {
        const auto predicted = models::predict(g.forward.outputs);
        for (std::size_t i = 0; i < labels.size(); ++i) st.correct += predicted[i] == labels[i] ? 1 : 0;
      }
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

      const bool stopping = group ? group_stop : stop();  // under MPI: decided with the batch's sum
      const bool periodic = o.checkpoint_every > 0 && opt.steps() % o.checkpoint_every == 0 && st.batch < batches;
      if (stopping || periodic) save();
      if (o.on_batch) o.on_batch({st.epoch, st.batch, batches, opt.steps(), g.loss});
      maybe_die_for_test(group, opt.steps());
      if (stopping) {
        progress.clear();
        return finish(true);
      }
    }

    // End of the epoch: validation, model selection, metrics, checkpoint.
    epoch_metrics m;
    m.epoch = st.epoch + 1;
    m.train_loss = st.samples ? st.loss_sum / static_cast<double>(st.samples) : std::numeric_limits<double>::quiet_NaN();
    m.train_accuracy = st.samples ? static_cast<double>(st.correct) / static_cast<double>(st.samples)
                                  : std::numeric_limits<double>::quiet_NaN();
    m.samples_per_second = st.train_seconds > 0 ? static_cast<double>(st.samples) / st.train_seconds : 0.0;
    m.learning_rate = st.learning_rate;
    m.engine = engine;
    bool improved = false;
    if (validation) {
      eval.set_model(model);
      auto eo = eval_options;
      eo.label = fmt::format("epoch {}/{}  validating", st.epoch + 1, o.epochs);
      auto report = evaluate_classifier(eval, *validation, eo);
      if (report.stopped) {  // checkpoint (epoch, batches): a resume redoes only the validation
        save();
        progress.clear();
        return finish(true);
      }
      m.val_loss = report.loss;
      m.val_accuracy = report.accuracy;
      // Best by validation accuracy; ties go to the lower validation loss.
      if (st.best_epoch == 0) {
        improved = true;
      } else {
        const auto& best = st.history.at(st.best_epoch - 1);
        improved = m.val_accuracy > best.val_accuracy ||
                   (m.val_accuracy == best.val_accuracy && m.val_loss < best.val_loss);
      }
      if (improved) {
        best_model = model;
        st.best_epoch = m.epoch;
        st.epochs_since_best = 0;
      } else {
        ++st.epochs_since_best;
      }
    }
    st.seconds = seconds_before + seconds_since(epoch_start);
    m.seconds = st.seconds;
    st.history.push_back(m);
    if (group) check_same_parameters(*group, model, m.epoch);
    st.batch = 0;
    ++st.epoch;  // the position after this epoch
    save();
    if (root && !o.metrics_csv.empty()) write_text_atomically(o.metrics_csv, metrics_csv(st.history));
    log_line(fmt::format("epoch {}/{}  train loss {:.4f} acc {}  val loss {} acc {}{}  {:.1f} s  {:.0f} samples/s  lr {}",
                         m.epoch, o.epochs, m.train_loss, percent(m.train_accuracy), loss_text(m.val_loss),
                         percent(m.val_accuracy), improved ? " (best)" : "", m.seconds, m.samples_per_second,
                         m.learning_rate));
    if (patience_exhausted()) break;
    if (st.epoch < o.epochs && stop()) return finish(true);
  }

  // Model selection: the best-validation epoch (or the last one).
  result.stopped_early = st.epoch < o.epochs;
  if (result.stopped_early)
    log_line(fmt::format("early stop after epoch {}: validation accuracy has not improved for {} epoch{} (patience {})",
                         st.history.size(), st.epochs_since_best, st.epochs_since_best == 1 ? "" : "s", o.patience));
  std::string selection;
  if (best_model) {
    const auto& best = st.history.at(st.best_epoch - 1);
    model = *best_model;
    result.selected_epoch = st.best_epoch;
    result.validation_accuracy = best.val_accuracy;
    result.validation_loss = best.val_loss;
    selection = fmt::format("selected the model of epoch {} of {} by validation accuracy {} (loss {}) on {} samples held "
                            "out from the training split",
                            st.best_epoch, st.history.size(), format_double(best.val_accuracy),
                            format_double(best.val_loss), st.validation_samples);
    log_line(fmt::format("selected the model of epoch {}/{}: validation accuracy {}, loss {:.4f}", st.best_epoch,
                         st.history.size(), percent(best.val_accuracy), best.val_loss));
  } else {
    result.selected_epoch = st.history.size();
    selection = fmt::format("the model of the last epoch ({}); no validation set, no model selection", st.history.size());
  }
  model.origin.data = st.data;
  model.origin.accuracy = std::nullopt;
  model.origin.notes += (model.origin.notes.empty() ? "" : "\n") + selection;
  if (o.finalize) o.finalize(model);

  // The test set: once, at the end, with the selected model.
  if (test) {
    eval.set_model(model);
    auto eo = eval_options;
    eo.limit = o.test_limit;
    eo.label = "testing the selected model";
    auto report = evaluate_classifier(eval, *test, eo);
    if (report.stopped) {  // the checkpoint after the last epoch stays current: a resume redoes selection and test
      progress.clear();
      return finish(true);
    }
    model.origin.accuracy = report.accuracy;
    result.test_accuracy = report.accuracy;
    log_line(fmt::format("test (evaluated once, model of epoch {}): loss {:.4f} acc {} on {} samples",
                         result.selected_epoch, report.loss, percent(report.accuracy), report.samples));
    if (root && !o.test_json.empty()) {
      test_summary summary;
      summary.report = report;
      summary.selected_epoch = result.selected_epoch;
      summary.epochs = st.history.size();
      summary.val_accuracy = result.validation_accuracy.value_or(std::numeric_limits<double>::quiet_NaN());
      summary.val_loss = result.validation_loss.value_or(std::numeric_limits<double>::quiet_NaN());
      summary.engine = engine;
      write_text_atomically(o.test_json, test_summary_json(summary));
    }
    result.test = std::move(report);
  }
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
