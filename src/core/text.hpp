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

}  // namespace spicenn
