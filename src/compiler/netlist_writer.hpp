// The one place that formats SPICE text. Lowering passes describe elements;
// this writer checks every identifier (lowercase [a-z0-9_], since ngspice
// lowercases names anyway), writes numbers in shortest round-trip form, and
// refuses anything that could smuggle in an extra card or a .control block.
//
//   netlist_writer w("mon 2x3x1");
//   w.include(lib_path);
//   w.voltage_source("vx0", "x0", "0", 0.5);
//   w.resistor("r1", "x0", "h0", 1e4);
//   std::string deck = w.text();   // ends with .end
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace spicenn::compiler {

// What the resistors of a netlist span, for the realism report of `compile`.
struct resistor_summary {
  std::size_t count = 0;
  double min_ohms = 0.0, max_ohms = 0.0;  // 0 when count == 0
  // Outside 1 kOhm .. 1 MOhm (1 mS .. 1 uS), the range of common integrated
  // and discrete resistors (and of the MON issue's "realistic" conductances).
  std::size_t below_1k = 0, above_1meg = 0;
};

// A device library is SPICE text that ngspice executes, `.control` blocks
// and their `shell` included, so before one is included it must hold only
// what a device library needs: `.subckt`/`.ends`, `.model`, `.param`,
// element lines, comments (`*`), continuations (`+`) and blank lines.
// Anything else — `.control`/`.endc`, `.include`/`.inc`/`.lib` of further
// files, any other dot-command — throws parse_error naming file:line.
void check_device_library(const std::filesystem::path& library);
// The same check on library text already read; `source_name` is the file
// name in messages (check_device_library reads the file and calls this).
void check_device_library_text(std::string_view text, const std::string& source_name);

class netlist_writer {
 public:
  explicit netlist_writer(std::string_view title);

  void comment(std::string_view text);  // control characters stripped
  void blank_line();
  // Each file once; the file must pass check_device_library.
  void include(const std::filesystem::path& library);

  // Two-terminal and controlled elements; values in SI units.
  void resistor(std::string_view name, std::string_view a, std::string_view b, double ohms);
  void capacitor(std::string_view name, std::string_view a, std::string_view b, double farads);
  // With an initial voltage v(a) - v(b) = ic_volts, used by `.tran ... uic`.
  void capacitor(std::string_view name, std::string_view a, std::string_view b, double farads, double ic_volts);
  // `dc` volts; `ac` magnitude for small-signal analyses (0 = none).
  void voltage_source(std::string_view name, std::string_view pos, std::string_view neg, double dc, double ac = 0.0);
  // Current flows from pos through the source to neg: `current_source(n, "0", "h3", i)` injects i into h3.
  void current_source(std::string_view name, std::string_view pos, std::string_view neg, double dc, double ac = 0.0);
  // A piecewise-linear voltage source: (time in seconds, volts) corners with
  // strictly increasing times (the corners become transient breakpoints).
  void pwl_voltage_source(std::string_view name, std::string_view pos, std::string_view neg,
                          const std::vector<std::pair<double, double>>& corners);
  // ngspice B element `name pos neg i=expression`: the current flows from pos
  // through the element to neg. The expression is checked to be one line of
  // names, numbers, operators and parentheses (no braces, quotes or
  // control characters), so nothing can add a card.
  void behavioural_current_source(std::string_view name, std::string_view pos, std::string_view neg,
                                  std::string_view expression);
  void vcvs(std::string_view name, std::string_view pos, std::string_view neg, std::string_view control_pos,
            std::string_view control_neg, double gain);
  // V(pos,neg) = gain * I(sense), I through voltage source `sense` from its + to its - node.
  void ccvs(std::string_view name, std::string_view pos, std::string_view neg, std::string_view sense, double gain);
  void subcircuit(std::string_view name, const std::vector<std::string>& nodes, std::string_view subckt);
  // Splices a netlist_templates/ snippet. Every value must be an identifier
  // or a number (so nothing from a model file can add a card); element names
  // in the rendered lines are registered like the ones above.
  void instantiate(const class netlist_template& snippet, const std::map<std::string, std::string>& values);
  // Raw analysis/option card (".op", ".options ..."): checked to be a single dot-card.
  void card(std::string_view dot_card);
  // One `.options name=value ...` card (names must be identifiers); nothing if empty.
  void simulator_options(const std::vector<std::pair<std::string, double>>& options);
  // The end of a compiled deck: the simulator options (if any) and, if
  // asked, `.op` so that `ngspice -b` prints the operating point.
  void closing_cards(const std::vector<std::pair<std::string, double>>& options, bool operating_point);

  // Netlist text, ending with ".end".
  std::string text() const;
  std::size_t element_count() const { return elements_; }
  const resistor_summary& resistors() const { return resistors_; }

 private:
  std::string element_name(std::string_view name, char kind);
  void line(std::string text);

  std::vector<std::string> lines_;
  std::vector<std::string> includes_;
  std::unordered_set<std::string> names_;  // to reject duplicates (a sorted vector was quadratic: 2 s for 160k elements)
  std::size_t elements_ = 0;
  resistor_summary resistors_;
};

// Tolerances for co-simulation: reltol=1e-9 vntol=1e-12 abstol=1e-15.
// ngspice's defaults (reltol=1e-3) leave node voltages up to 5e-4 (relative)
// from the exact solution (docs/cosimulation.md).
std::vector<std::pair<std::string, double>> precise_simulator_options();

// True for identifiers the writer accepts: [a-z0-9_], starting with a letter or digit, <= 64 chars.
bool is_spice_identifier(std::string_view name);
// Formats a finite value for a netlist; throws lowering_error on nan/inf.
std::string spice_number(double value);

}  // namespace spicenn::compiler
