// Fuzz target: the ngspice output parser (spice/diagnose.hpp: the rules that
// turn what ngspice printed into typed errors). Input format, one line each:
//   deck lines, then a line "%%", then ngspice's output lines as the engine
//   records them ("stderr ..." / "stdout ...", other lines count as stdout).
// The first byte of the input also picks max_lines for relevant_messages.
// Properties: only spice errors are thrown; a blamed netlist line is a line
// of the deck (or 0); throw_fatal always throws engine_fatal_error;
// relevant_messages keeps at most max_lines lines (plus "...").
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.hpp"
#include "spice/diagnose.hpp"
#include "spice/errors.hpp"

namespace {

using spicenn::spice::output_line;

struct input {
  std::vector<std::string> deck;
  std::vector<output_line> output;
};

input split(std::string_view text) {
  input in;
  bool in_output = false;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (!in_output && line == "%%") {
      in_output = true;
    } else if (!in_output) {
      in.deck.emplace_back(line);
    } else {
      bool is_stderr = false;
      if (line.starts_with("stderr ")) {
        is_stderr = true;
        line.remove_prefix(7);
      } else if (line.starts_with("stdout ")) {
        line.remove_prefix(7);
      }
      in.output.push_back({is_stderr, std::string(line)});
    }
    if (end == text.size()) break;
  }
  return in;
}

// Runs f; returns the spice_error it threw (or nullopt). Other spicenn
// errors are findings here: the parser only throws spice errors.
template <class F>
void expect_spice_errors_only(const input& in, F&& f) {
  try {
    f();
  } catch (const spicenn::spice::spice_error& e) {
    FUZZ_CHECK(e.line_number() <= in.deck.size());
    if (e.line_number() > 0) FUZZ_CHECK(e.netlist_line().size() <= in.deck[e.line_number() - 1].size());
  } catch (const std::exception& e) {
    spicenn::fuzz::fail(typeid(e).name(), e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > fuzz_max_input) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const input in = split(text);
  namespace sp = spicenn::spice;

  expect_spice_errors_only(in, [&] { sp::check_load_output(in.output, in.deck); });
  for (auto kind : {sp::command_kind::analysis, sp::command_kind::other})
    expect_spice_errors_only(in, [&] { sp::check_command_output("op", kind, in.output); });

  const std::size_t max_lines = size ? data[0] % 32 : 20;
  std::string messages;
  spicenn::fuzz::guarded([&] { messages = sp::relevant_messages(in.output, max_lines); });
  if (!messages.empty()) FUZZ_CHECK(static_cast<std::size_t>(std::count(messages.begin(), messages.end(), '\n')) <= max_lines);

  for (const auto* deck : {&in.deck, static_cast<const std::vector<std::string>*>(nullptr)}) {
    bool threw_fatal = false;
    expect_spice_errors_only(in, [&] {
      try {
        sp::throw_fatal("op", in.output, deck, "fuzz");
      } catch (const sp::engine_fatal_error&) {
        threw_fatal = true;
        throw;
      }
    });
    FUZZ_CHECK(threw_fatal);
  }

  // locate_netlist_line with ngspice's "Error on line N" number taken from the input.
  for (std::size_t i = 0; i < std::min<std::size_t>(in.output.size(), 16); ++i) {
    const auto& l = in.output[i];
    const std::size_t n = sp::locate_netlist_line(in.deck, l.text.size() % (in.deck.size() + 2), l.text);
    FUZZ_CHECK(n <= in.deck.size());
  }
  return 0;
}
