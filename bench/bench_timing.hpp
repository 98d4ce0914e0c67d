// Wall-clock helpers shared by the plain (non-Google-Benchmark) programs
// that time alternating rounds.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

namespace spicenn::bench {

inline double seconds_of(const auto& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace spicenn::bench
