#include "ir/names.hpp"

#include <fmt/format.h>

namespace spicenn::ir {

namespace {

bool is_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_identifier_char(char c) { return is_letter(c) || is_digit(c) || c == '_' || c == '.'; }

}  // namespace

bool is_safe_identifier(std::string_view name) { return identifier_problem(name).empty(); }

std::string identifier_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > max_identifier_length)
    return fmt::format("is {} characters long (at most {} allowed)", name.size(), max_identifier_length);
  if (!is_letter(name.front())) return "must start with a letter A-Z or a-z";
  for (std::size_t i = 0; i < name.size(); ++i)
    if (!is_identifier_char(name[i]))
      return fmt::format("contains {} at position {}; only A-Z a-z 0-9 _ . are allowed",
                         display_quoted(name.substr(i, 1)), i);
  return {};
}

bool is_safe_library_path(std::string_view path) {
  if (path.empty() || path.size() > max_library_path_length) return false;
  for (char c : path)
    if (!(is_letter(c) || is_digit(c) || c == '_' || c == '.' || c == '/' || c == '+' || c == '-'))
      return false;
  return true;
}

std::string spice_comment_safe(std::string_view text, std::size_t max_length) {
  std::string out;
  out.reserve(std::min(text.size(), max_length));
  for (char c : text) {
    if (out.size() >= max_length) break;
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u >= 0x7f ? ' ' : c);
  }
  while (!out.empty() && (out.back() == '\\' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string display_quoted(std::string_view text, std::size_t max_length) {
  std::string out = "'";
  std::size_t n = 0;
  for (char c : text) {
    if (n++ == max_length) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      default:
        if (u < 0x20 || u >= 0x7f)
          out += fmt::format("\\x{:02x}", u);
        else
          out.push_back(c);
    }
  }
  out += "'";
  return out;
}

}  // namespace spicenn::ir
