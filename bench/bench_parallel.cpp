// Cost of one parallel call of the thread pool (core/parallel.hpp) with 2
// workers and no work, after the caller has been busy for `gap_us` µs: how
// long idle pool threads take to answer. A MON training step makes two such
// calls ~0.4 ms apart.
//
//   bench_parallel --benchmark_filter=pool
#include <benchmark/benchmark.h>

#include <chrono>

#include "core/parallel.hpp"

namespace {

void busy_for(std::chrono::microseconds gap) {
  const auto until = std::chrono::steady_clock::now() + gap;
  while (std::chrono::steady_clock::now() < until) {
  }
}

void BM_pool_call_after_gap(benchmark::State& state) {
  const std::chrono::microseconds gap(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    busy_for(gap);
    state.ResumeTiming();
    spicenn::parallel_workers(2, [](int) {});
  }
}

}  // namespace

BENCHMARK(BM_pool_call_after_gap)->ArgName("gap_us")->Arg(0)->Arg(200)->Arg(1000)->Unit(benchmark::kMicrosecond);
// main() comes from benchmark::benchmark_main (bench/CMakeLists.txt).
