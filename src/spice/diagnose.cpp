#include "spice/diagnose.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "core/numbers.hpp"
#include "core/text.hpp"
#include "spice/errors.hpp"

namespace spicenn::spice {

namespace {

bool icontains(std::string_view text, std::string_view needle) {
  return to_lower(text).find(to_lower(needle)) != std::string::npos;
}

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && to_lower(text.substr(0, prefix.size())) == to_lower(prefix);
}

std::string first_token(std::string_view line) {
  line = trim(line);
  auto end = line.find_first_of(" \t");
  return to_lower(line.substr(0, end));
}

// Lowercase, whitespace runs collapsed to one blank.
std::string normalize(std::string_view line) {
  std::string out;
  bool blank = false;
  for (char c : trim(line)) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      blank = true;
      continue;
    }
    if (blank && !out.empty()) out += ' ';
    blank = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

std::size_t parse_leading_number(std::string_view text) {
  text = trim(text);
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc{} ? value : 0;
}

std::string strip_error_prefix(std::string_view text) {
  text = trim(text);
  for (std::string_view prefix : {"Error:", "ERROR:", "error:"}) {
    if (text.substr(0, prefix.size()) == prefix) return std::string(trim(text.substr(prefix.size())));
  }
  return std::string(text);
}

// What ngspice said about where a load failed.
struct location {
  std::size_t ngspice_line = 0;
  std::string quoted;   // ngspice's (lowercased, substituted) copy of the line
  std::string message;  // the complaint about it
  std::string cause;    // what ngspice printed just before, if anything
  std::string mentioned;  // a word of the line (an include file name), if that is all we have
  bool precise = false; // from "Error on line N or its substitute"
};

location find_location(const std::vector<output_line>& out) {
  location best;
  bool found = false;
  auto next_text = [&](std::size_t i) -> std::string {
    return i + 1 < out.size() ? std::string(trim(out[i + 1].text)) : std::string{};
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::string& t = out[i].text;
    if (!out[i].is_stderr) continue;
    if (istarts_with(t, "Error on line ")) {
      location here;
      // The cause is often printed just before: "Error: no such function 'frob'",
      // "PTerror: syntax error, parsing stopped at".
      for (std::size_t j = i; j-- > 0 && out[j].is_stderr;) {
        std::string_view c = trim(out[j].text);
        if (istarts_with(c, "PTerror:") || istarts_with(c, "Error:")) {
          here.cause = istarts_with(c, "PTerror:") ? std::string(trim(c.substr(8))) : strip_error_prefix(c);
          break;
        }
      }
      here.ngspice_line = parse_leading_number(std::string_view(t).substr(14));
      here.quoted = next_text(i);
      if (i + 2 < out.size()) here.message = std::string(trim(out[i + 2].text));
      here.precise = true;
      return here;
    }
    if (found) continue;
    if (istarts_with(t, "Netlist line no. ")) {
      best.ngspice_line = parse_leading_number(std::string_view(t).substr(17));
      best.message = next_text(i);
      found = true;
    } else if (istarts_with(t, "Error: unknown subckt: ")) {
      best.quoted = std::string(trim(std::string_view(t).substr(23)));
      best.message = "unknown subcircuit in '" + best.quoted + "'";
      found = true;
    } else if (istarts_with(t, "warning, can't find model")) {
      best.quoted = next_text(i);
      std::string m(trim(t));
      if (auto pos = m.find(" from line"); pos != std::string::npos) m.erase(pos);
      best.message = m;
      found = true;
    } else if (istarts_with(t, "Error: Could not find include file ")) {
      best.message = std::string(trim(std::string_view(t).substr(7)));
      best.mentioned = std::string(trim(std::string_view(t).substr(35)));
      found = true;
    } else if (istarts_with(t, "Check line ")) {
      best.quoted = std::string(trim(std::string_view(t).substr(11)));
      found = true;
    }
  }
  return best;
}

bool is_gmin_chatter(std::string_view t) {
  t = trim(t);
  if (istarts_with(t, "Trying gmin") || istarts_with(t, "Supplies reduced") || istarts_with(t, "Note:")) {
    // "Trying gmin = ... Warning: singular matrix: check node x" is worth keeping.
    return !icontains(t, "singular");
  }
  return istarts_with(t, "Warning:") && (icontains(t, "gmin") || icontains(t, "source stepping failed"));
}

std::vector<std::string> stderr_lines(const std::vector<output_line>& out, std::size_t max_lines) {
  std::vector<std::string> lines;
  std::set<std::string> seen;
  for (const auto& l : out) {
    if (!l.is_stderr) continue;
    std::string t(trim(l.text));
    if (t.empty() || !seen.insert(t).second) continue;
    if (lines.size() == max_lines) {
      lines.push_back("...");
      break;
    }
    lines.push_back(std::move(t));
  }
  return lines;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

// What ngspice blames: "check node x", else "trouble with <model>-instance
// x", else the first row of the "Last Node Voltages" table marked '*' (not
// converged), else the first row holding nan.
std::string blamed_node(const std::vector<output_line>& out) {
  for (const auto& l : out) {
    auto pos = to_lower(l.text).find("check node ");
    if (pos != std::string::npos) return first_token(std::string_view(l.text).substr(pos + 11));
  }
  for (const auto& l : out) {
    auto pos = to_lower(l.text).find("trouble with ");
    if (pos == std::string::npos) continue;
    std::string_view rest = trim(std::string_view(l.text).substr(pos + 13));
    std::string what = first_token(rest);
    if (what.size() > 9 && what.compare(what.size() - 9, 9, "-instance") == 0) {
      rest = trim(rest.substr(std::min(rest.size(), rest.find_first_of(" \t"))));
      what = first_token(rest);
    }
    while (!what.empty() && std::strchr(",.:;", what.back())) what.pop_back();
    return what;
  }
  std::string nan_row;
  bool in_table = false;
  for (const auto& l : out) {
    std::string_view t = trim(l.text);
    if (istarts_with(t, "Last Node Voltages")) in_table = true;
    if (!in_table || t.empty() || t.front() == '-' || istarts_with(t, "Node") || istarts_with(t, "Last")) continue;
    if (t.size() > 2 && t.back() == '*') return first_token(t);
    if (nan_row.empty() && to_lower(t).find("nan") != std::string::npos) nan_row = first_token(t);
  }
  return nan_row;
}

struct resolved_line {
  std::size_t number = 0;
  std::string text;
};

resolved_line resolve(const std::vector<std::string>& deck, const location& where) {
  resolved_line r;
  r.number = locate_netlist_line(deck, where.ngspice_line, where.quoted);
  if (!r.number && !where.mentioned.empty()) {
    for (std::size_t n = 1; n <= deck.size() && !r.number; ++n)
      if (deck[n - 1].find(where.mentioned) != std::string::npos) r.number = n;
  }
  if (r.number) r.text = std::string(trim(deck[r.number - 1]));
  else r.text = where.quoted;
  return r;
}

}  // namespace

std::size_t locate_netlist_line(const std::vector<std::string>& deck, std::size_t ngspice_line_number,
                                std::string_view quoted) {
  const std::string quoted_norm = normalize(quoted);
  std::string quoted_name = first_token(quoted);
  // Devices inside subcircuit instances are quoted as "d.x1.d1": the deck has "d1".
  std::string quoted_leaf = quoted_name;
  if (auto dot = quoted_leaf.rfind('.'); dot != std::string::npos && dot > 0 && dot + 1 < quoted_leaf.size())
    quoted_leaf = quoted_leaf.substr(dot + 1);
  auto name_matches = [&](std::size_t n) {
    std::string name = first_token(deck[n - 1]);
    return name == quoted_name || name == quoted_leaf;
  };
  const bool in_range = ngspice_line_number >= 1 && ngspice_line_number <= deck.size();
  if (quoted_norm.empty()) return in_range ? ngspice_line_number : 0;
  if (in_range && name_matches(ngspice_line_number)) return ngspice_line_number;
  for (std::size_t n = 1; n <= deck.size(); ++n) {
    if (normalize(deck[n - 1]) == quoted_norm) return n;
  }
  // Device names are unique: a single line starting with the quoted name.
  if (!quoted_name.empty() && quoted_name.front() != '.') {
    std::size_t hit = 0, count = 0;
    for (std::size_t n = 1; n <= deck.size(); ++n) {
      if (name_matches(n)) {
        hit = n;
        ++count;
      }
    }
    if (count == 1) return hit;
  }
  return 0;
}

std::string relevant_messages(const std::vector<output_line>& output, std::size_t max_lines) {
  std::vector<std::string> lines;
  std::set<std::string> seen;
  for (const auto& l : output) {
    std::string t(trim(l.text));
    if (t.empty()) continue;
    if (istarts_with(t, "Trying gmin")) {
      auto w = t.find("Warning:");
      t = w == std::string::npos ? std::string{} : t.substr(w);
      if (t.empty() || is_gmin_chatter(t)) continue;
    }
    bool keep = l.is_stderr ? !is_gmin_chatter(t)
                            : (icontains(t, "solution failed") || istarts_with(t, "Error") ||
                               icontains(t, "aborted"));
    if (!keep || !seen.insert(t).second) continue;
    if (lines.size() == max_lines) {
      lines.push_back("...");
      break;
    }
    lines.push_back(std::move(t));
  }
  return join(lines);
}

void check_load_output(const std::vector<output_line>& output, const std::vector<std::string>& deck) {
  const output_line* first_error = nullptr;
  for (const auto& l : output) {
    if (l.is_stderr && icontains(l.text, "error")) {
      first_error = &l;
      break;
    }
  }
  if (!first_error) return;
  location where = find_location(output);
  resolved_line line = resolve(deck, where);
  std::string what = where.message.empty() ? strip_error_prefix(first_error->text) : where.message;
  if (!where.cause.empty()) what = fmt::format("{} ({})", where.cause, what);
  std::string summary = line.number ? fmt::format("ngspice rejected the netlist at line {}: {}", line.number, what)
                                    : fmt::format("ngspice rejected the netlist: {}", what);
  throw netlist_error(summary, join(stderr_lines(output, 20)), line.number, line.text);
}

void check_command_output(std::string_view command, command_kind kind, const std::vector<output_line>& output) {
  bool aborted = false, timestep = false, converge_words = false;
  const output_line* first_error = nullptr;
  for (const auto& l : output) {
    const std::string t = to_lower(l.text);
    if (t.find("timestep too small") != std::string::npos) timestep = true;
    if (t.find("simulation(s) aborted") != std::string::npos || t.find("solution failed") != std::string::npos ||
        t.find("doanalyses:") != std::string::npos)
      aborted = true;
    for (std::string_view w : {"convergence", "iteration limit", "singular matrix", "gmin", "source stepping"}) {
      if (t.find(w) != std::string::npos) converge_words = true;
    }
    if (!first_error && l.is_stderr &&
        (t.find("error") != std::string::npos || t.find("no such command") != std::string::npos ||
         t.find("aborted") != std::string::npos))
      first_error = &l;
  }
  const std::string cmd(command);
  if (timestep) {
    std::string node = blamed_node(output);
    throw timestep_error(cmd,
                         fmt::format("'{}' failed: timestep too small (ngspice gave up converging{})", cmd,
                                     node.empty() ? std::string{} : ", check node " + node),
                         relevant_messages(output), node);
  }
  if (aborted && (kind == command_kind::analysis) && converge_words) {
    std::string node = blamed_node(output);
    throw convergence_error(cmd,
                            fmt::format("'{}' did not converge{}", cmd,
                                        node.empty() ? std::string{} : " (check node " + node + ")"),
                            relevant_messages(output), node);
  }
  if (aborted || first_error) {
    std::string what = first_error ? strip_error_prefix(first_error->text) : std::string("simulation aborted");
    throw command_error(cmd, fmt::format("ngspice rejected '{}': {}", cmd, what), relevant_messages(output));
  }
}

void throw_fatal(std::string_view command, const std::vector<output_line>& output,
                 const std::vector<std::string>* deck, std::string_view extra) {
  location where_said = find_location(output);
  std::string first = where_said.message;
  for (const auto& l : output) {
    if (!first.empty()) break;
    if (l.is_stderr && !trim(l.text).empty() && !icontains(l.text, "cannot recover") &&
        !icontains(l.text, "Please check your input") && !istarts_with(l.text, "Netlist line no."))
      first = strip_error_prefix(l.text);
  }
  resolved_line line;
  if (deck) line = resolve(*deck, where_said);
  std::string where = deck ? "while loading the netlist" : fmt::format("during '{}'", command);
  if (line.number) where += fmt::format(" (line {})", line.number);
  std::string summary = fmt::format("ngspice hit a fatal error {}{}{}; {}", where, first.empty() ? "" : ": ", first,
                                    extra);
  throw engine_fatal_error(std::string(command), summary, join(stderr_lines(output, 20)), line.number, line.text);
}

}  // namespace spicenn::spice
