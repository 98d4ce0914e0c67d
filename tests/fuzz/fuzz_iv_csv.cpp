// Fuzz target: the I-V CSV reader (devices::parse_iv_csv, the input of
// `spicenn fit-device`), then a small fit of what it read. Properties: the
// points come back finite, with strictly increasing voltages; a fit that
// succeeds gives finite currents and conductances inside its window.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "devices/fit.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz_max_input) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  spicenn::devices::iv_data iv;
  if (!spicenn::fuzz::guarded([&] { iv = spicenn::devices::parse_iv_csv(text, "fuzz.csv"); })) return 0;
  const std::size_t n = iv.voltage.size();
  FUZZ_CHECK(n >= 1);
  FUZZ_CHECK(iv.current.size() == n && iv.line.size() == n);
  for (std::size_t i = 0; i < n; ++i) {
    FUZZ_CHECK(std::isfinite(iv.voltage[i]) && std::isfinite(iv.current[i]));
    FUZZ_CHECK(iv.line[i] >= 1);
    if (i > 0) FUZZ_CHECK(iv.voltage[i - 1] < iv.voltage[i]);
  }
  if (n > 64) return 0;  // the fit's cost grows with the points; the reader is the target
  // The input's size picks the method and degree, so both get exercised.
  spicenn::devices::fit_options options;
  options.method = size % 2 ? spicenn::devices::fit_method::spline : spicenn::devices::fit_method::chebyshev;
  options.degree = static_cast<int>(size % 9);
  spicenn::fuzz::guarded([&] {
    const auto dev = spicenn::devices::fit_device(iv, "fuzzdev", options);
    const auto w = dev.window();
    FUZZ_CHECK(w.has_value());
    for (double v : {w->lo, 0.5 * (w->lo + w->hi), w->hi}) {
      FUZZ_CHECK(std::isfinite(dev.current(v)));
      FUZZ_CHECK(std::isfinite(dev.conductance(v)));
    }
  });
  return 0;
}
