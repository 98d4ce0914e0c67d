// Portable seeded random numbers: std::mt19937_64 is specified bit for bit,
// the std:: distributions are not, so the few we need are written here and
// give the same numbers with every standard library.
//
//   spicenn::rng r(42);
//   double u = r.uniform();        // [0, 1)
//   double z = r.normal();         // N(0, 1)
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace spicenn {

// SplitMix64 finalizer: a well-mixed 64-bit value from any 64-bit input,
// for deriving independent seeds (e.g. one per epoch and batch).
constexpr std::uint64_t mix_seed(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class rng {
 public:
  explicit rng(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) from the top 53 bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Standard normal by Box-Muller (the second value is discarded for simplicity).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  double normal(double mean, double stddev) { return mean + stddev * normal(); }
  // Uniform integer in [0, n), n > 0 (modulo bias below 2^-40 for n < 2^24).
  std::uint64_t below(std::uint64_t n) { return engine_() % n; }

  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
};

}  // namespace spicenn
