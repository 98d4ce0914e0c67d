// Whole-array checks of doubles that vectorize: the per-step validation of
// large tensors (a MON's 784×100 conductances are checked after every
// training step). Eigen's allFinite() runs element by element and was a
// quarter of the optimizer's time.
//
//   if (!spicenn::all_finite(gradient)) ...            // no NaN or ±inf
//   if (!spicenn::all_finite_nonnegative(values)) ...  // finite and >= +0 (−0 counts as negative here)
//
// Both read the bit patterns: an IEEE double is finite iff its exponent
// field is not all ones, i.e. iff its magnitude bits are below those of +inf;
// it is finite and nonnegative with a clear sign bit iff its bits, as an
// unsigned integer, are below +inf's. One unsigned max per value.
#pragma once

#include <bit>
#include <cstdint>
#include <span>

namespace spicenn {

namespace finite_scan_detail {
inline constexpr std::uint64_t infinity_bits = 0x7ff0000000000000ULL;
inline constexpr std::uint64_t magnitude_mask = 0x7fffffffffffffffULL;

inline std::uint64_t max_bits(std::span<const double> values, std::uint64_t mask) {
  std::uint64_t worst = 0;
  for (const double x : values) {
    const std::uint64_t b = std::bit_cast<std::uint64_t>(x) & mask;
    worst = b > worst ? b : worst;
  }
  return worst;
}
}  // namespace finite_scan_detail

inline bool all_finite(std::span<const double> values) {
  return finite_scan_detail::max_bits(values, finite_scan_detail::magnitude_mask) < finite_scan_detail::infinity_bits;
}

// True iff every value is finite with a clear sign bit (so −0 and NaNs of
// either sign fail: callers that accept −0 look again).
inline bool all_finite_nonnegative(std::span<const double> values) {
  return finite_scan_detail::max_bits(values, ~std::uint64_t{0}) < finite_scan_detail::infinity_bits;
}

}  // namespace spicenn
