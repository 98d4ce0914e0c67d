// Small helpers shared by the CLI verbs.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace spicenn::cli {

// "0.1, 0.2,3" -> {0.1, 0.2, 3}; empty text -> {}. Throws spicenn::error
// naming the option and the bad field.
std::vector<double> parse_number_list(std::string_view text, std::string_view option);
std::vector<std::int64_t> parse_size_list(std::string_view text, std::string_view option);
std::vector<std::string> parse_name_list(std::string_view text);
// Writes atomically (temporary file + rename); throws spicenn::error on failure.
void write_text_file(const std::filesystem::path& path, const std::string& text);

}  // namespace spicenn::cli
