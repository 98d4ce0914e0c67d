// Small text helpers shared by the layers (ngspice lowercases names).
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace spicenn {

inline std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Calls fn(line_number, line) for every line of text, numbered from 1, with
// the line's end ("\n") removed; the caller trims and skips blanks.
template <typename F>
void for_each_line(std::string_view text, F&& fn) {
  std::size_t start = 0, number = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    fn(++number, text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace spicenn
