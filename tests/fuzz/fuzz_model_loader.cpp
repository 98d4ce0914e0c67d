// Fuzz target: the model loader (ir::load_model_from_string, the XML model
// file of docs/model-format.md). Property: a model that loads saves to text
// that loads again to the same text (load -> save -> load is exact).
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_common.hpp"
#include "ir/model_file.hpp"

#ifndef SPICENN_FUZZ_LIBRARY_DIR
#error "SPICENN_FUZZ_LIBRARY_DIR: the directory relative library= paths resolve against"
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz_max_input) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string saved;
  const bool loaded = spicenn::fuzz::guarded([&] {
    const auto m = spicenn::ir::load_model_from_string(text, "fuzz.xml", SPICENN_FUZZ_LIBRARY_DIR);
    saved = spicenn::ir::to_xml_string(m);
  });
  if (!loaded) return 0;
  std::string again;
  const bool reloaded = spicenn::fuzz::guarded([&] {
    again = spicenn::ir::to_xml_string(spicenn::ir::load_model_from_string(saved, "saved.xml", SPICENN_FUZZ_LIBRARY_DIR));
  });
  FUZZ_CHECK(reloaded);
  FUZZ_CHECK(again == saved);
  return 0;
}
