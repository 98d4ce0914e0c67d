#include "cosim/checkpoint.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/numbers.hpp"
#include "ir/model_file.hpp"

namespace spicenn::cosim {

namespace fs = std::filesystem;

// State file, line oriented ("key value"), the optimizer's own text last:
//   spicenn-checkpoint 2
//   model epoch000003-batch000017.xml
//   parameter_hash 8c0e6a7d3b1f2e45
//   epoch 3
//   batch 17
//   ...
//   history 3
//   <metrics csv row>    (3 rows)
//   best_epoch 2                                   (0: none yet)
//   epochs_since_best 1
//   best_model epoch000003-batch000017.best.xml    ('-' with best_epoch 0)
//   best_hash 1f0e...                              ('-' with best_epoch 0)
//   optimizer-state
//   optimizer adam       (optimizer::state_to_string() to the end)

namespace {

constexpr std::string_view magic = "spicenn-checkpoint 2";
constexpr std::string_view latest_file = "latest";

void fnv(std::uint64_t& h, const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
}

// Writes text to path via a temporary file in the same directory, fsync and
// rename.
void write_atomically(const fs::path& path, const std::string& text) {
  write_file_atomically(path, text, "checkpoint file");
}

// Makes the renames in dir durable (best effort).
void sync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw error(fmt::format("cannot read checkpoint file {}: {}", path.string(), std::strerror(errno)));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_checkpoint_file(const std::string& name) {
  // epochNNNNNN-batchNNNNNN.xml|.state, or any temporary file of ours.
  if (name.find(".tmp.") != std::string::npos) return true;
  if (name.rfind("epoch", 0) != 0 || name.find("-batch") == std::string::npos) return false;
  return name.ends_with(".xml") || name.ends_with(".state");
}

std::string stem_of(const std::string& name) {
  auto dot = name.find('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

std::string hex(std::uint64_t h) { return fmt::format("{:016x}", h); }

}  // namespace

std::uint64_t parameter_hash(const ir::model& m) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const auto& t : m.parameters) {
    fnv(h, t.name.data(), t.name.size());
    const std::uint64_t rank = t.shape.size();
    fnv(h, &rank, sizeof rank);
    for (std::uint64_t d : t.shape) fnv(h, &d, sizeof d);
    for (double v : t.values) {
      std::uint64_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      fnv(h, &bits, sizeof bits);
    }
  }
  return h;
}

std::string checkpoint_name(std::uint64_t epoch, std::uint64_t batch) {
  return fmt::format("epoch{:06}-batch{:06}", epoch, batch);
}

std::string checkpoint_state_to_string(const checkpoint_state& s, const std::string& model_file, std::uint64_t hash,
                                       const std::string& best_model_file, std::uint64_t best_hash) {
  std::string out(magic);
  out += '\n';
  out += fmt::format("model {}\n", model_file);
  out += fmt::format("parameter_hash {}\n", hex(hash));
  out += fmt::format("epoch {}\nbatch {}\nsteps {}\n", s.epoch, s.batch, s.steps);
  out += fmt::format("seed {}\nbatch_size {}\naugment_shift {}\n", s.seed, s.batch_size, format_double(s.augment_shift));
  out += fmt::format("data {}\ntrain_samples {}\nengine {}\nvalidation_samples {}\n", s.data, s.train_samples, s.engine,
                     s.validation_samples);
  out += fmt::format("loss_sum {}\ncorrect {}\nsamples {}\n", format_double(s.loss_sum), s.correct, s.samples);
  out += fmt::format("train_seconds {}\nseconds {}\nlearning_rate {}\n", format_double(s.train_seconds),
                     format_double(s.seconds), format_double(s.learning_rate));
  out += fmt::format("history {}\n", s.history.size());
  for (const auto& row : s.history) out += metrics_csv_row(row) + '\n';
  out += fmt::format("best_epoch {}\nepochs_since_best {}\n", s.best_epoch, s.epochs_since_best);
  if (s.best_epoch > 0)
    out += fmt::format("best_model {}\nbest_hash {}\n", best_model_file, hex(best_hash));
  else
    out += "best_model -\nbest_hash -\n";
  out += "optimizer-state\n";
  out += s.optimizer;
  return out;
}

parsed_checkpoint_state parse_checkpoint_state(const std::string& text, const std::string& display_name) {
  parsed_checkpoint_state p;
  std::istringstream in(text);
  std::string line;
  std::size_t line_no = 0;
  auto fail = [&](const std::string& what) { throw parse_error({display_name, line_no}, what); };
  auto next = [&]() {
    if (!std::getline(in, line)) {
      ++line_no;
      fail("unexpected end of the state file");
    }
    ++line_no;
  };
  // "key value" with the expected key; returns the value text.
  auto value_of = [&](std::string_view key) {
    next();
    if (line.rfind(key, 0) != 0 || line.size() <= key.size() || line[key.size()] != ' ')
      fail(fmt::format("expected '{} <value>', found '{}'", key, line));
    return std::string(trim(std::string_view(line).substr(key.size() + 1)));
  };
  auto unsigned_of = [&](std::string_view key) {
    std::string v = value_of(key);
    std::uint64_t x = 0;
    std::size_t used = 0;
    try {
      x = std::stoull(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != v.size() || v.front() == '-') fail(fmt::format("{}: '{}' is not a whole number", key, v));
    return x;
  };
  auto double_of = [&](std::string_view key) {
    std::string v = value_of(key);
    auto x = try_parse_double(v);
    if (!x) fail(fmt::format("{}: '{}' is not a number", key, v));
    return *x;
  };

  auto hash_of = [&](std::string_view key) {
    std::string h = value_of(key);
    std::uint64_t x = 0;
    std::size_t used = 0;
    try {
      x = std::stoull(h, &used, 16);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != h.size() || h.size() != 16) fail(fmt::format("{}: '{}' is not 16 hex digits", key, h));
    return x;
  };

  next();
  if (line == "spicenn-checkpoint 1")
    fail("checkpoint format 1 was written by an earlier spicenn (before the validation split and model selection) and "
         "cannot be resumed exactly; start over (--fresh)");
  if (line != magic) fail(fmt::format("not a spicenn checkpoint state (expected '{}', found '{}')", magic, line));
  p.model_file = value_of("model");
  p.hash = hash_of("parameter_hash");
  auto& s = p.state;
  s.epoch = unsigned_of("epoch");
  s.batch = unsigned_of("batch");
  s.steps = unsigned_of("steps");
  s.seed = unsigned_of("seed");
  s.batch_size = unsigned_of("batch_size");
  s.augment_shift = double_of("augment_shift");
  s.data = value_of("data");
  s.train_samples = unsigned_of("train_samples");
  s.engine = value_of("engine");
  s.validation_samples = unsigned_of("validation_samples");
  s.loss_sum = double_of("loss_sum");
  s.correct = unsigned_of("correct");
  s.samples = unsigned_of("samples");
  s.train_seconds = double_of("train_seconds");
  s.seconds = double_of("seconds");
  s.learning_rate = double_of("learning_rate");
  const std::uint64_t rows = unsigned_of("history");
  for (std::uint64_t i = 0; i < rows; ++i) {
    next();
    try {
      s.history.push_back(parse_metrics_csv_row(line));
    } catch (const error& e) {
      fail(e.what());
    }
  }
  s.best_epoch = unsigned_of("best_epoch");
  s.epochs_since_best = unsigned_of("epochs_since_best");
  if (s.best_epoch > s.history.size())
    fail(fmt::format("best_epoch {} is beyond the {} completed epochs", s.best_epoch, s.history.size()));
  if (s.best_epoch > 0 && s.epochs_since_best != s.history.size() - s.best_epoch)
    fail(fmt::format("epochs_since_best {} does not match best_epoch {} of {} completed epochs", s.epochs_since_best,
                     s.best_epoch, s.history.size()));
  if (s.best_epoch > 0) {
    p.best_model_file = value_of("best_model");
    p.best_hash = hash_of("best_hash");
  } else {
    if (value_of("best_model") != "-") fail("best_model must be '-' with best_epoch 0");
    if (value_of("best_hash") != "-") fail("best_hash must be '-' with best_epoch 0");
  }
  next();
  if (line != "optimizer-state") fail(fmt::format("expected 'optimizer-state', found '{}'", line));
  std::ostringstream rest;
  rest << in.rdbuf();
  s.optimizer = rest.str();
  return p;
}

void write_checkpoint(const fs::path& dir, const ir::model& m, const checkpoint_state& state, const ir::model* best) {
  if (state.best_epoch > 0 && !best)
    throw error(fmt::format("checkpoint: best epoch {} but no best model to write", state.best_epoch));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw error(fmt::format("cannot create checkpoint directory {}: {}", dir.string(), ec.message()));
  const std::string name = checkpoint_name(state.epoch, state.batch);
  const std::string model_name = name + ".xml";
  ir::save_model(m, dir / model_name);
  std::string best_name;
  std::uint64_t best_hash = 0;
  if (state.best_epoch > 0) {
    best_name = name + ".best.xml";
    ir::save_model(*best, dir / best_name);
    best_hash = parameter_hash(*best);
  }
  write_atomically(dir / (name + ".state"),
                   checkpoint_state_to_string(state, model_name, parameter_hash(m), best_name, best_hash));
  sync_directory(dir);
  write_atomically(dir / latest_file, name + "\n");
  sync_directory(dir);
  // The new checkpoint is current: remove the previous ones and leftovers.
  std::vector<fs::path> stale;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (!is_checkpoint_file(file)) continue;
    if (file.find(".tmp.") == std::string::npos && stem_of(file) == name) continue;
    stale.push_back(entry.path());
  }
  for (const auto& p : stale) fs::remove(p, ec);
}

bool checkpoint_exists(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / latest_file, ec);
}

