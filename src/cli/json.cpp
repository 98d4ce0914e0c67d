#include "cli/json.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/numbers.hpp"

namespace spicenn::cli {

void json_writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ", ";
    first_.back() = false;
  }
}

json_writer& json_writer::begin_object() {
  separate();
  out_ += '{';
  first_.push_back(true);
  return *this;
}
json_writer& json_writer::end_object() {
  out_ += '}';
  first_.pop_back();
  return *this;
}
json_writer& json_writer::begin_array() {
  separate();
  out_ += '[';
  first_.push_back(true);
  return *this;
}
json_writer& json_writer::end_array() {
  out_ += ']';
  first_.pop_back();
  return *this;
}
json_writer& json_writer::key(std::string_view k) {
  string(k);
  out_ += ": ";
  after_key_ = true;
  return *this;
}
json_writer& json_writer::string(std::string_view s) {
  separate();
  out_ += '"';
  for (char c : s) {
    switch (c) {
      case '"': out_ += "\\\""; break;
      case '\\': out_ += "\\\\"; break;
      case '\n': out_ += "\\n"; break;
      case '\t': out_ += "\\t"; break;
      case '\r': out_ += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) out_ += fmt::format("\\u{:04x}", static_cast<int>(c));
        else out_ += c;
    }
  }
  out_ += '"';
  return *this;
}
json_writer& json_writer::number(double x) {
  if (!std::isfinite(x)) return null();
  separate();
  out_ += format_double(x);
  return *this;
}
json_writer& json_writer::null() {
  separate();
  out_ += "null";
  return *this;
}

}  // namespace spicenn::cli
