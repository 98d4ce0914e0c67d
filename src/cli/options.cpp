#include "cli/options.hpp"

#include <cstdint>
#include <fstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/numbers.hpp"
#include "cosim/realisability.hpp"
#include "devices/fit.hpp"

namespace spicenn::cli {

std::vector<std::string> parse_name_list(std::string_view text) {
  std::vector<std::string> out;
  if (trim(text).empty()) return out;
  std::size_t start = 0;
  while (true) {
    auto comma = text.find(',', start);
    out.emplace_back(trim(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<double> parse_number_list(std::string_view text, std::string_view option) {
  std::vector<double> out;
  auto fields = parse_name_list(text);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    auto v = try_parse_double(fields[i]);
    if (!v) throw error(fmt::format("{}: field {} ('{}') is not a number", option, i + 1, fields[i]));
    out.push_back(*v);
  }
  return out;
}

std::vector<std::int64_t> parse_size_list(std::string_view text, std::string_view option) {
  std::vector<std::int64_t> out;
  for (double v : parse_number_list(text, option)) {
    if (v < 1 || v != static_cast<double>(static_cast<std::int64_t>(v)))
      throw error(fmt::format("{}: '{}' is not a positive whole number", option, v));
    out.push_back(static_cast<std::int64_t>(v));
  }
  return out;
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  write_file_atomically(path, text, "file");
}

std::optional<library_device> library_device_argument(const std::string& device) {
  if (device.find('/') == std::string::npos && !device.ends_with(".lib")) return std::nullopt;
  const auto file = std::filesystem::absolute(device).lexically_normal();
  return library_device{file, std::string(devices::load_fitted_device(file).name())};  // parse_error naming file:line
}

void print_realisability_warnings(const ir::model& m) {
  for (const auto& w : cosim::realisability_warnings(m)) fmt::print(stderr, "spicenn: {}\n", cosim::to_text(w));
}

}  // namespace spicenn::cli
