#include "compiler/netlist_writer.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "compiler/netlist_template.hpp"
#include "core/error.hpp"
#include "core/numbers.hpp"

namespace spicenn::compiler {

bool is_spice_identifier(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

std::string spice_number(double value) {
  if (!std::isfinite(value)) throw lowering_error(fmt::format("non-finite value {} cannot go into a netlist", value));
  return format_double(value);
}

static std::string checked_node(std::string_view node) {
  if (!is_spice_identifier(node)) throw lowering_error(fmt::format("'{}' is not a valid node name ([a-z0-9_], at most 64)", node));
  return std::string(node);
}

static std::string sanitized(std::string_view text) {
  std::string out;
  for (char c : text) out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  return out;
}

netlist_writer::netlist_writer(std::string_view title) {
  // The first line of a deck is its title, whatever it says.
  lines_.push_back("* " + sanitized(title));
}

void netlist_writer::line(std::string text) { lines_.push_back(std::move(text)); }

void netlist_writer::comment(std::string_view text) { line("* " + sanitized(text)); }

void netlist_writer::blank_line() { line(""); }

void check_device_library(const std::filesystem::path& library) {
  std::ifstream in(library, std::ios::binary);
  if (!in) throw error(fmt::format("cannot read device library {}", library.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw error(fmt::format("cannot read device library {}", library.string()));
  check_device_library_text(text.str(), library.string());
}

void check_device_library_text(std::string_view text, const std::string& source_name) {
  std::size_t number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++number;
    std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;  // blank
    const char c = line[first];
    const source_location where{source_name, number};
    std::string lowered;
    for (std::size_t i = first; i < line.size(); ++i) lowered += static_cast<char>(std::tolower(static_cast<unsigned char>(line[i])));
    // ngspice runs a file whose first line is `*ng_script` as a control script.
    if (lowered.starts_with("*ng_script"))
      throw parse_error(where, "'*ng_script' is not allowed in a device library (ngspice would run the file as a script)");
    if (c == '*' || c == '+') continue;  // comment, continuation
    if (c == '.') {
      const std::string card = lowered.substr(0, lowered.find_first_of(" \t\r"));
      if (card == ".subckt" || card == ".ends" || card == ".model" || card == ".param") continue;
      const bool control = card == ".control" || card == ".endc";
      const bool include = card == ".include" || card == ".inc" || card == ".lib" || card == ".endl";
      throw parse_error(where, fmt::format("'{}' is not allowed in a device library ({}); a library may hold only "
                                           ".subckt/.ends, .model, .param, element lines, comments and continuations",
                                           sanitized(card), control   ? "ngspice would run the control block"
                                                            : include ? "it would read a further file"
                                                                      : "not a device definition"));
    }
    if (!std::isalpha(static_cast<unsigned char>(c)))
      throw parse_error(where, fmt::format("line starts with '{}': not an element, a comment, a continuation or one of "
                                           ".subckt/.ends/.model/.param",
                                           sanitized(std::string(1, c))));
  }
}

void netlist_writer::include(const std::filesystem::path& library) {
  auto text = library.string();
  if (text.find_first_of("\"\n\r") != std::string::npos || text.empty())
    throw lowering_error(fmt::format("library path '{}' cannot be written into a netlist", sanitized(text)));
  if (std::find(includes_.begin(), includes_.end(), text) != includes_.end()) return;
  check_device_library(library);
  includes_.push_back(text);
  line(fmt::format(".include \"{}\"", text));
}

std::string netlist_writer::element_name(std::string_view name, char kind) {
  if (!is_spice_identifier(name) || name.front() != kind)
    throw lowering_error(fmt::format("element name '{}' must start with '{}' and use [a-z0-9_]", name, kind));
  if (!names_.emplace(name).second) throw lowering_error(fmt::format("duplicate element name '{}'", name));
  ++elements_;
  return std::string(name);
}

void netlist_writer::resistor(std::string_view name, std::string_view a, std::string_view b, double ohms) {
  if (!(ohms > 0)) throw lowering_error(fmt::format("resistor {} has non-positive resistance {}", name, ohms));
  line(fmt::format("{} {} {} {}", element_name(name, 'r'), checked_node(a), checked_node(b), spice_number(ohms)));
  auto& r = resistors_;
  r.min_ohms = r.count ? std::min(r.min_ohms, ohms) : ohms;
  r.max_ohms = r.count ? std::max(r.max_ohms, ohms) : ohms;
  ++r.count;
  r.below_1k += ohms < 1e3;
  r.above_1meg += ohms > 1e6;
}

void netlist_writer::capacitor(std::string_view name, std::string_view a, std::string_view b, double farads) {
  line(fmt::format("{} {} {} {}", element_name(name, 'c'), checked_node(a), checked_node(b), spice_number(farads)));
}

void netlist_writer::capacitor(std::string_view name, std::string_view a, std::string_view b, double farads,
                               double ic_volts) {
  line(fmt::format("{} {} {} {} ic={}", element_name(name, 'c'), checked_node(a), checked_node(b), spice_number(farads),
                   spice_number(ic_volts)));
}

void netlist_writer::pwl_voltage_source(std::string_view name, std::string_view pos, std::string_view neg,
                                        const std::vector<std::pair<double, double>>& corners) {
  if (corners.empty()) throw lowering_error(fmt::format("pwl source {} has no corners", name));
  std::string text = fmt::format("{} {} {} pwl(", element_name(name, 'v'), checked_node(pos), checked_node(neg));
  for (std::size_t i = 0; i < corners.size(); ++i) {
    if (i > 0 && !(corners[i].first > corners[i - 1].first))
      throw lowering_error(fmt::format("pwl source {}: corner times must increase ({} after {})", name,
                                       spice_number(corners[i].first), spice_number(corners[i - 1].first)));
    text += fmt::format("{}{} {}", i ? " " : "", spice_number(corners[i].first), spice_number(corners[i].second));
  }
  line(text + ")");
}

void netlist_writer::behavioural_current_source(std::string_view name, std::string_view pos, std::string_view neg,
                                                std::string_view expression) {
  const bool ok = !expression.empty() && std::all_of(expression.begin(), expression.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_.+-*/^(),<>=!?:&| ").find(c) != std::string_view::npos;
  });
  if (!ok)
    throw lowering_error(fmt::format("behavioural source {}: expression '{}' may only hold names, numbers, operators "
                                     "and parentheses",
                                     name, sanitized(expression)));
  line(fmt::format("{} {} {} i={}", element_name(name, 'b'), checked_node(pos), checked_node(neg), expression));
}

void netlist_writer::voltage_source(std::string_view name, std::string_view pos, std::string_view neg, double dc, double ac) {
  auto text = fmt::format("{} {} {} dc {}", element_name(name, 'v'), checked_node(pos), checked_node(neg), spice_number(dc));
  if (ac != 0.0) text += " ac " + spice_number(ac);
  line(std::move(text));
}

void netlist_writer::current_source(std::string_view name, std::string_view pos, std::string_view neg, double dc, double ac) {
  auto text = fmt::format("{} {} {} dc {}", element_name(name, 'i'), checked_node(pos), checked_node(neg), spice_number(dc));
  if (ac != 0.0) text += " ac " + spice_number(ac);
  line(std::move(text));
}

void netlist_writer::vcvs(std::string_view name, std::string_view pos, std::string_view neg, std::string_view control_pos,
                          std::string_view control_neg, double gain) {
  line(fmt::format("{} {} {} {} {} {}", element_name(name, 'e'), checked_node(pos), checked_node(neg), checked_node(control_pos),
                   checked_node(control_neg), spice_number(gain)));
}

void netlist_writer::ccvs(std::string_view name, std::string_view pos, std::string_view neg, std::string_view sense, double gain) {
  if (!is_spice_identifier(sense) || sense.front() != 'v')
    throw lowering_error(fmt::format("'{}' is not a voltage source name", sense));
  line(fmt::format("{} {} {} {} {}", element_name(name, 'h'), checked_node(pos), checked_node(neg), sense, spice_number(gain)));
}

void netlist_writer::subcircuit(std::string_view name, const std::vector<std::string>& nodes, std::string_view subckt) {
  if (!is_spice_identifier(subckt)) throw lowering_error(fmt::format("'{}' is not a valid subcircuit name", subckt));
  std::string text = element_name(name, 'x');
  for (const auto& n : nodes) text += " " + checked_node(n);
  text += " ";
  text += subckt;
  line(std::move(text));
}

void netlist_writer::instantiate(const netlist_template& snippet, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values)
    if (!is_spice_identifier(value) && !try_parse_double(value))
      throw lowering_error(fmt::format("template value {}='{}' is neither an identifier nor a number", key, sanitized(value)));
  std::string text = snippet.render(values);
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string l = text.substr(start, end - start);
    start = end + 1;
    auto first = l.find_first_not_of(" \t");
    if (first != std::string::npos && l[first] != '*' && l[first] != '.') element_name(l.substr(first, l.find_first_of(" \t", first) - first), l[first]);
    line(std::move(l));
  }
}

