// What the spice evaluators of every family share: the counters of a call,
// and a pool of embedded ngspice engines (one per worker) over which a
// batch is split in contiguous ranges.
//
//   spice_engine_pool pool;
//   spice_stats stats;
//   double loss = pool.run(B, threads, /*min_per_engine=*/16, stats,
//                          [&](spice::engine& eng, long b0, long b1, spice_stats& mine) {
//                            ... ++mine.sweeps; return loss_of_range; });
#pragma once

#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "cosim/evaluator.hpp"
#include "spice/batch.hpp"
#include "spice/engine.hpp"

namespace spicenn::cosim {

// Counters of the last forward() / gradient() call of a spice evaluator.
struct spice_stats {
  std::size_t loads = 0;    // decks parsed (one per chunk and engine)
  std::size_t sweeps = 0;   // DC sweeps
  std::size_t ac_runs = 0;  // small-signal solves (each includes ngspice's own operating point)
  std::size_t alters = 0;   // alter commands
  std::size_t nudged_fallbacks = 0;  // MON nudged gradient: samples redone by `ac` (a diode changed state)
  double seconds = 0.0;     // wall time of the call
};

// One engine's share [b0, b1) of a batch, in chunks of at most `chunk`
// samples: each chunk is one load + batched DC sweep of `netlist` with the
// inputs x.middleCols (normalized, times `volt` for the sources), every
// node voltage within `voltage_bound`; on_chunk(c0, m, values) receives the
// m × probes matrix. A simulator error becomes a simulation_error naming
// `what` and the samples.
template <typename F>
void sweep_in_chunks(spice::engine& eng, std::string_view what, const std::string& netlist,
                     const std::vector<std::string>& input_sources, const Eigen::MatrixXd& x, double volt, long b0, long b1,
                     std::size_t chunk, const std::vector<std::string>& probes, double voltage_bound, spice_stats& stats,
                     F&& on_chunk) {
  const long step = static_cast<long>(std::max<std::size_t>(chunk, 1));
  spice::batch_options bo;
  bo.voltage_bound = voltage_bound;
  for (long c0 = b0; c0 < b1; c0 += step) {
    const long m = std::min(step, b1 - c0);
    bo.chunk_size = static_cast<std::size_t>(m);
    const Eigen::MatrixXd samples = x.middleCols(c0, m).transpose() * volt;
    Eigen::MatrixXd values;
    try {
      values = spice::evaluate_batch(eng, netlist, input_sources, samples, probes, bo);
    } catch (const spice::spice_error& e) {
      throw simulation_error(fmt::format("{}, samples {}..{}: {}", what, c0, c0 + m - 1, e.what()));
    }
    ++stats.loads;
    ++stats.sweeps;
    on_chunk(static_cast<Eigen::Index>(c0), static_cast<Eigen::Index>(m), values);
  }
}

// The options of every engine a spice evaluator starts.
inline spice::engine_options engine_options_of(const evaluator_options& options) {
  spice::engine_options o;
  o.where = options.spice_isolated ? spice::engine_options::isolation::worker_process
                                   : spice::engine_options::isolation::in_process;
  o.time_limit = options.spice_time_limit;
  return o;
}

class spice_engine_pool {
 public:
  explicit spice_engine_pool(spice::engine_options options = {}) : options_(std::move(options)) {}

  // Splits [0, samples) over up to `threads` engines, each taking at least
  // min_per_engine samples, and calls fn(engine, begin, end, stats) -> double
  // on each range in parallel; returns the sum of fn's results, and `total`
  // receives the summed counters and the wall time. Engines are created on
  // first use and kept (a loaded deck stays loaded).
  template <typename F>
  double run(long samples, int threads, long min_per_engine, spice_stats& total, F&& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    total = {};
    if (samples <= 0) return 0.0;
    const long per = std::max<long>(1, min_per_engine);
    const auto workers =
        static_cast<std::size_t>(std::max<long>(1, std::min<long>(resolve_threads(threads), (samples + per - 1) / per)));
    while (engines_.size() < workers) engines_.push_back(std::make_unique<spice::engine>(options_));
    std::vector<spice_stats> stats(workers);
    std::vector<double> sums(workers, 0.0);
    parallel_chunks(samples, static_cast<int>(workers), [&](int w, long b0, long b1) {
      const auto i = static_cast<std::size_t>(w);
      sums[i] = fn(*engines_[i], b0, b1, stats[i]);
    });
    double sum = 0.0;
    for (std::size_t i = 0; i < workers; ++i) {
      sum += sums[i];
      total.loads += stats[i].loads;
      total.sweeps += stats[i].sweeps;
      total.ac_runs += stats[i].ac_runs;
      total.alters += stats[i].alters;
      total.nudged_fallbacks += stats[i].nudged_fallbacks;
    }
    total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return sum;
  }

 private:
  spice::engine_options options_;
  std::vector<std::unique_ptr<spice::engine>> engines_;
};

}  // namespace spicenn::cosim
