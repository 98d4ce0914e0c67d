// Soak test of a SPICE evaluator: N evaluator calls (forward and gradient
// alternating, a set_model after every gradient, as in training) on one
// evaluator, with the resident memory (VmRSS) of the process and of its
// ngspice workers (isolated engines, the default) read every `report` calls. Memory must stay flat: after a warm-up of the first
// `report` calls, the growth over the rest is printed per 10,000 calls and
// the program exits non-zero when the resident set grew by more than
// --limit-mb (default 2 MiB: flat, up to the allocator's noise). Any family
// (the model file decides), seeded random inputs.
//
//   build/bench/soak_spice_evaluator MODEL.xml --calls 100000 --batch 4 --report 5000
#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/random.hpp"
#include "cosim/evaluator.hpp"
#include "ir/model_file.hpp"

using namespace spicenn;

namespace {

// Resident set size in MiB of a process, from /proc/PID/status (VmRSS, in kB).
double resident_mib(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0.0;
}

// This process and its children (isolated engines' workers).
double resident_mib() {
  double total = resident_mib("self");
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    for (std::string pid; children >> pid;) total += resident_mib(pid);
  }
  return total;
}

// The same model with every trainable value moved by ±1e-6 relative.
ir::model nudged(ir::model m, long call) {
  const double f = 1.0 + 1e-6 * (call % 2 ? 1.0 : -1.0);
  for (const auto& name : cosim::trainable_tensors(m))
    for (auto& v : m.parameter(name).values) v *= f;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Memory of a SPICE evaluator over many calls (forward and gradient alternating)"};
  std::string file;
  long calls = 100000, report = 5000;
  int batch = 4;
  double limit_mb = 2.0;
  std::string mode = "train";
  bool trim = false;
  app.add_option("model", file, "Model file (XML)")->required()->check(CLI::ExistingFile);
  app.add_option("--calls", calls, "Evaluator calls")->capture_default_str();
  app.add_option("--batch", batch, "Samples per call")->capture_default_str();
  app.add_option("--report", report, "Read the resident memory every N calls (the first N are the warm-up)")->capture_default_str();
  app.add_option("--mode", mode, "train: forward and gradient alternating, set_model after each gradient; or only "
                                 "forward, gradient or set_model calls (to find what holds memory)")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "forward", "gradient", "set_model"}));
  std::string isolation = "worker";
  app.add_option("--spice-isolation", isolation,
                 "worker: ngspice in worker processes (counted in the resident set), as spicenn's verbs run it; none: "
                 "in this process")
      ->capture_default_str()
      ->check(CLI::IsMember({"worker", "none"}));
  app.add_flag("--trim", trim, "malloc_trim(0) before each reading: memory freed but kept by the allocator does not count");
  app.add_option("--limit-mb", limit_mb, "Fail when the resident set grows by more than this after the warm-up")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto base = ir::load_model(file);
  cosim::evaluator_options options;
  options.threads = 1;
  options.spice_isolated = isolation == "worker";
  auto eval = cosim::make_evaluator(base, cosim::engine_kind::spice, options);
  const auto inputs = base.size(ir::input_size_name(base));
  const auto outputs = base.size(ir::output_size_name(base));
  rng gen(1);
  Eigen::MatrixXd x(inputs, batch);
  std::vector<int> labels(static_cast<std::size_t>(batch));
  fmt::print("soak: {} calls ({}) of {} samples on {} ({} inputs)\n", calls, mode, batch, file, inputs);
  fmt::print("{:>10} {:>12} {:>10}\n", "calls", "VmRSS MiB", "seconds");
  const auto start = std::chrono::steady_clock::now();
  double warm = 0.0, last = 0.0;
  for (long c = 1; c <= calls; ++c) {
    for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = gen.uniform(0.0, 1.0);
    for (auto& l : labels) l = static_cast<int>(gen.below(static_cast<std::uint64_t>(outputs)));
    if (mode == "forward" || (mode == "train" && c % 2)) {
      (void)eval->forward(x);
    } else if (mode == "gradient") {
      (void)eval->gradient(x, labels);
    } else if (mode == "set_model") {
      eval->set_model(nudged(base, c));
    } else {
      (void)eval->gradient(x, labels);
      eval->set_model(nudged(base, c));
    }
    if (c % report == 0 || c == calls) {
      if (trim) malloc_trim(0);
      last = resident_mib();
      if (c == report) warm = last;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      fmt::print("{:>10} {:>12.1f} {:>10.1f}\n", c, last, s);
      std::fflush(stdout);
    }
  }
  const double growth = last - warm;
  const double per_10k = calls > report ? growth / static_cast<double>(calls - report) * 1e4 : 0.0;
  fmt::print("after the warm-up ({} calls): {:+.2f} MiB over {} calls ({:+.3f} MiB per 10,000 calls)\n", report, growth,
             calls - report, per_10k);
  if (growth > limit_mb) {
    fmt::print("FAILED: not flat: the resident set grew by {:.2f} MiB, more than {} MiB\n", growth, limit_mb);
    return 1;
  }
  fmt::print("ok: flat: grew by {:.2f} MiB, within {} MiB\n", growth, limit_mb);
  return 0;
}
