// Shared by the fuzz targets (docs/hardening.md).
//
// Every target feeds arbitrary bytes to a real library function. The
// documented outcomes are a result or a spicenn::error (parse_error,
// validation_error, lowering_error, spice errors, ...). Everything else is a
// finding and aborts, so that libFuzzer (and the replay driver of the normal
// build) report it with the input:
//   - spicenn::internal_error (an SPICENN_ASSERT: a bug by definition),
//   - any other exception type (std::out_of_range, std::bad_alloc, ...),
//   - a violated property the target checks (fuzz_check),
//   - crashes, sanitizer reports, hangs (found by the tools themselves).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>
#include <typeinfo>

#include "core/error.hpp"

namespace spicenn::fuzz {

[[noreturn]] inline void fail(const char* what, const char* detail) {
  std::fprintf(stderr, "FUZZ FINDING: %s: %s\n", what, detail);
  std::fflush(stderr);
  std::abort();
}

// Runs f; a spicenn::error (except internal_error) is a normal outcome and
// returns false, success returns true, anything else aborts.
template <class F>
bool guarded(F&& f) {
  try {
    f();
    return true;
  } catch (const spicenn::internal_error& e) {
    fail("spicenn::internal_error", e.what());
  } catch (const spicenn::error&) {
    return false;
  } catch (const std::exception& e) {
    fail(typeid(e).name(), e.what());
  } catch (...) {
    fail("unknown exception", "");
  }
}

}  // namespace spicenn::fuzz

// A property the target checks on the library's result.
#define FUZZ_CHECK(cond)                                                         \
  do {                                                                           \
    if (!(cond)) ::spicenn::fuzz::fail("property violated", #cond);              \
  } while (0)

// Inputs beyond this many bytes are skipped: the targets look for bugs in
// the parsing logic, not for the (linear) cost of huge inputs.
inline constexpr std::size_t fuzz_max_input = 64 * 1024;
