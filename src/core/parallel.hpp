// Running work on a few threads: the software models' batch chunks (Eigen
// itself runs single-threaded) and the co-simulation's ngspice instances.
// The caller runs the first share itself; an exception from any worker is
// rethrown on the caller after all have finished. The other shares run on a
// pool of threads that live as long as the process: a thread started per
// call was placed on the caller's core by the scheduler and often finished
// there, so 2 threads gave ~1.1x on 2 cores (bench_mon_software). Idle pool
// threads, and a caller waiting for them, poll for up to 500 µs before they
// block (parallel.cpp; bench_parallel: waking an idle virtual CPU took ~90 µs). A call
// made while the pool is busy (from a pool thread, or from another thread
// at the same time) starts threads of its own, as before.
//
//   spicenn::parallel_chunks(B, spicenn::chunk_count(B, spicenn::resolve_threads(0)),
//                            [&](int chunk, long begin, long end) { ... });
#pragma once

#include <algorithm>
#include <exception>
#include <functional>
#include <thread>
#include <vector>

namespace spicenn {

// `requested` threads, or with 0 every hardware thread (at least 1).
inline int resolve_threads(int requested) {
  if (requested > 0) return requested;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// Number of chunks for a batch of n columns: at most `threads`, and no chunk
// smaller than min_chunk columns (threads cost ~30 µs to start).
inline int chunk_count(long n, int threads, long min_chunk = 16) {
  const long by_size = std::max<long>(1, n / std::max<long>(1, min_chunk));
  return static_cast<int>(std::max<long>(1, std::min<long>(threads, by_size)));
}

namespace detail {
// Runs task(w) for w = 1 .. workers-1 on the pool's threads while the caller
// runs `caller`, and returns when all are done; false (nothing run) if the
// pool is busy. task and caller must not throw (parallel_workers guards them).
bool run_on_pool(int workers, const std::function<void(int)>& task, const std::function<void()>& caller);
}  // namespace detail

// fn(worker) for worker = 0 .. workers-1, each on its own thread (worker 0
// on the caller's).
template <typename F>
void parallel_workers(int workers, F&& fn) {
  if (workers <= 1) {
    fn(0);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(workers));
  auto guarded = [&](int w) {
    try {
      fn(w);
    } catch (...) {
      errors[static_cast<std::size_t>(w)] = std::current_exception();
    }
  };
  if (!detail::run_on_pool(workers, guarded, [&] { guarded(0); })) {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(workers - 1));
    for (int w = 1; w < workers; ++w) threads.emplace_back(guarded, w);
    guarded(0);
    for (auto& t : threads) t.join();
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// fn(chunk, begin, end) for `chunks` contiguous ranges covering [0, n).
template <typename F>
void parallel_chunks(long n, int chunks, F&& fn) {
  parallel_workers(chunks, [&](int c) { fn(c, n * c / std::max(chunks, 1), n * (c + 1) / std::max(chunks, 1)); });
}

}  // namespace spicenn
