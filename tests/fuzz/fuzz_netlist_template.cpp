// Fuzz target: the netlist template renderer (compiler::netlist_template,
// netlist_templates/*.cir.in). Properties of a template that parses:
//   - rendered with a value for every placeholder it succeeds, and each
//     placeholder's value appears in the output;
//   - rendered with every value empty, the output is the template's literal
//     text, never longer than the template;
//   - one value missing, or one key the template does not use, throws
//     lowering_error.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "compiler/netlist_template.hpp"
#include "fuzz_common.hpp"

namespace {

std::string render_or_empty(const spicenn::compiler::netlist_template& t, const std::map<std::string, std::string>& v,
                            bool& ok) {
  std::string out;
  ok = spicenn::fuzz::guarded([&] { out = t.render(v); });
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz_max_input) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<spicenn::compiler::netlist_template> t;
  if (!spicenn::fuzz::guarded([&] { t.emplace(text, "fuzz.cir.in"); })) return 0;

  std::map<std::string, std::string> all, empty;
  for (const auto& name : t->placeholders()) {
    all[name] = "<" + name + ">";
    empty[name] = "";
  }
  bool ok = false;
  const std::string full = render_or_empty(*t, all, ok);
  FUZZ_CHECK(ok);
  for (const auto& [name, value] : all) FUZZ_CHECK(full.find(value) != std::string::npos);
  const std::string bare = render_or_empty(*t, empty, ok);
  FUZZ_CHECK(ok);
  FUZZ_CHECK(bare.size() <= text.size());

  if (!all.empty()) {
    auto missing = all;
    missing.erase(missing.begin());
    render_or_empty(*t, missing, ok);
    FUZZ_CHECK(!ok);
  }
  auto extra = all;
  extra["spicenn_fuzz_unused_key_"] = "x";
  if (all.count("spicenn_fuzz_unused_key_") == 0) {
    render_or_empty(*t, extra, ok);
    FUZZ_CHECK(!ok);
  }
  return 0;
}
