// Exact text form of doubles: the shortest string that reads back to the same
// bits (std::to_chars), and a strict parser that names what it rejects.
//
//   std::string s = spicenn::format_double(0.1);   // "0.1"
//   double x = spicenn::parse_double(s);           // exactly 0.1
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace spicenn {

// Shortest round-trip representation; "nan", "inf", "-inf" for non-finite.
std::string format_double(double value);

// Parses the whole of text (surrounding blanks allowed) as a double;
// std::nullopt on any trailing garbage or empty text. Accepts nan/inf.
std::optional<double> try_parse_double(std::string_view text);

// Like try_parse_double but throws spicenn::error naming the text.
double parse_double(std::string_view text);

std::string_view trim(std::string_view text);

}  // namespace spicenn
