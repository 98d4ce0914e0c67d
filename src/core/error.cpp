#include "core/error.hpp"

#include <fmt/format.h>

namespace spicenn {

std::string source_location::to_string() const {
  if (file.empty()) return line ? fmt::format("line {}", line) : std::string{};
  return line ? fmt::format("{}:{}", file, line) : file;
}

static std::string prefixed(const std::string& prefix, const std::string& what) {
  return prefix.empty() ? what : prefix + ": " + what;
}

parse_error::parse_error(source_location where, const std::string& what)
    : error(prefixed(where.to_string(), what)), where_(std::move(where)) {}

validation_error::validation_error(source_location where, std::string element_path, const std::string& what)
    : error(prefixed(where.to_string(), prefixed(element_path, what))),
      where_(std::move(where)),
      element_path_(std::move(element_path)) {}

void assertion_failed(const char* expr, const char* file, int line, const std::string& why) {
  throw internal_error(fmt::format("{}:{}: internal error: assertion '{}' failed: {}", file, line, expr, why));
}

}  // namespace spicenn