std::optional<checkpoint> read_checkpoint(const fs::path& dir) {
  if (!checkpoint_exists(dir)) return std::nullopt;
  const std::string name{trim(read_file(dir / latest_file))};
  if (name.empty() || name.find('/') != std::string::npos || name.find("..") != std::string::npos)
    throw error(fmt::format("checkpoint pointer {} is malformed ('{}')", (dir / latest_file).string(), name));
  checkpoint c;
  c.state_file = dir / (name + ".state");
  auto parsed = parse_checkpoint_state(read_file(c.state_file), c.state_file.string());
  c.model_file = dir / parsed.model_file;
  if (parsed.model_file != name + ".xml")
    throw error(fmt::format("checkpoint state {} names model file {}, expected {}.xml", c.state_file.string(),
                            parsed.model_file, name));
  c.model = ir::load_model(c.model_file);
  if (parameter_hash(c.model) != parsed.hash)
    throw error(fmt::format("checkpoint model {} does not match its state {} (parameter hash {} != {})",
                            c.model_file.string(), c.state_file.string(), hex(parameter_hash(c.model)), hex(parsed.hash)));
  if (parsed.state.best_epoch > 0) {
    if (parsed.best_model_file != name + ".best.xml")
      throw error(fmt::format("checkpoint state {} names best model file {}, expected {}.best.xml", c.state_file.string(),
                              parsed.best_model_file, name));
    const fs::path best_file = dir / parsed.best_model_file;
    c.best_model = ir::load_model(best_file);
    if (parameter_hash(*c.best_model) != parsed.best_hash)
      throw error(fmt::format("checkpoint best model {} does not match its state {} (parameter hash {} != {})",
                              best_file.string(), c.state_file.string(), hex(parameter_hash(*c.best_model)),
                              hex(parsed.best_hash)));
  }
  c.state = std::move(parsed.state);
  return c;
}

void remove_checkpoint(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<fs::path> ours;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string file = entry.path().filename().string();
    if (file == latest_file || is_checkpoint_file(file)) ours.push_back(entry.path());
  }
  for (const auto& p : ours) fs::remove(p, ec);
  fs::remove(dir, ec);  // only succeeds if empty
}

}  // namespace spicenn::cosim
