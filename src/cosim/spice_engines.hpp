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

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "core/parallel.hpp"
#include "spice/engine.hpp"

namespace spicenn::cosim {

// Counters of the last forward() / gradient() call of a spice evaluator.
struct spice_stats {
  std::size_t loads = 0;    // decks parsed (one per chunk and engine)
  std::size_t sweeps = 0;   // DC sweeps
  std::size_t ac_runs = 0;  // small-signal solves (each includes ngspice's own operating point)
  std::size_t alters = 0;   // alter commands
  double seconds = 0.0;     // wall time of the call
};

class spice_engine_pool {
 public:
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
    const auto workers = static_cast<std::size_t>(std::max<long>(1, std::min<long>(resolve_threads(threads), (samples + per - 1) / per)));
    while (engines_.size() < workers) engines_.push_back(std::make_unique<spice::engine>());
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
    }
    total.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return sum;
  }

 private:
  std::vector<std::unique_ptr<spice::engine>> engines_;
};

}  // namespace spicenn::cosim
