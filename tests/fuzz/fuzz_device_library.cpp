// Fuzz target: the device-library check (compiler::check_device_library_text,
// what check_device_library runs on a file before it is .include'd).
// Property: a library that passes has no line that starts, after blanks,
// with a control block or a further-file card, nor a `*ng_script` line.
#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>

#include "compiler/netlist_writer.hpp"
#include "fuzz_common.hpp"

namespace {

bool has_forbidden_line(std::string_view text) {
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = std::min(text.find('\n', start), text.size());
    std::string line(text.substr(start, end - start));
    start = end + 1;
    auto first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos) {
      std::string lowered;
      for (char c : line.substr(first)) lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      for (std::string_view bad : {".control", ".endc", ".include", ".inc", ".lib", "*ng_script"})
        if (lowered.starts_with(bad)) return true;
    }
    if (end == text.size()) break;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz_max_input) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool passed = spicenn::fuzz::guarded([&] { spicenn::compiler::check_device_library_text(text, "fuzz.lib"); });
  if (passed) FUZZ_CHECK(!has_forbidden_line(text));
  return 0;
}