void netlist_writer::card(std::string_view dot_card) {
  if (dot_card.empty() || dot_card.front() != '.' || dot_card.find_first_of("\n\r") != std::string_view::npos ||
      dot_card.starts_with(".control") || dot_card.starts_with(".endc") || dot_card.starts_with(".end"))
    throw lowering_error(fmt::format("'{}' is not a single analysis/option card", sanitized(dot_card)));
  line(std::string(dot_card));
}

std::string netlist_writer::text() const {
  std::string out;
  for (const auto& l : lines_) {
    out += l;
    out += '\n';
  }
  out += ".end\n";
  return out;
}

void netlist_writer::simulator_options(const std::vector<std::pair<std::string, double>>& options) {
  if (options.empty()) return;
  std::string text = ".options";
  for (const auto& [name, value] : options) {
    if (!is_spice_identifier(name)) throw lowering_error(fmt::format("simulator option name '{}' is not an identifier", name));
    text += fmt::format(" {}={}", name, spice_number(value));
  }
  card(text);
}

void netlist_writer::closing_cards(const std::vector<std::pair<std::string, double>>& options, bool operating_point) {
  if (!options.empty()) {
    blank_line();
    simulator_options(options);
  }
  if (operating_point) {
    blank_line();
    card(".op");
  }
}

std::vector<std::pair<std::string, double>> precise_simulator_options() {
  return {{"reltol", 1e-9}, {"vntol", 1e-12}, {"abstol", 1e-15}};
}

}  // namespace spicenn::compiler
