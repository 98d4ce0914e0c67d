// Internal: split a batch into contiguous column ranges and run them on a few
// std::threads (the software models' only parallelism; Eigen itself runs
// single-threaded). Exceptions from workers are rethrown on the caller.
#pragma once

#include <algorithm>
#include <exception>
#include <thread>
#include <vector>

namespace spicenn::models::detail {

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

// fn(chunk, begin, end) for `chunks` contiguous ranges covering [0, n).
template <typename F>
void parallel_chunks(long n, int chunks, F&& fn) {
  if (chunks <= 1) {
    fn(0, 0L, n);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(chunks));
  std::vector<std::thread> workers;
  workers.reserve(static_cast<std::size_t>(chunks - 1));
  auto range = [&](int c) { return std::pair<long, long>{n * c / chunks, n * (c + 1) / chunks}; };
  auto guarded = [&](int c) {
    try {
      auto [b, e] = range(c);
      fn(c, b, e);
    } catch (...) {
      errors[static_cast<std::size_t>(c)] = std::current_exception();
    }
  };
  for (int c = 1; c < chunks; ++c) workers.emplace_back(guarded, c);
  guarded(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace spicenn::models::detail
